"""The stack command's promises: status table, port clashes, reset confirmation, clean down."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from freshpoc_tasks.stack.config import StackConfig
from freshpoc_tasks.stack.manager import Stack, StackError
from freshpoc_tasks.stack.services import tcp_open


def freshpoc(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "freshpoc_tasks.cli.main", *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          input=stdin, timeout=600)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_status_table_lists_every_service_healthy(stack):
    res = freshpoc("stack", "status")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["SERVICE", "VERSION", "PORT", "STATE", "HEALTH", "LOG"]
    services = {line.split()[0]: line.split()[3] for line in lines[1:]}
    assert services == {name: "healthy" for name in (
        "postgres", "kafka", "dgraph", "minio", "weaviate", "statsd_exporter", "postgres_exporter",
        "prometheus", "airflow")}
    # Each HTTP health endpoint the table names answers 200 when asked by hand.
    start, end = lines[0].index("HEALTH"), lines[0].index("LOG")
    urls = [line[start:end].strip() for line in lines[1:]]
    http = [u for u in urls if u.startswith("http://")]
    assert len(http) == 7, urls
    for url in http:
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200, url


# Weaviate 1.39 listens on ":<port>" for gRPC and for its cluster data port, with no setting
# to choose the address (adapters/handlers/grpc/server.go); everything else must be loopback.
UNRESTRICTABLE = {("weaviate", "weaviate_grpc"), ("weaviate", "weaviate_data")}


def stack_pids(root: int | None) -> set[int]:
    """``root`` (supervisord) and every process below it, from /proc's parent links."""
    assert root is not None, "the stack's supervisord is not running"
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        ppid = int(text.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def test_every_server_listens_on_loopback_only(stack):
    # TCP listeners, plus the UDP socket bound to statsd's port (clients' UDP sockets are not
    # listeners and are left out).
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    udp = subprocess.run(["ss", "-Hlunp", f"sport = :{stack.cfg.ports['statsd_udp']}"],
                         capture_output=True, text=True, check=True).stdout
    assert udp.strip(), "statsd_exporter's UDP socket is missing"
    out += udp
    allowed = {stack.cfg.ports[name] for _svc, name in UNRESTRICTABLE}
    ours = {port for svc in stack.services for port in svc.ports} - allowed
    loopback = {"127.0.0.1", "[::1]", "[::ffff:127.0.0.1]"}
    exposed = []
    for line in out.splitlines():
        local = line.split()[3]
        host, _, port = local.rpartition(":")
        if int(port) in ours and host not in loopback:
            exposed.append(line)
    # Processes of the stack listening on a port outside the table are caught too: the stack's
    # processes are supervisord's descendants (a private server a benchmark or another test runs
    # beside the suite is not the stack, and its own ports are its own).
    ours_pids = stack_pids(stack.sup.pid())
    stray = [line for line in out.splitlines()
             if any(name in line for name in ('"airflow', '"weaviate', '"dgraph', '"minio', '"java'))
             and {int(p) for p in re.findall(r"pid=(\d+)", line)} & ours_pids
             and line.split()[3].rpartition(":")[0] not in loopback
             and int(line.split()[3].rpartition(":")[2]) not in allowed]
    assert exposed == []
    assert stray == []


def test_up_names_service_and_port_when_a_port_is_taken(stack, tmp_path):
    # A second stack (other state folder) wants PostgreSQL's port, which the running stack holds.
    env = {"FRESHPOC_STATE_DIR": str(tmp_path / "state")}
    res = freshpoc("stack", "up", "postgres", env=env)
    assert res.returncode == 1
    port = stack.cfg.ports["postgres"]
    assert f"port {port} needed by postgres is already taken" in res.stderr


def test_reset_refuses_without_confirmation(tmp_path):
    state = tmp_path / "state"
    (state / "kept").mkdir(parents=True)
    res = freshpoc("stack", "reset", env={"FRESHPOC_STATE_DIR": str(state)}, stdin="")
    assert res.returncode == 1
    assert "pass --yes" in res.stderr
    assert (state / "kept").is_dir()


def test_failed_build_prints_its_log(tmp_path):
    from freshpoc_tasks.stack import build

    cfg = StackConfig(cache_dir=tmp_path / "cache", state_dir=tmp_path / "state",
                      checkout=StackConfig.from_env().checkout, venv=StackConfig.from_env().venv)
    with pytest.raises(build.BuildError) as err:
        build.go_install(cfg, "statsd_exporter", "github.com/prometheus/statsd_exporter",
                         "v0.0.0-freshpoc-no-such-version", "statsd_exporter")
    log = cfg.build_logs / "statsd_exporter-v0.0.0-freshpoc-no-such-version.log"
    assert str(log) in str(err.value)
    assert log.read_text().strip()
    assert not (cfg.bin_dir / "statsd_exporter-v0.0.0-freshpoc-no-such-version").exists()


def test_a_second_stack_comes_up_and_down_leaves_no_process(stack, tmp_path):
    """statsd_exporter alone, in its own state folder and ports: up, healthy, down, gone."""
    cfg = StackConfig.from_env().with_overrides(
        state_dir=tmp_path / "state",
        ports={"statsd_http": free_port(), "statsd_udp": free_port()})
    mini = Stack(cfg, only=["statsd_exporter"])
    rows = {r.service: r.state for r in mini.up()}
    assert rows["statsd_exporter"] == "healthy"
    pid = mini.sup.pid()
    assert pid is not None
    mini.down()
    assert not tcp_open(cfg.ports["statsd_http"])
    assert mini.sup.pid() is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(StackError):
        Stack(cfg).service("nope")
