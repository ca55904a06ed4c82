"""The ``cluster`` profile of the local stack: the topology a team deploys, on one machine.

``freshpoc stack up --profile cluster`` runs, under its own supervisord, Airflow with the
CeleryExecutor (Redis from Debian as broker) and two Celery workers on the ``git``,
``analysis``, ``graph`` and ``default`` queues, Dgraph with three alphas in one group behind one
zero (``--replicas 3``), three combined KRaft Kafka brokers (replication factor 3,
``min.insync.replicas`` 2; the producer hook is idempotent with ``acks=all``), and its own
PostgreSQL, MinIO and Weaviate. It reuses the default profile's definitions (services.py) for
every server it runs once, with a configuration of its own: state in
``$FRESHPOC_CLUSTER_STATE_DIR`` (default: the default state folder's sibling
``freshpoc-cluster``) and ports of the 1xxxx range (``FRESHPOC_CLUSTER_PORT_<NAME>``), so it
never touches the default stack and both can run at once. Binaries come from the same cache.

Every worker listens on every queue: a lost worker's task is retried on the other (issue 18's
drill). Metrics exporters and Prometheus are not part of this profile (no statsd is sent).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import yaml

from freshpoc_tasks.stack import build
from freshpoc_tasks.stack.config import DEFAULT_PORTS, PG_ROLES, StackConfig, _default_state_dir
from freshpoc_tasks.stack.services import (
    KAFKA_TOPICS,
    LOG4J2,
    Program,
    Service,
    _secrets,
    airflow,
    http_get,
    minio,
    postgres,
    tcp_open,
    weaviate,
)

BROKERS = 3
ALPHAS = 3
WORKERS = 2
# Every worker takes every queue (groups.STAGE_ROLES' roles plus Airflow's default queue), so
# the loss of one worker never leaves a queue without a consumer.
QUEUES = ("git", "analysis", "graph", "default")
WORKER_CONCURRENCY = 2  # two cores: two task slots per worker, four in all
REPLICATION = {"replication.factor": 3, "min.insync.replicas": 2}


def _cluster_ports() -> dict[str, int]:
    """The default profile's ports moved to 1xxxx (the compose profile's ranges), plus the
    ports only the cluster has: Redis, brokers and controllers 2-3, alphas 2-3."""
    ports = {name: port + 10000 for name, port in DEFAULT_PORTS.items()}
    ports["weaviate_grpc"] = 60051  # 50051 + 10000
    ports["redis"] = 16379
    for i in range(1, BROKERS + 1):
        ports[f"kafka_{i}"] = 19091 + i            # 19092, 19093, 19094
        ports[f"kafka_controller_{i}"] = 19191 + i  # 19192, 19193, 19194
    for i in range(1, ALPHAS + 1):
        # An alpha's --port_offset moves its three ports together (7080/8080/9080 + offset).
        ports[f"dgraph_alpha_offset_{i}"] = 10001 + i
    for name in ("kafka", "kafka_controller", "kafka_metrics", "dgraph_http", "dgraph_grpc",
                 "dgraph_internal", "statsd_http", "prometheus", "postgres_exporter"):
        # Per-broker and per-alpha ports instead; no exporters (statsd_udp: named, unused).
        ports.pop(name)
    return ports


CLUSTER_PORTS = _cluster_ports()


def alpha_ports(cfg: StackConfig, i: int) -> dict[str, int]:
    offset = cfg.ports[f"dgraph_alpha_offset_{i}"]
    return {"internal": 7080 + offset, "http": 8080 + offset, "grpc": 9080 + offset}


def cluster_config(base: StackConfig | None = None) -> StackConfig:
    """The cluster profile's configuration: the default one's cache, checkout and versions, its
    own state folder and ports (each port overridable with ``FRESHPOC_CLUSTER_PORT_<NAME>``)."""
    base = base or StackConfig.from_env()
    env = os.environ
    state = env.get("FRESHPOC_CLUSTER_STATE_DIR")
    if state:
        state_dir = Path(state)
    else:
        default = Path(env.get("FRESHPOC_STATE_DIR", _default_state_dir()))
        state_dir = default.with_name(default.name + "-cluster")
    ports = {name: int(env.get(f"FRESHPOC_CLUSTER_PORT_{name.upper()}", port))
             for name, port in CLUSTER_PORTS.items()}
    cfg = base.with_overrides(state_dir=state_dir)
    # Replace, not merge: the default profile's ports must not leak into this one.
    return StackConfig(cache_dir=cfg.cache_dir, state_dir=cfg.state_dir, checkout=cfg.checkout,
                       venv=cfg.venv, versions=dict(cfg.versions), ports=ports)


def broker_addresses(cfg: StackConfig) -> str:
    return ",".join(f"127.0.0.1:{cfg.ports[f'kafka_{i}']}" for i in range(1, BROKERS + 1))


def alpha_addresses(cfg: StackConfig) -> str:
    return ",".join(f"127.0.0.1:{alpha_ports(cfg, i)['grpc']}" for i in range(1, ALPHAS + 1))


# Connections ---------------------------------------------------------------------------------
def _port_map(cfg: StackConfig) -> dict[int, int]:
    """Default-profile port -> this profile's, for the servers both run once."""
    same = {name: cfg.ports[name] for name in DEFAULT_PORTS if name in cfg.ports}
    moved = {DEFAULT_PORTS[name]: port for name, port in same.items()}
    moved[DEFAULT_PORTS["kafka"]] = cfg.ports["kafka_1"]
    moved[DEFAULT_PORTS["dgraph_grpc"]] = alpha_ports(cfg, 1)["grpc"]
    moved[DEFAULT_PORTS["dgraph_http"]] = alpha_ports(cfg, 1)["http"]
    return moved


