"""The servers of the local stack: how each is obtained, configured, run and checked.

A ``Service`` is declarative: ``prepare`` makes its artifacts and one-time state (build, initdb,
storage format) and is a no-op when they exist; ``programs`` are what supervisord runs;
``health`` says whether it answers; ``bootstrap`` creates what the project expects inside it
(databases, topics, the bucket) idempotently, after it is healthy.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from freshpoc_tasks.contracts.events import ALL_TOPICS
from freshpoc_tasks.contracts.locations import BUCKET
from freshpoc_tasks.stack import build
from freshpoc_tasks.stack.config import (
    AIRFLOW_USERS,
    MINIO_PASSWORD,
    MINIO_USER,
    PG_ROLES,
    StackConfig,
)

KAFKA_TOPICS = ALL_TOPICS  # created by `stack up`; auto-creation is off


@dataclass
class Program:
    """One supervisord program."""

    name: str
    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    directory: Path | None = None
    user: str | None = None
    stopsignal: str = "TERM"
    stopwaitsecs: int = 30
    startsecs: int = 2


@dataclass(eq=False)
class Service:
    name: str
    version: str
    port: int
    ports: list[int]
    programs: list[Program]
    health: Callable[[], tuple[bool, str]]
    prepare: Callable[[], None] = lambda: None
    bootstrap: Callable[[], None] = lambda: None
    # Runs after the services before this one are healthy and before its own programs start.
    before_start: Callable[[], None] = lambda: None
    health_timeout: float = 120.0
    # The program whose log ``status`` shows; programs start in list order.
    main_program: str = ""
    # What ``health`` asks, as an operator would ask it by hand: the server's own health URL, or
    # the command when the server speaks no HTTP. Shown by ``freshpoc stack status``.
    health_endpoint: str = ""

    def log_path(self, cfg: StackConfig) -> Path:
        return cfg.log_dir / f"{self.main_program or self.programs[0].name}.log"


# Health probes -------------------------------------------------------------------------------
def tcp_open(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read() or b""
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        return 0, str(exc).encode()


def http_ok(url: str) -> Callable[[], tuple[bool, str]]:
    def probe() -> tuple[bool, str]:
        status, body = http_get(url)
        return status == 200, f"HTTP {status}" if status else body.decode(errors="replace")[:80]

    return probe


# Helpers ------------------------------------------------------------------------------------
def _run_as_postgres() -> str | None:
    """PostgreSQL will not run as root: under root it runs as the Debian 'postgres' user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise build.BuildError("running as root needs the 'postgres' system user "
                               "(Debian's postgresql package creates it)") from exc
    return "postgres"


def _chown(path: Path, user: str | None) -> None:
    if user:
        shutil.chown(path, user, user)


def _kafka_cluster_id() -> str:
    """A random KRaft cluster id (URL-safe base64 of a UUID) that does not start with '-'.

    Kafka's own ``Uuid.randomUuid`` redraws such ids because its tools would read them as an
    option; one in 64 of ours did, and the first ``stack up`` of that machine failed to format
    Kafka's storage.
    """
    while True:
        cluster_id = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _secrets(cfg: StackConfig) -> dict[str, str]:
    """Per-stack secrets, generated once and kept with the stack's state.

    The Kafka cluster id and Fernet key must never change for existing data; the JWT secret is
    renewed only when shorter than the 64 bytes SHA-512 signing wants (early stacks had 43).
    """
    path = cfg.airflow_home / "freshpoc-secrets.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    before = dict(data)
    if len(data.get("jwt_secret", "")) < 64:
        data["jwt_secret"] = secrets.token_urlsafe(64)
    data.setdefault("fernet_key", urlsafe_b64encode(secrets.token_bytes(32)).decode())
    data.setdefault("kafka_cluster_id", _kafka_cluster_id())
    if data != before:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        path.chmod(0o600)
    return data


