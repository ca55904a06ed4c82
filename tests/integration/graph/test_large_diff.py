"""A diff of more than 1,000 nodes on a PRIVATE Dgraph. Dgraph returns at most 1,000 rows of an
ordered block that has no ``first`` (it did for the store's whole-diff question: the impact
report and the MCP diff tool saw the first 1,000 removed nodes of a larger change); the local
store has no such limit, and both must give the whole lists."""

from __future__ import annotations

from datetime import UTC, datetime

from freshpoc_tasks.api.store import GraphStore
from freshpoc_tasks.graph.local_store import LocalGraph, LocalStore
from freshpoc_tasks.graph.queries import changes_page
from freshpoc_tasks.graph.synthetic import synthetic_delta
from freshpoc_tasks.graph.validity import to_us
from freshpoc_tasks.graph.writer import GraphWriter
from freshpoc_tasks.hooks.dgraph import DgraphHook

REPO = "big/diff"


def test_a_diff_of_more_than_a_thousand_nodes_is_whole(private_dgraph, onto):
    base = synthetic_delta(REPO, "c1", files=60, functions_per_file=21)
    gone = {n.id for n in base.nodes if n.type == "py.function"}
    second = base.model_copy(update={
        "commit": "c2", "nodes": [n for n in base.nodes if n.id not in gone],
        "edges": [e for e in base.edges if e.src not in gone and e.dst not in gone]})
    days = [datetime(2024, 7, d, tzinfo=UTC) for d in (1, 2)]
    local = LocalGraph()
    with DgraphHook(private_dgraph.conn_id) as hook:
        hook.drop_all()
        writer = GraphWriter(hook, onto)
        writer.ensure_schema()
        for delta, day in zip((base, second), days, strict=True):
            writer.apply(delta, committed_at=day)
            local.apply(delta, day, onto)
        dgraph, files = GraphStore(hook), LocalStore(local)
        t1, t2 = (to_us(d) for d in days)
        added, removed = dgraph.changes(REPO, t1, t2)
        assert len(gone) > 1000 and added == [] and {r["xid"] for r in removed} == gone
        assert (added, removed) == files.changes(REPO, t1, t2)
        back = dgraph.changes(REPO, t2, t1)  # going back: the functions are what was added
        assert back == (removed, []) == files.changes(REPO, t2, t1)
        whole, counts = changes_page(dgraph, REPO, t1, t2, 5000, 0)
        assert counts == {"added": 0, "removed": len(gone)} and [r["xid"] for r in whole] == [
            r["xid"] for r in removed]
        assert changes_page(dgraph, REPO, t1, t2, 7, 1100) == (whole[1100:1107], counts)