def _remap(value: Any, moved: dict[int, int]) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return moved.get(value, value)
    if isinstance(value, str):
        return re.sub(r"(127\.0\.0\.1|localhost):(\d+)",
                      lambda m: f"{m.group(1)}:{moved.get(int(m.group(2)), int(m.group(2)))}",
                      value)
    if isinstance(value, dict):
        return {k: _remap(v, moved) for k, v in value.items()}
    if isinstance(value, list):
        return [_remap(v, moved) for v in value]
    return value


def cluster_settings(cfg: StackConfig) -> dict[str, Any]:
    """The checkout's airflow_settings.yaml for this profile: the same connections, pools and
    variables, every port moved to the cluster's, and every broker and alpha listed (Kafka's
    ``bootstrap.servers``, Dgraph's ``alphas`` extra), so no client depends on one node."""
    doc = yaml.safe_load((cfg.checkout / "airflow_settings.yaml").read_text()) or {}
    moved = _port_map(cfg)
    section = doc.setdefault("airflow", {})
    conns = []
    for conn in section.get("connections") or []:
        conn = _remap(conn, moved)
        extra = conn.get("conn_extra")
        if conn.get("conn_type") == "kafka" and isinstance(extra, dict):
            extra["bootstrap.servers"] = broker_addresses(cfg)
        if conn.get("conn_type") == "dgraph":
            conn["conn_extra"] = {**(extra or {}), "alphas": alpha_addresses(cfg)}
        conn["conn_description"] = (conn.get("conn_description") or "") + " [cluster profile]"
        conns.append(conn)
    section["connections"] = conns
    return doc


def settings_file(cfg: StackConfig) -> Path:
    """Written by ``prepare`` of Airflow (and by :func:`use_cluster`); applied by ``stack up``."""
    path = cfg.state_dir / "airflow_settings.yaml"
    text = ("# Written by `freshpoc stack up --profile cluster` from the checkout's "
            "airflow_settings.yaml (freshpoc_tasks/stack/cluster.py); edits are overwritten.\n"
            + yaml.safe_dump(cluster_settings(cfg), sort_keys=False))
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def connection_env(cfg: StackConfig) -> dict[str, str]:
    from freshpoc_tasks.stack.settings import connection_env as from_file

    return from_file(settings_file(cfg))