# PostgreSQL ---------------------------------------------------------------------------------
def postgres(cfg: StackConfig) -> Service:
    port = cfg.ports["postgres"]
    root = cfg.data("postgres")
    data = root / "data"
    run = root / "run"
    user = _run_as_postgres()
    bindir = Path(f"/usr/lib/postgresql/{cfg.versions['postgres']}/bin")

    def prepare() -> None:
        build.postgres_bin(cfg)
        root.mkdir(parents=True, exist_ok=True)
        run.mkdir(parents=True, exist_ok=True)
        for p in (root, run):
            _chown(p, user)
        if not (data / "PG_VERSION").exists():
            data.mkdir(parents=True, exist_ok=True)
            _chown(data, user)
            cmd = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--encoding=UTF8",
                   "--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions"]
            if user:
                cmd = ["runuser", "-u", user, "--", *cmd]
            build.run_logged("initialising PostgreSQL data", cmd, cfg.log_dir / "postgres-init.log")

    def bootstrap() -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(host=str(run), port=port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            for role, password in PG_ROLES.items():
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
                verb = "ALTER" if exists else "CREATE"
                conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)))
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (role,)).fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(role), sql.Identifier(role)))
        with psycopg.connect(host=str(run), port=port, user="postgres", dbname="freshpoc",
                             autocommit=True) as conn:
            conn.execute("CREATE SCHEMA IF NOT EXISTS freshpoc AUTHORIZATION freshpoc")

    def health() -> tuple[bool, str]:
        if not tcp_open(port):
            return False, "not listening"
        proc = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                              capture_output=True, text=True, check=False)
        return proc.returncode == 0, proc.stdout.strip()

    program = Program(
        name="postgres",
        command=[str(bindir / "postgres"), "-D", str(data), "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={run}",
                 "-c", "max_connections=200", "-c", "shared_buffers=128MB"],
        user=user,
        stopsignal="INT",  # "fast" shutdown: roll back open transactions, exit cleanly
        stopwaitsecs=60,
    )
    return Service("postgres", cfg.versions["postgres"], port, [port], [program], health,
                   prepare, bootstrap,
                   health_endpoint=f"pg_isready -h 127.0.0.1 -p {port}")


