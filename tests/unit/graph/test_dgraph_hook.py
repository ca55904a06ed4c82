"""DgraphHook's connection: one gRPC stub per alpha a cluster connection lists (no server: a
stub's channel connects lazily)."""

from __future__ import annotations

import json

import pytest

from freshpoc_tasks.hooks.dgraph import DgraphHook, alpha_targets


@pytest.mark.parametrize(("host", "port", "extra", "expected"), [
    ("db", 9082, {}, ["db:9082"]),
    (None, None, {}, ["127.0.0.1:9080"]),
    ("db", 9082, {"alphas": "a1:9080, a2:9080,a3:9080"}, ["a1:9080", "a2:9080", "a3:9080"]),
    ("db", 9082, {"alphas": ["a1:9080", "a2:9080"]}, ["a1:9080", "a2:9080"]),
    ("db", 9082, {"alphas": " , "}, ["db:9082"]),
])
def test_alpha_targets(host, port, extra, expected):
    assert alpha_targets(host, port, extra) == expected


def test_a_cluster_connection_makes_one_stub_per_alpha(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FRESHPOC_DGRAPH_CLUSTER_TEST", json.dumps(
        {"conn_type": "dgraph", "host": "unused", "port": 9080,
         "extra": {"alphas": "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"}}))
    hook = DgraphHook("freshpoc_dgraph_cluster_test")
    try:
        client = hook.get_conn()
        assert len(hook._stubs) == 3
        assert list(client._clients) == hook._stubs
    finally:
        hook.close()
    assert hook._stubs == []


class _Alters:
    """A client whose alter fails with the given errors first, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors, self.calls = list(errors), 0

    def alter(self, _op) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def test_a_schema_change_dgraph_asks_to_retry_is_retried_and_others_are_not(monkeypatch):
    from pydgraph.errors import RetriableError

    monkeypatch.setattr("time.sleep", lambda _s: None)
    hook = DgraphHook()
    pending = RetriableError(Exception("Pending transactions found. Please retry operation"))
    client = _Alters(pending, pending)
    monkeypatch.setattr(hook, "get_conn", lambda: client)
    hook.alter_schema("<x>: int .")
    assert client.calls == 3 and hook.retries == 2
    bad = _Alters(ValueError("while lexing schema"))
    monkeypatch.setattr(hook, "get_conn", lambda: bad)
    with pytest.raises(ValueError):
        hook.alter_schema("<x>: nonsense .")
    assert bad.calls == 1
    always = _Alters(*[pending] * hook.max_retries)
    monkeypatch.setattr(hook, "get_conn", lambda: always)
    with pytest.raises(RetriableError):
        hook.alter_schema("<x>: int .")
    assert always.calls == hook.max_retries