def use_cluster(cfg: StackConfig) -> dict[str, str]:
    """Point this process's hooks at the cluster profile (what ``use_local_stack`` does for the
    default one): its connections first, then the rest of the stack's client environment."""
    from freshpoc_tasks.stack.client import use_local_stack

    added = {k: v for k, v in connection_env(cfg).items() if k not in os.environ}
    os.environ.update(added)
    return {**added, **use_local_stack(cfg)}


def client_env(cfg: StackConfig) -> dict[str, str]:
    """Everything a client process needs to reach this profile and nothing of the default one:
    the cluster's Airflow configuration (metadata database, home: what the ``airflow`` CLI, such
    as ``airflow backfill create``, writes to), its connections, and ``FRESHPOC_PORT_<NAME>``
    moved to its ports, so ``StackConfig.from_env()`` users (``freshpoc dlq replay``'s Airflow
    URL) reach it too. Meant to *replace* the default profile's variables (tests/conftest.py
    sets those first). ``FRESHPOC_STATE_DIR`` becomes this profile's folder (as in its Airflow
    processes), so ``FRESHPOC_CLUSTER_STATE_DIR`` is set too: :func:`cluster_config` would
    otherwise derive ``<folder>-cluster`` from it. Such a process must not start or stop a
    default-profile ``Stack()``: it would name this profile's folder and ports."""
    from freshpoc_tasks.stack.services import client_env as base_client_env

    env = dict(base_client_env(cfg))
    env.update(celery_env(cfg))  # the cluster's executor, broker and connections
    env.update(port_env(cfg))
    env["FRESHPOC_STATE_DIR"] = env["FRESHPOC_CLUSTER_STATE_DIR"] = str(cfg.state_dir)
    return env


def port_env(cfg: StackConfig) -> dict[str, str]:
    """``FRESHPOC_PORT_<NAME>`` for every default-profile port, moved to this profile's: what
    ``StackConfig.from_env()`` reads, in a client of this profile and in its own Airflow
    processes (task code asking for the stack's ports must not reach the default profile)."""
    moved = _port_map(cfg)
    moved[DEFAULT_PORTS["dgraph_internal"]] = alpha_ports(cfg, 1)["internal"]
    moved[DEFAULT_PORTS["kafka_controller"]] = cfg.ports["kafka_controller_1"]
    # Exporters have no counterpart here: their 1xxxx port, where nothing listens.
    return {f"FRESHPOC_PORT_{name.upper()}": str(moved.get(port, port + 10000))
            for name, port in DEFAULT_PORTS.items()}


# Redis (Celery's broker) ---------------------------------------------------------------------
REDIS = Path("/usr/bin/redis-server")


def redis_ping(port: int) -> tuple[bool, str]:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            answer = sock.recv(64)
    except OSError as exc:
        return False, str(exc)[:80]
    return answer.startswith(b"+PONG"), answer.decode(errors="replace").strip()[:80]


def redis(cfg: StackConfig) -> Service:
    port = cfg.ports["redis"]
    home = cfg.data("redis")

    def prepare() -> None:
        build.redis_bin(cfg)
        home.mkdir(parents=True, exist_ok=True)

    version = "debian"
    if REDIS.exists():
        out = subprocess.run([str(REDIS), "--version"], capture_output=True, text=True,
                             check=False).stdout
        version = next((w[2:] for w in out.split() if w.startswith("v=")), version)
    program = Program(
        name="redis",
        # Append-only file: queued task messages survive a broker restart.
        command=[str(REDIS), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(home),
                 "--appendonly", "yes", "--save", "", "--protected-mode", "yes",
                 "--daemonize", "no", "--loglevel", "warning"],
        directory=home,
    )
    return Service("redis", version, port, [port], [program], lambda: redis_ping(port), prepare,
                   health_endpoint=f"redis PING 127.0.0.1:{port}")


