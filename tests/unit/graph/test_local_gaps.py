"""The local store's answers over a gap in history, and folders written before the gap marks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node
from freshpoc_tasks.graph import validity as v
from freshpoc_tasks.graph.local_store import STATE_FILE, LocalGraph, LocalStore

R = "local/gaps"


def _n(key: str) -> Node:
    return Node(id=f"py.function:{R}:{key}", type="py.function", scope=R, key=key, name=key, path="m.py")


def _graph() -> tuple[LocalGraph, list[int]]:
    """a always; b at commits 1, 3, 5 (two holes); c at 1-3 and 5 (one hole); a calls b when both."""
    a, b, c = _n("a"), _n("b"), _n("c")
    calls = Edge(type="calls", src=a.id, dst=b.id)
    g = LocalGraph()
    times = []
    for day in range(1, 6):
        nodes = [a, *([b] if day % 2 else []), *([c] if day != 4 else [])]
        when = datetime(2024, 1, day, tzinfo=UTC)
        g.apply(GraphDelta(repo_id=R, commit=f"{day:040x}", ontology_version="0.5.0", nodes=nodes,
                           edges=[calls] if day % 2 else []), when)
        times.append(v.to_us(when))
    return g, times


def test_the_local_store_answers_a_gap_by_the_runs():
    g, (t1, t2, t3, t4, t5) = _graph()
    a, b, c = (f"py.function:{R}:{k}" for k in "abc")
    assert g.nodes[b]["vg"] is True and g.nodes[b]["vb"] == [t1, t2, t3, t4, t5]
    assert (g.nodes[c]["vhf"], g.nodes[c]["vht"]) == (t4, t5) and "vg" not in g.nodes[c]
    assert g.out[a][("calls", b)]["vg"] is True
    store = LocalStore(g)
    assert [r["xid"] for r in store.nodes_at(R, t2)] == [a, c]
    assert [r["xid"] for r in store.nodes_at(R, t4)] == [a]
    assert store.node(b, t4) is None and store.node(c, t4) is None and store.node(b, t5) is not None
    assert store.walk("deps", a, "down", 1, t2).nodes == []
    assert [n["xid"] for n in store.walk("deps", a, "down", 1, t3).nodes] == [b]
    assert [r["xid"] for r in store.changes(R, t1, t2)[1]] == [b]
    assert [r["xid"] for r in store.changes(R, t3, t4)[1]] == [b, c]
    assert [r["xid"] for r in store.changes(R, t4, t5)[0]] == [b, c]
    assert store.changes(R, t1, t5) == ([], [])


def test_a_folder_written_before_the_marks_is_marked_on_load(tmp_path):
    g, (_t1, t2, _t3, t4, _t5) = _graph()
    g.save(tmp_path)
    marks = {"vg", "vb", "vhf", "vht"}
    for name in ("nodes.jsonl", "edges.jsonl"):  # as format 1 wrote them: no holes recorded
        path = tmp_path / name
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({k: x for k, x in r.items() if k not in marks}) + "\n"
                                for r in rows))
    state = json.loads((tmp_path / STATE_FILE).read_text())
    (tmp_path / STATE_FILE).write_text(json.dumps({**state, "format": 1}))
    loaded = LocalGraph.load(tmp_path)
    assert loaded.nodes == g.nodes and dict(loaded.out) == dict(g.out)
    assert [r["xid"] for r in LocalStore(loaded).nodes_at(R, t2)] == [f"py.function:{R}:{k}" for k in "ac"]
    assert [r["xid"] for r in LocalStore(loaded).nodes_at(R, t4)] == [f"py.function:{R}:a"]