# Kafka --------------------------------------------------------------------------------------
LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = warn
logger.org.name = org.apache.kafka
logger.org.level = warn
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
"""


def kafka(cfg: StackConfig) -> Service:
    port, cport, mport = cfg.ports["kafka"], cfg.ports["kafka_controller"], cfg.ports["kafka_metrics"]
    home = cfg.data("kafka")
    props = home / "server.properties"
    log4j = home / "log4j2.properties"
    libs = cfg.cache_dir / f"kafka-{cfg.versions['kafka']}" / "libs"
    java = shutil.which("java") or "java"
    # Kafka's metrics for Prometheus: the JMX exporter's java agent, on loopback only.
    agent = cfg.cache_dir / "jars" / f"jmx_prometheus_javaagent-{cfg.versions['jmx_exporter']}.jar"
    agent_conf = monitoring_file(cfg, "kafka_jmx.yml")

    def prepare() -> None:
        build.fetch_kafka(cfg)
        build.fetch_maven_jar(cfg, "io.prometheus.jmx", "jmx_prometheus_javaagent",
                              cfg.versions["jmx_exporter"])
        home.mkdir(parents=True, exist_ok=True)
        props.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{cport}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={home / 'data'}",
            "num.partitions=3",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]))
        log4j.write_text(LOG4J2)
        if not (home / "data" / "meta.properties").exists():
            cluster_id = _secrets(cfg)["kafka_cluster_id"]
            build.run_logged(
                "formatting Kafka KRaft storage (once)",
                [java, "-cp", f"{libs}/*", f"-Dlog4j2.configurationFile={log4j}",
                 "kafka.tools.StorageTool", "format", "--standalone", f"--cluster-id={cluster_id}",
                 "-c", str(props)],
                cfg.log_dir / "kafka-format.log",
            )

    def bootstrap() -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 3})
        existing = set(admin.list_topics(timeout=10).topics)
        wanted = [NewTopic(t, num_partitions=3, replication_factor=1)
                  for t in KAFKA_TOPICS if t not in existing]
        for topic, fut in admin.create_topics(wanted).items() if wanted else []:
            try:
                fut.result(timeout=30)
            except Exception as exc:  # an existing topic is fine, anything else is not
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise build.BuildError(f"creating Kafka topic {topic}: {exc}") from exc

    def health() -> tuple[bool, str]:
        if not tcp_open(port):
            return False, "not listening"
        try:
            from confluent_kafka.admin import AdminClient

            admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 3})
            md = admin.list_topics(timeout=3)
            return bool(md.brokers), f"{len(md.topics)} topics"
        except Exception as exc:
            return False, str(exc)[:80]

    program = Program(
        name="kafka",
        command=[java, "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                 f"-javaagent:{agent}=127.0.0.1:{mport}:{agent_conf}",
                 f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*", "kafka.Kafka",
                 str(props)],
        stopwaitsecs=60,
        environment=config_fingerprint(agent_conf),
    )
    return Service("kafka", cfg.versions["kafka"], port, [port, cport, mport], [program], health,
                   prepare, bootstrap,
                   health_endpoint=f"kafka metadata 127.0.0.1:{port}")


# Dgraph -------------------------------------------------------------------------------------
def dgraph(cfg: StackConfig) -> Service:
    version = cfg.versions["dgraph"]
    binary = cfg.bin_dir / f"dgraph-{version}"
    home = cfg.data("dgraph")
    p = cfg.ports
    offset = p["dgraph_http"] - 8080
    telemetry = "reports=false; sentry=false;"

    def prepare() -> None:
        build.build_dgraph(cfg)
        for sub in ("zw", "p", "w", "t"):
            (home / sub).mkdir(parents=True, exist_ok=True)

    health_url = f"http://127.0.0.1:{p['dgraph_http']}/health"

    def health() -> tuple[bool, str]:
        status, body = http_get(health_url)
        if status != 200:
            return False, f"alpha HTTP {status}"
        try:
            entries = json.loads(body)
            ok = all(e.get("status") == "healthy" for e in entries)
            return ok, "healthy" if ok else body.decode()[:80]
        except ValueError:
            return False, body.decode(errors="replace")[:80]

    zero = Program(
        name="dgraph-zero",
        command=[str(binary), "zero", f"--my=127.0.0.1:{p['dgraph_zero_grpc']}",
                 "--port_offset", str(p["dgraph_zero_grpc"] - 5080), "--bindall=false",
                 "--wal", str(home / "zw"), "--telemetry", telemetry],
        directory=home,
    )
    alpha = Program(
        name="dgraph-alpha",
        command=[str(binary), "alpha", f"--my=127.0.0.1:{p['dgraph_internal']}",
                 f"--zero=127.0.0.1:{p['dgraph_zero_grpc']}", "--port_offset", str(offset),
                 "--bindall=false", "--postings", str(home / "p"), "--wal", str(home / "w"),
                 "--tmp", str(home / "t"), "--security", "whitelist=127.0.0.1/32",
                 "--cache", "size-mb=512", "--telemetry", telemetry],
        directory=home,
        startsecs=5,
    )
    return Service("dgraph", version, p["dgraph_http"],
                   [p["dgraph_http"], p["dgraph_grpc"], p["dgraph_internal"], p["dgraph_zero_grpc"],
                    p["dgraph_zero_http"]],
                   [zero, alpha], health, prepare, main_program="dgraph-alpha",
                   health_endpoint=health_url)


# MinIO --------------------------------------------------------------------------------------
def minio_console_url(cfg: StackConfig) -> str:
    """MinIO's web console (object browser), the page the demo and the tasks' links open."""
    return f"http://127.0.0.1:{cfg.ports['minio_console']}"


def minio(cfg: StackConfig) -> Service:
    version = cfg.versions["minio"]
    port, console = cfg.ports["minio"], cfg.ports["minio_console"]
    home = cfg.data("minio")

    def prepare() -> None:
        build.go_install(cfg, "minio", "github.com/minio/minio", version, "minio")
        home.mkdir(parents=True, exist_ok=True)

    def bootstrap() -> None:
        import boto3

        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}",
                          aws_access_key_id=MINIO_USER, aws_secret_access_key=MINIO_PASSWORD,
                          region_name="us-east-1")
        names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if BUCKET not in names:
            s3.create_bucket(Bucket=BUCKET)
        # Versioning: an overwritten or deleted artifact or report can be recovered (what
        # `freshpoc backup` leaves to the object store instead of copying it).
        try:
            s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        except Exception as exc:  # a store without versioning still serves the pipeline
            print(f"    warning: versioning of bucket {BUCKET} not enabled: {exc}", flush=True)

    program = Program(
        name="minio",
        command=[str(cfg.bin_dir / f"minio-{version}"), "server", str(home / "data"),
                 "--address", f"127.0.0.1:{port}", "--console-address", f"127.0.0.1:{console}",
                 "--quiet"],
        environment={"MINIO_ROOT_USER": MINIO_USER, "MINIO_ROOT_PASSWORD": MINIO_PASSWORD,
                     "MINIO_UPDATE": "off", "MINIO_BROWSER_REDIRECT": "off",
                     # Prometheus scrapes /minio/v2/metrics/cluster without a token; the port
                     # is loopback-only, as is everything of the local stack.
                     "MINIO_PROMETHEUS_AUTH_TYPE": "public"},
    )
    health_url = f"http://127.0.0.1:{port}/minio/health/live"
    return Service("minio", version, port, [port, console], [program], http_ok(health_url),
                   prepare, bootstrap, health_endpoint=health_url)


# Weaviate -----------------------------------------------------------------------------------
def weaviate_backups(cfg: StackConfig) -> Path:
    """Where Weaviate's ``backup-filesystem`` module writes and reads backups: beside its data,
    in the state folder, so ``freshpoc stack reset`` clears it with the rest. ``freshpoc backup``
    moves each backup out of it into the backup's own folder; ``restore`` puts it back there
    for the time of the restore."""
    return cfg.data("weaviate_backups")


def weaviate(cfg: StackConfig) -> Service:
    version = cfg.versions["weaviate"]
    p = cfg.ports
    home = cfg.data("weaviate")

    def prepare() -> None:
        build.go_install(cfg, "weaviate", "github.com/weaviate/weaviate/cmd/weaviate-server",
                         version, "weaviate-server")
        home.mkdir(parents=True, exist_ok=True)
        weaviate_backups(cfg).mkdir(parents=True, exist_ok=True)

    program = Program(
        name="weaviate",
        command=[str(cfg.bin_dir / f"weaviate-{version}"), "--host", "127.0.0.1",
                 "--port", str(p["weaviate"]), "--scheme", "http"],
        environment={
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
            "PERSISTENCE_DATA_PATH": str(home),
            "DEFAULT_VECTORIZER_MODULE": "none",
            # Backups of the search index are Weaviate's own (shard files as stored, so a
            # restored index answers hybrid queries with the same BM25 statistics).
            "ENABLE_MODULES": "backup-filesystem",
            "BACKUP_FILESYSTEM_PATH": str(weaviate_backups(cfg)),
            "DISABLE_TELEMETRY": "true",
            # A backup names the node it was made on; restore expects the same name.
            "CLUSTER_HOSTNAME": "freshpoc",
            # Without an explicit address it advertises the host's IPv6 address and dies.
            "CLUSTER_ADVERTISE_ADDR": "127.0.0.1",
            "CLUSTER_BIND_ADDR": "127.0.0.1",
            "CLUSTER_GOSSIP_BIND_PORT": str(p["weaviate_gossip"]),
            "CLUSTER_DATA_BIND_PORT": str(p["weaviate_data"]),
            "RAFT_PORT": str(p["weaviate_raft"]),
            "RAFT_INTERNAL_RPC_PORT": str(p["weaviate_raft_rpc"]),
            "RAFT_BOOTSTRAP_EXPECT": "1",
            "GRPC_PORT": str(p["weaviate_grpc"]),
            "QUERY_DEFAULTS_LIMIT": "25",
            "LOG_LEVEL": "warning",
            "GO_PROFILING_DISABLE": "true",
            "GOMEMLIMIT": "1GiB",
        },
        directory=home,
        startsecs=5,
    )
    return Service("weaviate", version, p["weaviate"],
                   [p["weaviate"], p["weaviate_grpc"], p["weaviate_gossip"], p["weaviate_data"],
                    p["weaviate_raft"], p["weaviate_raft_rpc"]],
                   [program], http_ok(f"http://127.0.0.1:{p['weaviate']}/v1/.well-known/ready"),
                   prepare, health_timeout=180,
                   health_endpoint=f"http://127.0.0.1:{p['weaviate']}/v1/.well-known/ready")


# statsd_exporter and Prometheus --------------------------------------------------------------
def config_fingerprint(*parts: str | Path) -> dict[str, str]:
    """An environment entry that changes with a program's configuration files (or texts).

    supervisord restarts a program on ``stack up`` only when its own definition changed; a
    server reading a file (Prometheus its rules, statsd_exporter its mapping) would keep the old
    one. With the files' digest in the environment, a changed file is a changed definition."""
    import hashlib

    digest = hashlib.sha256()
    for part in parts:
        data = part.read_bytes() if isinstance(part, Path) and part.exists() else str(part).encode()
        digest.update(data + b"\0")
    return {"FRESHPOC_CONFIG_SHA256": digest.hexdigest()[:16]}


