"""GraphWriter against the shared Dgraph: idempotence, hostile strings, counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node
from freshpoc_tasks.graph import queries
from freshpoc_tasks.graph.records import decode_node_view, node_view

ZERO = dict.fromkeys(("nodes_created", "nodes_updated", "nodes_closed", "edges_created", "edges_updated",
                      "edges_closed"), 0)
T1 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

HOSTILE = [
    'quote " and \' and \\ backslash',
    "braces { } ) ( ] [ and } delete { * * * } and {\n uid }",
    "$x $t ${r} $$ dollar",
    "line\nbreak\r\nand\ttab and \u2028 separator",
    'query q($x: string) { n(func: has(xid)) { uid } } # mutation { set { * * * } }',
    "upsert { query { v as var(func: has(xid)) } mutation { delete { uid(v) * * . } } }",
    "<xid> \"x\" . _:b <name> \"y\" .",
    "unicode ünïcødé 🚀 and NUL-free",
]


def _delta(repo: str, commit: str, nodes: list[Node], edges: list[Edge]) -> GraphDelta:
    return GraphDelta(repo_id=repo, commit=commit, ontology_version="0.2.0", nodes=nodes, edges=edges)


def _fn(repo: str, key: str, name: str, doc: str) -> Node:
    return Node(id=f"py.function:{repo}:{key}", type="py.function", scope=repo, key=key, name=name,
                path="m.py", span=(1, 2), props={"docstring": doc, "decorators": ["b", "a", "b"],
                                                 "complexity": 3, "is_async": False, "weird": {"k": [1]}})


def test_same_delta_twice_creates_nothing(shared_writer, repo_id):
    nodes = [_fn(repo_id, f"m.f{i}", f"f{i}", "doc") for i in range(50)]
    dist = f"dist-{repo_id.rsplit('-', 1)[1]}"  # shared (timeless) node, new for this test
    nodes.append(Node(id=f"py.distribution:pypi:{dist}", type="py.distribution", scope="pypi",
                      key=dist, name=dist, props={"import_name": dist, "stdlib": False}))
    edges = [Edge(type="calls", src=nodes[i].id, dst=nodes[i + 1].id, confidence=0.5) for i in range(49)]
    delta = _delta(repo_id, "c1", nodes, edges)
    first = shared_writer.apply(delta, committed_at=T1)
    assert first.counts["nodes_created"] == 51
    assert first.counts["edges_created"] == 49
    assert first.counts_by_file["m.py"]["nodes_created"] == 50
    second = shared_writer.apply(delta, committed_at=T1)
    assert second.counts == ZERO
    assert second.transactions == 0
    assert second.diff == first.diff  # the diff artifact is idempotent too
    assert len(second.diff.nodes_added) == 50 and len(second.diff.edges_added) == 49


def test_hostile_strings_round_trip_and_never_alter_a_query(shared_writer, repo_id):
    hook = shared_writer.hook
    megabyte = ("{ } $ \" \n delete " * 70000)[: 1 << 20]
    nodes = [_fn(repo_id, f"m.h{i}{s[:40]}", s, s) for i, s in enumerate(HOSTILE)]
    nodes.append(_fn(repo_id, "m.big", megabyte, megabyte))
    notes = [*HOSTILE, megabyte]
    edges = [Edge(type="calls", src=nodes[0].id, dst=nodes[i].id, props={"note": notes[i]})
             for i in range(1, len(nodes))]
    delta = _delta(repo_id, "c1", nodes, edges)
    res = shared_writer.apply(delta, committed_at=T1)
    assert res.skipped == [] and res.counts["nodes_created"] == len(nodes)
    for node in nodes:
        dql, variables = queries.node_by_xid(node.id)
        got = hook.query(dql, variables)["n"]
        assert len(got) == 1, node.id[:80]
        assert got[0]["xid"] == node.id
        assert decode_node_view(got[0], shared_writer.onto) == node_view(node)
    # A hostile value as a variable matches only itself: the repository still has exactly these.
    dql, variables = queries.nodes_of_repo(repo_id, first=100)
    assert {n["xid"] for n in hook.query(dql, variables)["n"]} == {n.id for n in nodes}
    dql, variables = queries.nodes_of_repo(HOSTILE[4])
    assert hook.query(dql, variables)["n"] == []
    # Edge facets with hostile text round-trip too (undeclared props live in xprops).
    dql, variables = queries.neighbourhood(shared_writer.onto, nodes[0].id)
    out = hook.query(dql, variables)["n"][0]["calls"]
    assert sorted(json.loads(e["calls|xprops"])["note"] for e in out) == sorted(notes[1:])
    assert shared_writer.apply(delta, committed_at=T1).counts == ZERO


def test_overlong_id_is_skipped_with_a_reason(shared_writer, repo_id):
    long_key = "k" * 40000
    delta = _delta(repo_id, "c1", [_fn(repo_id, long_key, "x", "d"), _fn(repo_id, "ok", "ok", "d")], [])
    res = shared_writer.apply(delta, committed_at=T1)
    assert res.counts["nodes_created"] == 1
    assert len(res.skipped) == 1 and res.skipped[0].startswith(
        f"node id of {len(repo_id) + 40013} bytes (limit 32768): py.function:{repo_id}:kkk")
