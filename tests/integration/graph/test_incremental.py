"""Incremental writes on a PRIVATE Dgraph: a sequence of commits written the quick way (reading
only what changed since the newest commit, through the writer's manifest) leaves the same
graph, counts and diffs as the same sequence written by reading the whole stored state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from freshpoc_tasks.contracts.graph import Edge, GraphDelta
from freshpoc_tasks.graph.export import canonical_export
from freshpoc_tasks.graph.plan import manifest_items
from freshpoc_tasks.graph.synthetic import synthetic_delta
from freshpoc_tasks.graph.writer import GraphWriter, state_sum
from freshpoc_tasks.hooks.dgraph import DgraphHook

REPO = "inc/repo"


class WholeReadWriter(GraphWriter):
    """The writer with its incremental path turned off: every write reads the whole state."""

    def _incremental(self, *args: Any, **kwargs: Any) -> Any:
        return None


class SendEverythingWriter(GraphWriter):
    """The writer as it was before updates sent only the predicates that differ from the stored
    ones: every update sends the node's whole record and every delete (the reference)."""

    def _write(self, *args: Any, **kwargs: Any) -> int:
        return super()._write(*args[:5], stored_rows=None)


def _edited(n: Any, sha: str, i: int) -> Any:
    """A changed function: a new docstring; every third loses it (a predicate to delete), gains
    a decorator (a list field) and, every fifth, a new span (ints)."""
    props = {**n.props, "docstring": f"v{sha}"}
    if i % 3 == 0:
        props.pop("docstring")
        props["decorators"] = [*props.get("decorators", []), f"d_{sha}"]
    return n.model_copy(update={"props": props, "span": (i, i + 3) if i % 5 == 0 else n.span})


def _commit(base: GraphDelta, sha: str, change: int) -> GraphDelta:
    """``change`` functions change (:func:`_edited`), one function goes (with its edges), one
    comes, one function calls a placeholder."""
    fns = [n for n in base.nodes if n.type == "py.function"]
    picked = {fns[(i * 37 + change) % len(fns)].id: i for i in range(change)}
    gone = fns[(change * 11) % len(fns)].id
    nodes = [_edited(n, sha, picked[n.id]) if n.id in picked else n for n in base.nodes if n.id != gone]
    extra = fns[0].model_copy(update={"id": f"{fns[0].id}_{sha}", "key": f"{fns[0].key}_{sha}"})
    edges = [e for e in base.edges if gone not in (e.src, e.dst)]
    edges.append(Edge(type="calls", src=extra.id, dst=fns[1].id))
    ghost = f"py.function:{REPO}:ghost"  # a placeholder: named by an edge, not a node
    edges.append(Edge(type="calls", src=fns[change].id, dst=ghost))
    return base.model_copy(update={"commit": sha, "nodes": [*nodes, extra], "edges": edges})


def _day(d: int) -> datetime:
    return datetime(2024, 6, d, tzinfo=UTC)


def test_quick_and_whole_writes_leave_the_same_graph(private_dgraph, onto, monkeypatch):
    base = synthetic_delta(REPO, "c1", files=60, functions_per_file=6)
    c2, c3 = _commit(base, "c2", 5), _commit(base, "c3", 9)
    c25 = _commit(base, "c25", 2)
    # (delta, day): first write, next commits, a rerun, a backfill between two, then the newest
    steps = [(base, 1), (c2, 2), (c2, 2), (c3, 4), (c25, 3), (_commit(base, "c4", 4), 5), (c3, 4),
             (_commit(base, "c5", 7), 6)]
    runs: dict[str, list[Any]] = {}
    with DgraphHook(private_dgraph.conn_id) as hook:
        for name, cls in (("whole", WholeReadWriter), ("quick", GraphWriter), ("all", SendEverythingWriter)):
            hook.drop_all()
            writer = cls(hook, onto, batch_size=200)
            writer.ensure_schema()
            runs[name] = [writer.apply(delta, committed_at=_day(day)) for delta, day in steps]
            runs[name + "_export"] = list(canonical_export(hook, onto))
            if name == "quick":  # the head's sum is the one of the state items its buckets hold
                man = writer._read_manifest(REPO)
                texts = writer._read_texts([uid for b, (uid, _) in man.buckets.items() if b[0] == "s"])
                items = [kv for t in texts.values() for kv in manifest_items(t).items()]
                assert int(man.head["state"], 16) == state_sum(items) and len(items) > 500
                # The newest commit again: known from the sum, no bucket text built.
                with monkeypatch.context() as m:
                    m.setattr("freshpoc_tasks.graph.plan.manifest_groups", None)
                    rerun = writer.apply(steps[-1][0], committed_at=_day(steps[-1][1]))
                first = runs["quick"][-1].diff  # (a rerun's changed nodes carry no field values)
                assert rerun.transactions == 0 and rerun.diff == first.model_copy(update={
                    "nodes_changed": [c.model_copy(update={"fields": None}) for c in first.nodes_changed]})
    assert runs["quick_export"] == runs["whole_export"] == runs["all_export"]
    for whole, quick in zip(runs["whole"], runs["quick"], strict=True):
        assert quick.counts == whole.counts
        assert quick.counts_by_file == whole.counts_by_file
        assert quick.diff == whole.diff
        if whole.aggregates is not None and quick.aggregates is not None:
            assert quick.aggregates.digest == whole.aggregates.digest
    quick = [r.timings["incremental"] for r in runs["quick"]]
    # c2 after c1, c2 again, c3 after c2 are quick; the backfill (c25) and the write after it
    # (its manifest left marked) read everything, and so does c3 again (older than c4); the
    # whole read after the backfill wrote a fresh manifest, so c5 is quick again.
    assert quick == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert runs["quick"][2].transactions == 0 and sum(runs["quick"][2].counts.values()) == 0
    assert 0 < sum(runs["quick"][1].counts.values()) < 40
