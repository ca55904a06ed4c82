"""Private server instances for tests and benchmarks, started the project's way.

A private Dgraph runs under its own supervisord, state folder and ports, so a test can kill it
or drop its data without touching the shared stack; its configuration is derived with
``StackConfig.with_overrides`` and never leaks into the process environment, except for the
one ``AIRFLOW_CONN_*`` variable that lets ``DgraphHook`` reach it by connection id.
"""

from __future__ import annotations

import json
import os
import random
import socket
import uuid
from pathlib import Path

from freshpoc_tasks.stack.config import StackConfig
from freshpoc_tasks.stack.manager import Stack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def dgraph_ports() -> dict[str, int]:
    """Alpha ports move together (``--port_offset``): HTTP 8080+o, gRPC 9080+o, internal 7080+o."""
    for _ in range(200):
        o = random.randrange(20000, 40000)
        z = free_port()
        ports = {"dgraph_http": 8080 + o, "dgraph_grpc": 9080 + o, "dgraph_internal": 7080 + o,
                 "dgraph_zero_grpc": z, "dgraph_zero_http": z + 1000}
        if all(port_is_free(p) for p in ports.values()):
            return ports
    raise RuntimeError("no free port range for a private Dgraph")


class PrivateDgraph:
    """A Dgraph zero + alpha of its own; use as a context manager or call ``up``/``down``."""

    def __init__(self, state_dir: Path, timeout: int = 120) -> None:
        self.cfg = StackConfig.from_env().with_overrides(state_dir=state_dir, ports=dgraph_ports())
        self.stack = Stack(self.cfg, only=["dgraph"])
        self.conn_id = f"freshpoc_dgraph_private_{uuid.uuid4().hex[:8]}"
        self.ports = {k: v for k, v in self.cfg.ports.items() if k.startswith("dgraph")}
        os.environ[f"AIRFLOW_CONN_{self.conn_id.upper()}"] = json.dumps(
            {"conn_type": "dgraph", "host": "127.0.0.1", "port": self.cfg.ports["dgraph_grpc"],
             "extra": {"timeout": timeout}})

    def up(self) -> None:
        rows = {r.service: r.state for r in self.stack.up()}
        if rows["dgraph"] != "healthy":
            raise RuntimeError(f"private Dgraph is {rows['dgraph']}")

    def alpha_pid(self) -> int:
        return int(self.stack.sup.ctl("pid", "dgraph-alpha").stdout.strip())

    def start_alpha(self) -> None:
        self.stack.sup.start("dgraph-alpha")
        self.stack._wait_healthy(self.stack.service("dgraph"))

    def down(self) -> None:
        try:
            self.stack.down()
        finally:
            os.environ.pop(f"AIRFLOW_CONN_{self.conn_id.upper()}", None)

    def __enter__(self) -> PrivateDgraph:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
