"""Crash drill on a PRIVATE Dgraph: kill -9 the alpha in the middle of a large write, let it
restart, run the write again: the canonical export equals the one of a clean single run.

The crashing writer's hook gets one attempt per transaction: DgraphHook retries work an
unreachable alpha refused (issue 18: another alpha of a cluster takes it), and supervisord brings
this one alpha back within the retries' backoff, so with retries the write would often just go
on. The drill is about the other case, a write that dies half-way (the retries exhausted, the
worker killed), and what the rerun makes of it; tests/integration/graph/test_alpha_unreachable.py
covers the retries themselves."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from freshpoc_tasks.graph.export import canonical_export
from freshpoc_tasks.graph.synthetic import synthetic_delta
from freshpoc_tasks.graph.writer import GraphWriter
from freshpoc_tasks.hooks.dgraph import DgraphHook

WHEN = datetime(2024, 5, 1, tzinfo=UTC)


class KillDuringMutation:
    """Passes calls to the hook; on the ``at``-th mutation, kill -9 the alpha while it is sent."""

    def __init__(self, hook: DgraphHook, pid: int, at: int) -> None:
        self.hook, self.pid, self.at, self.calls = hook, pid, at, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.hook, name)

    def mutate(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.at:
            threading.Timer(0.02, os.kill, (self.pid, signal.SIGKILL)).start()
            time.sleep(0.01)
        return self.hook.mutate(*args, **kwargs)


def _node_count(hook: DgraphHook) -> int:
    return hook.query("{ c(func: has(xid)) { n: count(uid) } }")["c"][0]["n"]


def _restart(pd) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # supervisord restarts an unexpected exit by itself
        if pd.stack.sup.states().get("dgraph-alpha") == "RUNNING":
            break
        time.sleep(0.5)
    else:
        pd.stack.sup.start("dgraph-alpha")
    pd.stack._wait_healthy(pd.stack.service("dgraph"))


def test_kill_9_mid_write_then_rerun_equals_a_clean_run(private_dgraph, onto):
    delta = synthetic_delta("drill/repo", "d" * 40, files=500, functions_per_file=10)
    total = len({n.id for n in delta.nodes})
    with DgraphHook(private_dgraph.conn_id) as hook:
        writer = GraphWriter(hook, onto, batch_size=500)
        writer.ensure_schema()
        writer.apply(delta, committed_at=WHEN)
        clean = list(canonical_export(hook, onto))
        hook.drop_all()
        writer.ensure_schema()
        pid = private_dgraph.alpha_pid()
        hook.max_retries = 1
        crashing = GraphWriter(KillDuringMutation(hook, pid, at=6), onto, batch_size=500)
        with pytest.raises(Exception):  # noqa: B017 - whatever gRPC raises when the server dies
            crashing.apply(delta, committed_at=WHEN)
    _restart(private_dgraph)
    assert private_dgraph.alpha_pid() != pid  # the alpha really died and is a new process
    with DgraphHook(private_dgraph.conn_id) as hook:
        partial = _node_count(hook)
        assert 0 < partial < total + 1  # some batches committed, not all (+1: the ontology node)
        rerun = GraphWriter(hook, onto, batch_size=500).apply(delta, committed_at=WHEN)
        assert rerun.counts["nodes_created"] == total - (partial - 1)
        assert list(canonical_export(hook, onto)) == clean
        again = GraphWriter(hook, onto).apply(delta, committed_at=WHEN)
        assert sum(again.counts.values()) == 0


def test_kill_9_mid_incremental_write_then_rerun_equals_a_clean_run(private_dgraph, onto):
    """The next commit is written from the manifest (only what changed); killed in the middle, the
    manifest stays marked, and the rerun reads the whole state and converges all the same."""
    first = synthetic_delta("drill/next", "e" * 40, files=300, functions_per_file=10)
    second = synthetic_delta("drill/next", "f" * 40, files=300, functions_per_file=10, variant=1)
    later = datetime(2024, 5, 2, tzinfo=UTC)
    with DgraphHook(private_dgraph.conn_id) as hook:
        hook.drop_all()
        writer = GraphWriter(hook, onto, batch_size=50)
        writer.ensure_schema()
        writer.apply(first, committed_at=WHEN)
        assert writer.apply(second, committed_at=later).timings["incremental"] == 1.0
        clean = list(canonical_export(hook, onto))
        hook.drop_all()
        writer.ensure_schema()
        writer.apply(first, committed_at=WHEN)
        pid = private_dgraph.alpha_pid()
        hook.max_retries = 1
        crashing = GraphWriter(KillDuringMutation(hook, pid, at=5), onto, batch_size=50)
        with pytest.raises(Exception):  # noqa: B017 - whatever gRPC raises when the server dies
            crashing.apply(second, committed_at=later)
    _restart(private_dgraph)
    assert private_dgraph.alpha_pid() != pid
    with DgraphHook(private_dgraph.conn_id) as hook:
        rerun = GraphWriter(hook, onto, batch_size=50).apply(second, committed_at=later)
        assert rerun.timings["incremental"] == 0.0  # the marked manifest sent it to a whole read
        assert list(canonical_export(hook, onto)) == clean
        again = GraphWriter(hook, onto).apply(second, committed_at=later)
        assert sum(again.counts.values()) == 0 and again.timings["incremental"] == 1.0