def monitoring_file(cfg: StackConfig, *parts: str) -> Path:
    """A file of ``include/monitoring`` in the checkout the stack serves (like dags/ and
    plugins/): the statsd mapping and the Prometheus rules are read from there, not copied."""
    return cfg.checkout.joinpath("include", "monitoring", *parts)


def postgres_exporter(cfg: StackConfig) -> Service:
    """PostgreSQL's metrics for Prometheus, read as the ``postgres`` superuser over the server's
    Unix socket (trust, as ``initdb --auth-local=trust`` set it): no password to keep."""
    port, pg = cfg.ports["postgres_exporter"], cfg.ports["postgres"]
    binary = Path("/usr/bin/prometheus-postgres-exporter")
    socket_dir = cfg.data("postgres") / "run"

    def prepare() -> None:
        build.postgres_exporter_bin(cfg)

    version = cfg.versions["postgres_exporter"]
    if version == "debian" and binary.exists():
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                             check=False)
        words = (out.stdout + out.stderr).split()
        version = words[2] if len(words) > 2 and words[1] == "version" else version
    program = Program(
        name="postgres_exporter",
        command=[str(binary), f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        environment={"DATA_SOURCE_NAME": f"postgresql://postgres@:{pg}/postgres?host={socket_dir}"
                                         "&sslmode=disable"},
    )
    url = f"http://127.0.0.1:{port}/metrics"
    return Service("postgres_exporter", version, port, [port], [program], http_ok(url), prepare,
                   health_endpoint=url)


def prometheus_config(cfg: StackConfig) -> str:
    """prometheus.yml of the local stack: the rules of include/monitoring, statsd_exporter (Airflow
    and FreshPoC metrics), Prometheus itself, and the servers that serve their own metrics."""
    p = cfg.ports
    jobs = [
        ("statsd_exporter", p["statsd_http"], "/metrics"),
        ("prometheus", p["prometheus"], "/metrics"),
        ("dgraph-alpha", p["dgraph_http"], "/debug/prometheus_metrics"),
        ("dgraph-zero", p["dgraph_zero_http"], "/debug/prometheus_metrics"),
        ("minio", p["minio"], "/minio/v2/metrics/cluster"),
        ("kafka", p["kafka_metrics"], "/metrics"),
        ("postgres", p["postgres_exporter"], "/metrics"),
    ]
    lines = [
        "# Written by `freshpoc stack up` (freshpoc_tasks/stack/services.py); edits are overwritten.",
        "global:",
        "  scrape_interval: 15s",
        "  evaluation_interval: 30s",
        "rule_files:",
        f"  - {json.dumps(str(monitoring_file(cfg, 'prometheus', 'rules.yml')))}",
        "scrape_configs:",
    ]
    for job, port, path in jobs:
        lines += [f"  - job_name: {job}", f"    metrics_path: {path}",
                  f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]"]
    return "\n".join(lines) + "\n"


def statsd_exporter(cfg: StackConfig) -> Service:
    version = cfg.versions["statsd_exporter"]
    udp, http = cfg.ports["statsd_udp"], cfg.ports["statsd_http"]

    def prepare() -> None:
        build.go_install(cfg, "statsd_exporter", "github.com/prometheus/statsd_exporter", version,
                         "statsd_exporter")

    program = Program(
        name="statsd_exporter",
        command=[str(cfg.bin_dir / f"statsd_exporter-{version}"),
                 f"--web.listen-address=127.0.0.1:{http}", f"--statsd.listen-udp=127.0.0.1:{udp}",
                 f"--statsd.listen-tcp=127.0.0.1:{udp}",
                 f"--statsd.mapping-config={monitoring_file(cfg, 'statsd_mapping.yml')}",
                 # Per-file samples of a large write arrive in bursts: a larger socket buffer
                 # (capped by net.core.rmem_max) loses fewer of them.
                 "--statsd.read-buffer=8388608", "--log.level=warn"],
        environment=config_fingerprint(monitoring_file(cfg, "statsd_mapping.yml")),
    )
    return Service("statsd_exporter", version, http, [http, udp], [program],
                   http_ok(f"http://127.0.0.1:{http}/metrics"), prepare,
                   health_endpoint=f"http://127.0.0.1:{http}/metrics")


def prometheus(cfg: StackConfig) -> Service:
    port = cfg.ports["prometheus"]
    home = cfg.data("prometheus")
    conf = home / "prometheus.yml"

    def prepare() -> None:
        build.prometheus_bin(cfg)
        home.mkdir(parents=True, exist_ok=True)
        conf.write_text(prometheus_config(cfg))

    version = cfg.versions["prometheus"]
    if version == "debian" and Path("/usr/bin/prometheus").exists():
        # Show the version Debian installed rather than the word "debian".
        out = subprocess.run(["/usr/bin/prometheus", "--version"], capture_output=True, text=True,
                             check=False).stdout.split()
        version = out[2] if len(out) > 2 else version
    program = Program(
        name="prometheus",
        command=["/usr/bin/prometheus", f"--config.file={conf}",
                 f"--storage.tsdb.path={home / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                 "--log.level=warn"],
        environment=config_fingerprint(prometheus_config(cfg),
                                       monitoring_file(cfg, "prometheus", "rules.yml")),
    )
    return Service("prometheus", version, port, [port], [program],
                   http_ok(f"http://127.0.0.1:{port}/-/ready"), prepare,
                   health_endpoint=f"http://127.0.0.1:{port}/-/ready")


# Airflow ------------------------------------------------------------------------------------
def airflow_env(cfg: StackConfig) -> dict[str, str]:
    """Airflow's configuration for the local stack, as AIRFLOW__ variables.

    The same mapping is given to every Airflow process and to the CLI calls the stack makes, so
    there is one source of truth and no airflow.cfg to drift.
    """
    sec = _secrets(cfg)
    home = cfg.airflow_home
    pg = cfg.ports["postgres"]
    users = ",".join(f"{u}:{role}" for u, (role, _pw) in AIRFLOW_USERS.items())
    return {
        "AIRFLOW_HOME": str(home),
        "PATH": f"{cfg.venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(cfg.checkout / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(cfg.checkout / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Two cores: four task slots keep the machine responsive while tasks wait on servers.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "AIRFLOW__CORE__FERNET_KEY": sec["fernet_key"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{cfg.airflow_url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
            f"postgresql+psycopg2://airflow:{PG_ROLES['airflow']}@127.0.0.1:{pg}/airflow",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(cfg.ports["airflow"]),
        # The query API, MCP and report pages are served by the api-server's workers: one
        # worker runs one request's Python at a time (GIL), so 16 clients queued behind it.
        # One worker per core, at most four (each loads the whole app: ~0.28 GB).
        "AIRFLOW__API__WORKERS": os.environ.get("FRESHPOC_API_WORKERS") or str(api_workers()),
        "AIRFLOW__API__BASE_URL": cfg.airflow_url,
        "AIRFLOW__API_AUTH__JWT_SECRET": sec["jwt_secret"],
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(cfg.ports["statsd_udp"]),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        # Tags (dag_id, task_id, state, and FreshPoC's repo, stage, analyzer, language) travel
        # InfluxDB-style and become labels in statsd_exporter; the legacy names, which splice
        # the same values into the metric name, are off so that nothing is counted twice
        # (include/monitoring/statsd_mapping.yml).
        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
        "AIRFLOW__METRICS__LEGACY_NAMES_ON": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "FRESHPOC_CHECKOUT": str(cfg.checkout),
        "FRESHPOC_HOME": str(cfg.cache_dir),
        "FRESHPOC_STATE_DIR": str(cfg.state_dir),
        "no_proxy": "*",
        # The embedding model chosen in the shell that ran `stack up` is the one tasks use.
        **({"FRESHPOC_EMBEDDING_MODEL": os.environ["FRESHPOC_EMBEDDING_MODEL"]}
           if os.environ.get("FRESHPOC_EMBEDDING_MODEL") else {}),
    }


def api_workers() -> int:
    """Airflow api-server workers for this machine: one per core, 1 to 4."""
    return max(1, min(4, os.cpu_count() or 1))


def client_env(cfg: StackConfig) -> dict[str, str]:
    """Environment for code outside Airflow's processes (the CLI, tests): the stack's Airflow
    configuration and the ``freshpoc_*`` connections of airflow_settings.yaml, so the same hooks
    resolve the same servers without a metadata-database lookup."""
    from freshpoc_tasks.stack.settings import connection_env

    env = {k: v for k, v in airflow_env(cfg).items() if k != "PATH"}
    return {**env, **connection_env(cfg.checkout / "airflow_settings.yaml")}


def airflow(cfg: StackConfig) -> Service:
    port = cfg.ports["airflow"]
    env = airflow_env(cfg)
    airflow_bin = str(cfg.venv_bin("airflow"))

    def prepare() -> None:
        if not cfg.venv_bin("airflow").exists():
            raise build.BuildError("Airflow is not installed in this environment: run scripts/bootstrap")
        home = cfg.airflow_home
        home.mkdir(parents=True, exist_ok=True)
        pw = home / "passwords.json"
        pw.write_text(json.dumps({u: p for u, (_r, p) in AIRFLOW_USERS.items()}))
        pw.chmod(0o600)

    def bootstrap_db() -> None:
        build.run_logged("migrating Airflow's metadata database", [airflow_bin, "db", "migrate"],
                         cfg.log_dir / "airflow-db-migrate.log", env={**os.environ, **env})

    def health() -> tuple[bool, str]:
        status, body = http_get(f"{cfg.airflow_url}/api/v2/monitor/health")
        if status != 200:
            return False, f"HTTP {status}"
        try:
            report = json.loads(body)
        except ValueError:
            return False, "bad health answer"
        parts = {k: (v or {}).get("status") for k, v in report.items() if isinstance(v, dict)}
        bad = [k for k, v in parts.items() if v != "healthy"]
        return not bad, "all healthy" if not bad else "waiting for " + ", ".join(bad)

    def prog(name: str, *args: str) -> Program:
        return Program(name=f"airflow-{name}", command=[airflow_bin, *args], environment=env,
                       directory=cfg.airflow_home, startsecs=5, stopwaitsecs=60)

    programs = [
        prog("api-server", "api-server"),
        # The log servers bind every interface; with one machine and a shared log folder the
        # API server reads task logs from disk, so they are not started.
        prog("scheduler", "scheduler", "--skip-serve-logs"),
        prog("dag-processor", "dag-processor"),
        prog("triggerer", "triggerer", "--skip-serve-logs"),
    ]
    return Service("airflow", cfg.versions["airflow"], port, [port], programs, health, prepare,
                   before_start=bootstrap_db, health_timeout=240,
                   health_endpoint=f"{cfg.airflow_url}/api/v2/monitor/health")


def all_services(cfg: StackConfig) -> list[Service]:
    """In start order: Airflow last, since it needs PostgreSQL and statsd_exporter."""
    return [
        postgres(cfg), kafka(cfg), dgraph(cfg), minio(cfg), weaviate(cfg), statsd_exporter(cfg),
        postgres_exporter(cfg), prometheus(cfg), airflow(cfg),
    ]