# Kafka: three combined broker+controller KRaft nodes ------------------------------------------
def kafka_properties(cfg: StackConfig, node: int) -> str:
    home = cfg.data("kafka") / f"kafka-{node}"
    port, cport = cfg.ports[f"kafka_{node}"], cfg.ports[f"kafka_controller_{node}"]
    voters = ",".join(f"{i}@127.0.0.1:{cfg.ports[f'kafka_controller_{i}']}"
                      for i in range(1, BROKERS + 1))
    rf, isr = REPLICATION["replication.factor"], REPLICATION["min.insync.replicas"]
    return "\n".join([
        "process.roles=broker,controller",
        f"node.id={node}",
        f"controller.quorum.voters={voters}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={home / 'data'}",
        "num.partitions=3",
        f"default.replication.factor={rf}",
        f"min.insync.replicas={isr}",
        "unclean.leader.election.enable=false",
        "auto.create.topics.enable=false",
        f"offsets.topic.replication.factor={rf}",
        f"transaction.state.log.replication.factor={rf}",
        f"transaction.state.log.min.isr={isr}",
        f"share.coordinator.state.topic.replication.factor={rf}",
        f"share.coordinator.state.topic.min.isr={isr}",
        "group.initial.rebalance.delay.ms=0",
        "",
    ])


def kafka_metadata(cfg: StackConfig, timeout: float = 3) -> Any:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": broker_addresses(cfg), "log_level": 3})
    return admin, admin.list_topics(timeout=timeout)


