"""Where the local stack keeps things, which versions it runs and on which ports.

Everything here can be overridden by an environment variable (listed in the README) so that two
stacks, a CI run and a developer's, or an unusual machine, never need a code change.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Pinned server versions; each can be overridden with FRESHPOC_<NAME>_VERSION.
DEFAULT_VERSIONS: dict[str, str] = {
    "postgres": "15",
    "kafka": "4.4.0",
    "dgraph": "v25.4.0",
    "minio": "v0.0.0-20260212201848-7aac2a2c5b7c",
    "weaviate": "v1.39.0",
    "statsd_exporter": "v0.31.0",
    "prometheus": "debian",
    "airflow": "3.3.2",
    # Prometheus JMX exporter java agent (Maven Central), attached to Kafka for its metrics.
    "jmx_exporter": "1.0.1",
    # Debian's prometheus-postgres-exporter (the Go module proxy does not serve postgres_exporter).
    "postgres_exporter": "debian",
}

# Loopback ports (see shared ARCHITECTURE); each can be overridden with FRESHPOC_PORT_<NAME>.
DEFAULT_PORTS: dict[str, int] = {
    "airflow": 8080,
    "weaviate": 8081,
    "weaviate_grpc": 50051,
    "weaviate_gossip": 7946,
    "weaviate_data": 7947,
    "weaviate_raft": 8300,
    "weaviate_raft_rpc": 8301,
    "dgraph_http": 8082,
    "dgraph_grpc": 9082,
    "dgraph_internal": 7082,
    "dgraph_zero_grpc": 5080,
    "dgraph_zero_http": 6080,
    "minio": 9000,
    "minio_console": 9001,
    "kafka": 9092,
    "kafka_controller": 9093,
    "postgres": 5432,
    "statsd_udp": 9125,
    "statsd_http": 9102,
    "prometheus": 9090,
    "kafka_metrics": 9404,  # the JMX exporter agent inside the Kafka broker
    "postgres_exporter": 9187,
}

# Credentials of the local stack only: it listens on 127.0.0.1 and holds throwaway data.
MINIO_USER = "freshpoc-minio"
MINIO_PASSWORD = "freshpoc-local-secret"
AIRFLOW_USERS = {"admin": ("admin", "admin"), "viewer": ("viewer", "viewer")}
PG_ROLES = {"airflow": "airflow-local-pg", "freshpoc": "freshpoc-local-pg"}
# Passwords are distinctive on purpose: Airflow masks every occurrence of a secret in logs and
# API answers, so a password equal to a common word (say "freshpoc") would blank that word.


def _find_checkout() -> Path:
    """The checkout whose dags/ and plugins/ the stack serves: FRESHPOC_CHECKOUT, else the
    nearest parent of the working directory holding pyproject.toml and dags/."""
    env = os.environ.get("FRESHPOC_CHECKOUT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file() and (candidate / "dags").is_dir():
            return candidate
    # Fall back to the checkout this package was installed from (editable install).
    return Path(__file__).resolve().parents[2]


def _default_state_dir() -> Path:
    # PostgreSQL refuses to run as root, so under root it runs as the 'postgres' user, which
    # must be able to reach its data directory: /root is closed to it, /var/lib is not.
    if os.geteuid() == 0:
        return Path("/var/lib/freshpoc")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "freshpoc"


@dataclass(frozen=True)
class StackConfig:
    cache_dir: Path
    state_dir: Path
    checkout: Path
    venv: Path
    versions: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> StackConfig:
        env = os.environ
        versions = {
            name: env.get(f"FRESHPOC_{name.upper()}_VERSION", default)
            for name, default in DEFAULT_VERSIONS.items()
        }
        ports = {
            name: int(env.get(f"FRESHPOC_PORT_{name.upper()}", default))
            for name, default in DEFAULT_PORTS.items()
        }
        return cls(
            cache_dir=Path(env.get("FRESHPOC_HOME", Path.home() / ".cache" / "freshpoc")),
            state_dir=Path(env.get("FRESHPOC_STATE_DIR", _default_state_dir())),
            checkout=_find_checkout(),
            venv=Path(sys.prefix),
            versions=versions,
            ports=ports,
        )

    def with_overrides(self, *, state_dir: Path | None = None, cache_dir: Path | None = None,
                       ports: dict[str, int] | None = None) -> StackConfig:
        """A second, private stack or cache (tests, benchmarks) without touching the environment,
        which other code in the same process keeps reading for the main stack."""
        return dataclasses.replace(self, state_dir=state_dir or self.state_dir,
                                   cache_dir=cache_dir or self.cache_dir,
                                   ports={**self.ports, **(ports or {})})

    # Layout helpers -------------------------------------------------------------------------
    @property
    def bin_dir(self) -> Path:
        return self.cache_dir / "bin"

    @property
    def build_logs(self) -> Path:
        return self.cache_dir / "build-logs"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def supervisor_dir(self) -> Path:
        return self.state_dir / "supervisor"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    def data(self, service: str) -> Path:
        return self.state_dir / service

    def venv_bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['airflow']}"
