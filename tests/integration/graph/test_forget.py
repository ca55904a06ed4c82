"""Forgetting a repository (graph.writer.forget_repository, what the test clean-up and the API
benchmark use) leaves nothing of it in the shared Dgraph: not its nodes, not its timeline state,
aggregates or manifest records (which carry no schema type, so deleting their uid alone used to
keep them: 521 manifest records of a removed benchmark repository were found on the stack)."""

from __future__ import annotations

from datetime import UTC, datetime

from freshpoc_tasks.graph.records import state_xid
from freshpoc_tasks.graph.synthetic import synthetic_delta
from freshpoc_tasks.graph.writer import forget_repository


def _left(hook, repo_id: str) -> dict[str, int]:
    q = ("query q($r: string, $s: string) { n(func: eq(repo, $r)) { c: count(uid) } "
         "f(func: eq(fp_repo, $r)) { c: count(uid) } s(func: eq(xid, $s)) { c: count(uid) } }")
    found = hook.query(q, {"$r": repo_id, "$s": state_xid(repo_id)})
    return {k: found[k][0]["c"] for k in ("n", "f", "s")}


def test_forget_leaves_no_node_state_aggregate_or_manifest(shared_writer, repo_id) -> None:
    delta = synthetic_delta(repo_id, "a" * 40, files=30, functions_per_file=5)
    shared_writer.apply(delta, committed_at=datetime(2024, 5, 1, tzinfo=UTC))
    before = _left(shared_writer.hook, repo_id)
    assert before["n"] > 150 and before["f"] > 0 and before["s"] == 1
    deleted = forget_repository(shared_writer.hook, repo_id, batch=40)  # several transactions
    assert deleted == before["n"]
    assert _left(shared_writer.hook, repo_id) == {"n": 0, "f": 0, "s": 0}
    assert forget_repository(shared_writer.hook, repo_id) == 0  # again: nothing to do
