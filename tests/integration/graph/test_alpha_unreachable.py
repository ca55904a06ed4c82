"""A cluster connection that lists an alpha which is down: every read and write still succeeds
through the live one (DgraphHook retries what an unreachable alpha refused on a new transaction,
whose stub pydgraph picks at random), and nothing is written twice.

The "down" alpha is a loopback port nobody listens on, next to the shared stack's real alpha —
the state a cluster is in after ``kill -9`` of one alpha (issue 18's drill runs the same on the
cluster profile's three alphas).
"""

from __future__ import annotations

import json
import socket
import uuid

import pytest

from freshpoc_tasks.hooks.dgraph import DgraphHook


def closed_port() -> int:
    """A loopback port with no listener (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def half_down(stack, monkeypatch) -> str:
    conn_id = f"freshpoc_dgraph_half_down_{uuid.uuid4().hex[:8]}"
    live = f"127.0.0.1:{stack.cfg.ports['dgraph_grpc']}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(
        {"conn_type": "dgraph", "host": "unused", "port": 1,
         "extra": {"alphas": f"{live},127.0.0.1:{closed_port()}", "timeout": 10}}))
    return conn_id


def test_reads_and_writes_go_on_when_one_listed_alpha_is_down(half_down) -> None:
    xid = f"test/alpha-down-{uuid.uuid4().hex[:10]}"
    with DgraphHook(half_down, max_retries=30) as hook:
        try:
            # 40 units: with a stub chosen at random per transaction, about half the first
            # attempts go to the dead alpha; without the retry the test fails at once.
            for i in range(40):
                hook.upsert(query="query q($x: string) { n as var(func: eq(xid, $x)) }",
                            mutations=[{"set_json": {"uid": "uid(n)", "xid": xid, "name": f"v{i}"}}],
                            variables={"$x": xid})
                got = hook.query("query q($x: string) { n(func: eq(xid, $x)) { uid name } }",
                                 {"$x": xid})["n"]
                assert [n["name"] for n in got] == [f"v{i}"], got  # one node, the last value
            assert hook.retries > 0, "no attempt reached the dead alpha: the test proved nothing"
        finally:
            hook.upsert(query="query q($x: string) { n as var(func: eq(xid, $x)) }",
                        mutations=[{"del_json": {"uid": "uid(n)"}}], variables={"$x": xid})