def kafka(cfg: StackConfig) -> Service:
    root = cfg.data("kafka")
    log4j = root / "log4j2.properties"
    libs = cfg.cache_dir / f"kafka-{cfg.versions['kafka']}" / "libs"
    java = shutil.which("java") or "java"

    def prepare() -> None:
        build.fetch_kafka(cfg)
        root.mkdir(parents=True, exist_ok=True)
        log4j.write_text(LOG4J2)
        cluster_id = _secrets(cfg)["kafka_cluster_id"]  # one id for the three nodes
        for i in range(1, BROKERS + 1):
            home = root / f"kafka-{i}"
            home.mkdir(parents=True, exist_ok=True)
            props = home / "server.properties"
            props.write_text(kafka_properties(cfg, i))
            if not (home / "data" / "meta.properties").exists():
                # Static voters (controller.quorum.voters): no --standalone / initial controllers.
                build.run_logged(
                    f"formatting Kafka node {i}'s KRaft storage (once)",
                    [java, "-cp", f"{libs}/*", f"-Dlog4j2.configurationFile={log4j}",
                     "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                     "-c", str(props)],
                    cfg.log_dir / "kafka-format.log",
                )

    def health() -> tuple[bool, str]:
        if not any(tcp_open(cfg.ports[f"kafka_{i}"]) for i in range(1, BROKERS + 1)):
            return False, "not listening"
        try:
            _admin, md = kafka_metadata(cfg)
        except Exception as exc:
            return False, str(exc)[:80]
        return len(md.brokers) == BROKERS, f"{len(md.brokers)}/{BROKERS} brokers"

    def bootstrap() -> None:
        from confluent_kafka.admin import NewTopic

        admin, md = kafka_metadata(cfg, timeout=10)
        rf, isr = REPLICATION["replication.factor"], REPLICATION["min.insync.replicas"]
        wanted = [NewTopic(t, num_partitions=3, replication_factor=rf,
                           config={"min.insync.replicas": str(isr)})
                  for t in KAFKA_TOPICS if t not in md.topics]
        for topic, fut in admin.create_topics(wanted).items() if wanted else []:
            try:
                fut.result(timeout=30)
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise build.BuildError(f"creating Kafka topic {topic}: {exc}") from exc

    programs = [
        Program(
            name=f"kafka-{i}",
            # Small heaps, serial GC and the C1 compiler only: three JVMs on a 2-core machine.
            command=[java, "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                     "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
                     "-cp", f"{libs}/*", "kafka.Kafka", str(root / f"kafka-{i}" / "server.properties")],
            # On `down` the last node left has no controller quorum to acknowledge its controlled
            # shutdown and waits for ever: after 20 s it is killed (60 s made `down` take 90 s).
            stopwaitsecs=20,
        )
        for i in range(1, BROKERS + 1)
    ]
    ports = [cfg.ports[f"{kind}_{i}"] for i in range(1, BROKERS + 1)
             for kind in ("kafka", "kafka_controller")]
    return Service("kafka", cfg.versions["kafka"], cfg.ports["kafka_1"], ports, programs, health,
                   prepare, bootstrap, health_timeout=180, main_program="kafka-1",
                   health_endpoint=f"kafka metadata {broker_addresses(cfg)}")


# Dgraph: one zero, three alphas in one group --------------------------------------------------
def dgraph(cfg: StackConfig) -> Service:
    version = cfg.versions["dgraph"]
    binary = cfg.bin_dir / f"dgraph-{version}"
    home = cfg.data("dgraph")
    p = cfg.ports
    telemetry = "reports=false; sentry=false;"

    def prepare() -> None:
        build.build_dgraph(cfg)
        (home / "zw").mkdir(parents=True, exist_ok=True)
        for i in range(1, ALPHAS + 1):
            for sub in ("p", "w", "t"):
                (home / f"alpha-{i}" / sub).mkdir(parents=True, exist_ok=True)

    def group_members() -> int:
        status, body = http_get(f"http://127.0.0.1:{p['dgraph_zero_http']}/state")
        if status != 200:
            return 0
        try:
            groups = json.loads(body).get("groups") or {}
        except ValueError:
            return 0
        return max((len(g.get("members") or {}) for g in groups.values()), default=0)

    def health() -> tuple[bool, str]:
        healthy = 0
        for i in range(1, ALPHAS + 1):
            status, body = http_get(f"http://127.0.0.1:{alpha_ports(cfg, i)['http']}/health")
            try:
                ok = status == 200 and all(e.get("status") == "healthy" for e in json.loads(body))
            except (ValueError, AttributeError):
                ok = False
            healthy += ok
        members = group_members()
        ok = healthy == ALPHAS and members == ALPHAS
        return ok, f"{healthy}/{ALPHAS} alphas healthy, {members} in the group"

    zero = Program(
        name="dgraph-zero",
        command=[str(binary), "zero", f"--my=127.0.0.1:{p['dgraph_zero_grpc']}",
                 "--port_offset", str(p["dgraph_zero_grpc"] - 5080), "--bindall=false",
                 "--replicas", str(ALPHAS), "--wal", str(home / "zw"), "--telemetry", telemetry],
        directory=home,
    )
    alphas = []
    for i in range(1, ALPHAS + 1):
        a, d = alpha_ports(cfg, i), home / f"alpha-{i}"
        alphas.append(Program(
            name=f"dgraph-alpha-{i}",
            command=[str(binary), "alpha", f"--my=127.0.0.1:{a['internal']}",
                     f"--zero=127.0.0.1:{p['dgraph_zero_grpc']}",
                     "--port_offset", str(p[f"dgraph_alpha_offset_{i}"]), "--bindall=false",
                     "--postings", str(d / "p"), "--wal", str(d / "w"), "--tmp", str(d / "t"),
                     "--security", "whitelist=127.0.0.1/32", "--cache", "size-mb=128",
                     "--telemetry", telemetry],
            directory=d,
            startsecs=5,
        ))
    ports = [p["dgraph_zero_grpc"], p["dgraph_zero_http"],
             *(port for i in range(1, ALPHAS + 1) for port in alpha_ports(cfg, i).values())]
    return Service("dgraph", version, alpha_ports(cfg, 1)["http"], ports, [zero, *alphas], health,
                   prepare, health_timeout=180, main_program="dgraph-alpha-1",
                   health_endpoint=f"http://127.0.0.1:{p['dgraph_zero_http']}/state")


# Airflow with the CeleryExecutor, and its workers --------------------------------------------
def celery_env(cfg: StackConfig) -> dict[str, str]:
    """What the cluster's Airflow processes add to the default profile's configuration."""
    pg = cfg.ports["postgres"]
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{cfg.ports['redis']}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND":
            f"db+postgresql://airflow:{PG_ROLES['airflow']}@127.0.0.1:{pg}/airflow",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "AIRFLOW__CORE__PARALLELISM": str(WORKERS * WORKER_CONCURRENCY),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(WORKERS * WORKER_CONCURRENCY),
        # A worker lost with its task is noticed after a minute (default five), then retried.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
        "AIRFLOW__METRICS__STATSD_ON": "False",
        **connection_env(cfg),
    }


