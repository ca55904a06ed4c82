"""Graph integration fixtures: the shared Dgraph (unique repository ids per test, never
dropped) and, for crash drills and benchmarks, a private Dgraph started the project's way."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from freshpoc_tasks.graph.ontology import GraphOntology, load_graph_ontology
from freshpoc_tasks.graph.writer import GraphWriter
from freshpoc_tasks.hooks.dgraph import DgraphHook


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def dgraph_ports() -> dict[str, int]:
    """Alpha ports move together (``--port_offset``): HTTP 8080+o, gRPC 9080+o, internal 7080+o."""
    import random

    for _ in range(200):
        o = random.randrange(20000, 40000)
        z = free_port()
        ports = {"dgraph_http": 8080 + o, "dgraph_grpc": 9080 + o, "dgraph_internal": 7080 + o,
                 "dgraph_zero_grpc": z, "dgraph_zero_http": z + 1000}
        if all(_free(p) for p in ports.values()):
            return ports
    raise RuntimeError("no free port range for a private Dgraph")


@pytest.fixture(scope="session")
def onto() -> GraphOntology:
    return load_graph_ontology()


@pytest.fixture(scope="session")
def shared_writer(stack, onto) -> Iterator[GraphWriter]:
    with DgraphHook() as hook:
        writer = GraphWriter(hook, onto)
        writer.ensure_schema()
        yield writer


@pytest.fixture
def repo_id() -> str:
    return f"test/graph-{uuid.uuid4().hex[:10]}"


class PrivateDgraph:
    """A Dgraph zero+alpha in its own state folder, ports and supervisord."""

    def __init__(self, state_dir: Path) -> None:
        from freshpoc_tasks.stack.config import StackConfig
        from freshpoc_tasks.stack.manager import Stack

        env = {"FRESHPOC_STATE_DIR": str(state_dir)}
        env.update({f"FRESHPOC_PORT_{k.upper()}": str(p) for k, p in dgraph_ports().items()})
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            self.cfg = StackConfig.from_env()
        finally:
            for k, val in old.items():
                if val is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = val
        self.stack = Stack(self.cfg, only=["dgraph"])
        self.conn_id = f"freshpoc_dgraph_private_{uuid.uuid4().hex[:8]}"
        os.environ[f"AIRFLOW_CONN_{self.conn_id.upper()}"] = json.dumps(
            {"conn_type": "dgraph", "host": "127.0.0.1", "port": self.cfg.ports["dgraph_grpc"],
             "extra": {"timeout": 120}})

    def up(self) -> None:
        rows = {r.service: r.state for r in self.stack.up()}
        assert rows["dgraph"] == "healthy"

    def alpha_pid(self) -> int:
        out = self.stack.sup.ctl("pid", "dgraph-alpha").stdout.strip()
        return int(out)

    def start_alpha(self) -> None:
        from freshpoc_tasks.stack.manager import Stack

        self.stack.sup.start("dgraph-alpha")
        Stack._wait_healthy(self.stack, self.stack.service("dgraph"))

    def down(self) -> None:
        self.stack.down()
        os.environ.pop(f"AIRFLOW_CONN_{self.conn_id.upper()}", None)


@pytest.fixture(scope="module")
def private_dgraph(tmp_path_factory) -> Iterator[PrivateDgraph]:
    pd = PrivateDgraph(tmp_path_factory.mktemp("dgraph-state"))
    pd.up()
    try:
        yield pd
    finally:
        pd.down()
