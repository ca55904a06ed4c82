"""``freshpoc stack`` verbs: up, down, status, logs, reset.

``up`` is safe to repeat: it builds only what is missing, starts only what is stopped, and
restarts only programs whose configuration changed (for example a different checkout).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

from freshpoc_tasks.stack import build
from freshpoc_tasks.stack.config import StackConfig
from freshpoc_tasks.stack.services import Service, all_services, tcp_open
from freshpoc_tasks.stack.supervisor import Supervisor, log_files


class StackError(RuntimeError):
    """A failure the user can act on; the message says what and where to look."""


@dataclass
class Row:
    service: str
    version: str
    port: int
    state: str
    detail: str
    log: str
    health: str = ""  # the server's own health endpoint (or command), as an operator asks it


# Start order of the default profile: each group waits for the groups before it to be healthy.
START_GROUPS = [["postgres"], ["kafka", "dgraph", "minio", "weaviate", "statsd_exporter",
                               "postgres_exporter", "prometheus"], ["airflow"]]


class Stack:
    def __init__(self, cfg: StackConfig | None = None, only: list[str] | None = None,
                 profile: str = "default") -> None:
        """``profile`` 'cluster' is the scaled-out topology of stack/cluster.py, with its own
        state folder, ports and supervisord; ``cfg``, when given, is that profile's own."""
        self.profile = profile
        if profile == "cluster":
            from freshpoc_tasks.stack import cluster

            self.cfg = cfg or cluster.cluster_config()
            self.services = cluster.cluster_services(self.cfg)
            self.groups = cluster.START_GROUPS
            self.settings_file = cluster.settings_file(self.cfg)
        elif profile == "default":
            self.cfg = cfg or StackConfig.from_env()
            self.services = all_services(self.cfg)
            self.groups = START_GROUPS
            self.settings_file = self.cfg.checkout / "airflow_settings.yaml"
        else:
            raise StackError(f"unknown profile {profile!r}; profiles are: default, cluster")
        self.sup = Supervisor(self.cfg)
        # ``up`` may start a subset; the supervisord configuration always names every program
        # so that starting a subset never unloads the others.
        self.selected = [self.service(n) for n in only] if only else list(self.services)

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name or any(p.name == name for p in svc.programs):
                return svc
        names = ", ".join(s.name for s in self.services)
        raise StackError(f"unknown service {name!r}; services are: {names}")

    # up ---------------------------------------------------------------------------------------
    def check_ports(self) -> None:
        """Refuse to start a service whose port is held by something that is not ours."""
        states = self.sup.states()
        for svc in self.selected:
            if all(states.get(p.name) == "RUNNING" for p in svc.programs):
                continue
            for port in svc.ports:
                if tcp_open(port):
                    owner = _port_owner(port)
                    raise StackError(
                        f"port {port} needed by {svc.name} is already taken"
                        + (f" by {owner}" if owner else "")
                        + "; stop it or choose another port (FRESHPOC_PORT_* variables)"
                    )

    def up(self) -> list[Row]:
        start = time.monotonic()
        self.check_ports()
        for d in (self.cfg.cache_dir, self.cfg.state_dir, self.cfg.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        for svc in self.selected:
            svc.prepare()
        if self.service("airflow") in self.selected:
            self.install_assets()
        changed = self.sup.write(self.services)
        if not self.sup.running():
            self.sup.start_daemon()
        elif changed:
            self.sup.update()
        # Groups start together; each waits for the groups before it to be healthy.
        for group in self.groups:
            svcs = [self.service(n) for n in group if self.service(n) in self.selected]
            for svc in svcs:
                svc.before_start()
                self._start(svc)
            for svc in svcs:
                self._wait_healthy(svc)
                svc.bootstrap()
        print(f"==> stack healthy in {time.monotonic() - start:.0f}s", flush=True)
        return self.status()

    def install_assets(self) -> None:
        """Everything tasks and the served pages read at run time (the embedding model, the
        Mermaid bundle), before Airflow starts: a page served right after ``up`` is complete."""
        from freshpoc_tasks.search.model import ModelUnavailableError
        from freshpoc_tasks.stack.assets import install_assets

        try:
            for name, path in install_assets(self.cfg).items():
                print(f"==> {name}: {path}", flush=True)
        except (ModelUnavailableError, RuntimeError, OSError) as exc:
            raise StackError(str(exc)) from exc

    def _start(self, svc: Service) -> None:
        states = self.sup.states()
        for prog in svc.programs:
            if states.get(prog.name) == "RUNNING":
                continue
            res = self.sup.start(prog.name)
            if res.returncode != 0 and "already started" not in res.stdout:
                raise StackError(
                    f"{svc.name}: supervisord could not start {prog.name}: {res.stdout.strip()}; "
                    f"see {self.cfg.log_dir / (prog.name + '.log')}"
                )

    def _wait_healthy(self, svc: Service) -> None:
        deadline = time.monotonic() + svc.health_timeout
        detail = ""
        while time.monotonic() < deadline:
            ok, detail = svc.health()
            if ok:
                return
            states = self.sup.states()
            dead = [p.name for p in svc.programs if states.get(p.name) in {"FATAL", "EXITED", "BACKOFF"}]
            if dead and all(states.get(n) == "FATAL" for n in dead):
                break
            time.sleep(1)
        logs = ", ".join(str(p) for p in log_files(self.cfg, svc))
        raise StackError(f"{svc.name} did not become healthy ({detail}); see {logs}")

    # down / reset -----------------------------------------------------------------------------
    def down(self) -> None:
        if not self.sup.running():
            print("stack is not running")
            return
        print("==> stopping the stack", flush=True)
        states = self.sup.states()
        running = [s for s in self.services if any(states.get(p.name) == "RUNNING" for p in s.programs)]
        if not self.sup.shutdown():
            raise StackError(f"supervisord did not stop; see {self.cfg.log_dir / 'supervisord.log'}")
        held = [f"{s.name}:{p}" for s in running for p in s.ports if tcp_open(p)]
        if held:
            raise StackError("stopped, but ports are still held: " + ", ".join(held))
        print("    stopped; no server process left")

    def reset(self, yes: bool) -> None:
        if not yes:
            if not sys.stdin.isatty():
                raise StackError("reset deletes all stack data; pass --yes to confirm")
            answer = input(f"Delete all stack data in {self.cfg.state_dir}? [y/N] ")
            if answer.strip().lower() not in {"y", "yes"}:
                print("nothing deleted")
                return
        self.down()
        shutil.rmtree(self.cfg.state_dir, ignore_errors=True)
        print(f"deleted {self.cfg.state_dir} (build cache kept in {self.cfg.cache_dir})")

    # status / logs ----------------------------------------------------------------------------
    def status(self) -> list[Row]:
        states = self.sup.states()
        rows = []
        for svc in self.services:
            progs = [states.get(p.name, "STOPPED") for p in svc.programs]
            if all(s == "RUNNING" for s in progs):
                ok, detail = svc.health()
                state = "healthy" if ok else "unhealthy"
            else:
                state = "/".join(sorted(set(progs))).lower()
                detail = ""
            rows.append(Row(svc.name, svc.version, svc.port, state, detail,
                            str(svc.log_path(self.cfg)), svc.health_endpoint))
        return rows

    def logs(self, name: str | None, lines: int, follow: bool) -> int:
        files = log_files(self.cfg, self.service(name)) if name else [
            f for s in self.services for f in log_files(self.cfg, s)]
        files = [f for f in files if f.exists()]
        if not files:
            print("no logs yet")
            return 1
        cmd = ["tail", "-n", str(lines), *(["-F"] if follow else []), *map(str, files)]
        return subprocess.call(cmd)


def _port_owner(port: int) -> str:
    """Best-effort name of the process listening on a port (needs ss from iproute2)."""
    if shutil.which("ss") is None:
        return ""
    out = subprocess.run(["ss", "-Hltnup", f"sport = :{port}"], capture_output=True, text=True,
                         check=False).stdout
    for line in out.splitlines():
        if "users:((" in line:
            return line.split("users:((", 1)[1].split(")", 1)[0]
    return ""


def format_table(rows: list[Row]) -> str:
    head = ("SERVICE", "VERSION", "PORT", "STATE", "HEALTH", "LOG")
    data = [(r.service, r.version, str(r.port), r.state + (f" ({r.detail})" if r.detail and
             r.state != "healthy" else ""), r.health or "-", r.log) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *data, strict=False)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
             for row in (head, *data)]
    return "\n".join(lines)


__all__ = ["Stack", "StackError", "build", "format_table"]