def worker_hostname(i: int) -> str:
    return f"worker-{i}@freshpoc-cluster"


def celery_ping(cfg: StackConfig, timeout: float = 3.0) -> set[str]:
    """Hostnames of the Celery workers that answer a broadcast ping through Redis."""
    from celery import Celery

    app = Celery(broker=f"redis://127.0.0.1:{cfg.ports['redis']}/0")
    try:
        replies = app.control.ping(timeout=timeout) or []
    finally:
        app.close()
    return {name for reply in replies for name in reply}


def worker(cfg: StackConfig, i: int, env: dict[str, str]) -> Service:
    airflow_bin = str(cfg.venv_bin("airflow"))
    name = worker_hostname(i)

    def health() -> tuple[bool, str]:
        try:
            answered = celery_ping(cfg)
        except Exception as exc:
            return False, str(exc)[:80]
        return name in answered, "pong" if name in answered else "no answer to ping"

    program = Program(
        name=f"celery-worker-{i}",
        command=[airflow_bin, "celery", "worker", "--queues", ",".join(QUEUES),
                 "--concurrency", str(WORKER_CONCURRENCY), "--celery-hostname", name,
                 "--skip-serve-logs"],
        environment=env, directory=cfg.airflow_home, startsecs=5, stopwaitsecs=60,
    )
    return Service(f"celery-worker-{i}", cfg.versions["airflow"], cfg.ports["redis"],
                   [], [program], health, health_timeout=120,
                   health_endpoint=f"celery ping {name}")


def airflow_celery(cfg: StackConfig) -> list[Service]:
    """The default profile's Airflow (services.airflow) on the CeleryExecutor, then the workers.
    Its programs share one environment mapping, so updating it reconfigures all of them and the
    metadata-database migration."""
    svc = airflow(cfg)
    env = svc.programs[0].environment
    env.update(celery_env(cfg))
    env.update(port_env(cfg))
    base_prepare = svc.prepare

    def prepare() -> None:
        base_prepare()
        settings_file(cfg)

    svc.prepare = prepare
    return [svc, *(worker(cfg, i, env) for i in range(1, WORKERS + 1))]


def cluster_services(cfg: StackConfig) -> list[Service]:
    return [postgres(cfg), redis(cfg), kafka(cfg), dgraph(cfg), minio(cfg), weaviate(cfg),
            *airflow_celery(cfg)]


# Start order for Stack.up: each group waits for the ones before it to be healthy.
START_GROUPS = [["postgres", "redis"], ["kafka", "dgraph", "minio", "weaviate"], ["airflow"],
                [f"celery-worker-{i}" for i in range(1, WORKERS + 1)]]
