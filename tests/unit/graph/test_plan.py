"""The pure write planner: counts, ownership, validation, and closing — no database."""

from __future__ import annotations

from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node
from freshpoc_tasks.graph import validity as v
from freshpoc_tasks.graph.ontology import load_graph_ontology
from freshpoc_tasks.graph.plan import RepoState, StoredEdge, StoredNode, plan_write

ONTO = load_graph_ontology()
R = "local/p"


def _n(key: str, doc: str = "d") -> Node:
    return Node(id=f"py.function:{R}:{key}", type="py.function", scope=R, key=key, name=key, path="m.py",
                props={"docstring": doc})


def _store(state: RepoState, plan) -> RepoState:
    """What the writer would leave in Dgraph, as the next plan's stored state."""
    for i, w in enumerate(plan.nodes):
        old = state.nodes.get(w.xid)
        state.nodes[w.xid] = StoredNode(uid=old.uid if old else f"0x{i + 100:x}", xid=w.xid,
                                        ntype=w.set.get("ntype", old.ntype if old else None),
                                        repo=w.set.get("repo"), path=w.path, runs=v.decode(w.set["vs"]),
                                        h=w.set.get("h", old.h if old else None))
    for e in plan.edges:
        facets = dict(e.facets)
        runs = v.decode(facets.pop("vs"))
        h = facets.pop("h", None)
        facets.pop("vf"), facets.pop("vt"), facets.pop("vg", None)
        state.edges[(e.type, e.src, e.dst)] = StoredEdge(e.type, e.src, e.dst, "0x1", runs, h, facets)
    state.timeline = plan.timeline
    return state


def test_write_then_change_then_close():
    a, b = _n("a"), _n("b")
    d1 = GraphDelta(repo_id=R, commit="c1", ontology_version="0.2.0", nodes=[a, b],
                    edges=[Edge(type="calls", src=a.id, dst=b.id)])
    p1 = plan_write(d1, (10, "c1"), RepoState(R), ONTO)
    assert p1.counts == {"nodes_created": 2, "nodes_updated": 0, "nodes_closed": 0, "edges_created": 1,
                         "edges_updated": 0, "edges_closed": 0}
    assert p1.counts_by_file == {"m.py": {**p1.counts}}
    state = _store(RepoState(R), p1)
    assert plan_write(d1, (10, "c1"), state, ONTO).nodes == []  # idempotent: nothing to send
    d2 = GraphDelta(repo_id=R, commit="c2", ontology_version="0.2.0", nodes=[_n("a", "new doc")])
    p2 = plan_write(d2, (20, "c2"), state, ONTO)
    assert p2.counts == {"nodes_created": 0, "nodes_updated": 1, "nodes_closed": 1, "edges_created": 0,
                         "edges_updated": 0, "edges_closed": 1}
    assert [n.id for n in p2.diff.nodes_changed] == [a.id]
    assert [n.id for n in p2.diff.nodes_removed] == [b.id]
    assert [(e.src, e.dst) for e in p2.diff.edges_removed] == [(a.id, b.id)]
    closed = next(w for w in p2.nodes if w.xid == b.id)
    assert (closed.set["vf"], closed.set["vt"]) == (10, 20) and "docstring" not in closed.set


def test_unknown_types_are_proposed_and_overlong_ids_skipped():
    odd = Node(id=f"py.lambda:{R}:x", type="py.lambda", scope=R, key="x", name="x")
    long = _n("k" * 40000)
    d = GraphDelta(repo_id=R, commit="c1", ontology_version="0.2.0", nodes=[odd, long, _n("ok")],
                   edges=[Edge(type="summons", src=_n("ok").id, dst=odd.id)])
    p = plan_write(d, (10, "c1"), RepoState(R), ONTO)
    assert p.proposed == [f"node py.lambda: py.lambda:{R}:x",
                          f"edge summons: {_n('ok').id} -> py.lambda:{R}:x"]
    assert len(p.skipped) == 1 and p.skipped[0].startswith("node id of 40020 bytes")
    assert [w.xid for w in p.nodes] == [_n("ok").id]


def test_shared_nodes_are_timeless_and_not_in_the_diff():
    dist = Node(id="py.distribution:pypi:rq", type="py.distribution", scope="pypi", key="rq", name="rq")
    d = GraphDelta(repo_id=R, commit="c1", ontology_version="0.2.0", nodes=[dist])
    p = plan_write(d, (10, "c1"), RepoState(R), ONTO)
    w = p.nodes[0]
    assert (w.owned, w.set["vf"], w.set["vt"]) == (False, 0, v.OPEN) and "repo" not in w.set
    assert p.diff.nodes_added == []


def _next_commit(delta: GraphDelta) -> GraphDelta:
    """Three functions changed, one removed with its edges, one added (file of the first)."""
    fns = [n for n in delta.nodes if n.type == "py.function"]
    changed = {fns[3].id, fns[40].id, fns[77].id}
    gone = fns[12].id
    nodes = [n.model_copy(update={"props": {**n.props, "docstring": "new"}}) if n.id in changed else n
             for n in delta.nodes if n.id != gone]
    extra = fns[0].model_copy(update={"id": fns[0].id + "_new", "key": fns[0].key + "_new"})
    edges = [e for e in delta.edges if gone not in (e.src, e.dst)]
    edges.append(Edge(type="calls", src=extra.id, dst=fns[1].id))
    return delta.model_copy(update={"commit": "c2", "nodes": [*nodes, extra], "edges": edges})


def _writes(plan) -> tuple:
    return (sorted((w.xid, sorted(w.set.items()), w.delete) for w in plan.nodes),
            sorted((e.type, e.src, e.dst, sorted(e.facets.items())) for e in plan.edges))


def test_a_plan_of_only_what_changed_writes_what_the_whole_plan_writes():
    """The writer's incremental path: items whose hash at the newest point equals the delta's are
    left out of the plan and of its state; the writes, counts and diff stay the same."""
    from freshpoc_tasks.graph.plan import Unchanged, delta_items
    from freshpoc_tasks.graph.synthetic import synthetic_delta

    d1 = synthetic_delta(R, "c1", files=12, functions_per_file=8)
    state = _store(RepoState(R), plan_write(d1, (10, "c1"), RepoState(R), ONTO))
    d2 = _next_commit(d1)
    whole = plan_write(d2, (20, "c2"), state, ONTO)
    items = delta_items(d2, ONTO)
    last = {**{x: v.value_at(n.runs, (10, "c1")) for x, n in state.nodes.items() if n.repo == R},
            **{k: v.value_at(e.runs, (10, "c1")) for k, e in state.edges.items()}}
    unchanged = Unchanged()
    for key, h in items.values.items():
        if last.get(key) == h:
            (unchanged.edges if isinstance(key, tuple) else unchanged.nodes).add(key)
    touched = {k for k in [*items.values, *(k for k, h in last.items() if h)]
               if k not in unchanged.nodes and k not in unchanged.edges}
    assert 0 < len(touched) < 20
    part = RepoState(R, timeline=state.timeline)
    part.nodes = {x: n for x, n in state.nodes.items() if x in touched or n.repo != R}
    part.edges = {k: e for k, e in state.edges.items() if k in touched}
    quick = plan_write(d2, (20, "c2"), part, ONTO, unchanged)
    assert _writes(quick) == _writes(whole)
    assert quick.counts == whole.counts and quick.counts_by_file == whole.counts_by_file
    assert quick.diff == whole.diff and quick.befores == whole.befores
    assert {k: h for k, h in quick.values.items()} == {k: h for k, h in whole.values.items() if k in touched}


def test_manifest_buckets_group_a_file_and_read_back():
    from freshpoc_tasks.graph.plan import delta_items, manifest_bucket, manifest_items, manifest_texts
    from freshpoc_tasks.graph.synthetic import synthetic_delta

    items = delta_items(synthetic_delta(R, "c1", files=5, functions_per_file=3), ONTO)
    hist = ONTO.lifecycle
    texts = manifest_texts(items.values.items(), items.paths, lambda t: hist(t) == "history")
    back = {k: h for text in texts.values() for k, h in manifest_items(text).items()}
    assert back == items.values
    fn = f"py.function:{R}:pkg1.mod1.f0"
    file_id = f"file:{R}:pkg1/mod1.py"
    assert manifest_bucket(fn, items.paths, lambda t: False) == manifest_bucket(file_id, items.paths,
                                                                                lambda t: False)


def test_a_node_and_an_edge_back_after_a_gap_are_marked_and_unmarked_when_it_fills():
    """vg marks exactly the records whose runs have a hole (the as-of and diff questions read
    those apart); a backfill that fills the hole deletes the mark."""
    a, b = _n("a"), _n("b")
    both = [a, b], [Edge(type="calls", src=a.id, dst=b.id)]

    def delta(commit, nodes, edges=()):
        return GraphDelta(repo_id=R, commit=commit, ontology_version="0.5.0", nodes=nodes, edges=list(edges))

    state = RepoState(R)
    for point, d in (((10, "c1"), delta("c1", *both)), ((30, "c3"), delta("c3", [a]))):
        state = _store(state, plan_write(d, point, state, ONTO))
    back = plan_write(delta("c4", *both), (40, "c4"), state, ONTO)
    node = next(w for w in back.nodes if w.xid == b.id)
    edge = next(e for e in back.edges if e.src == a.id)
    # One hole, [c3, c4): DQL tests it beside the envelope; the edge's runs say it in a facet.
    assert (node.set["vhf"], node.set["vht"]) == (30, 40) and "vg" not in node.set
    assert edge.facets.get("vg") is True
    assert not any("vhf" in w.set for w in back.nodes if w.xid != b.id)  # a had no hole
    assert [n.id for n in back.diff.nodes_added] == [b.id]
    state = _store(state, back)
    # Commit c3 processed again with b in it (a backfill's correction): the hole is gone.
    filled = plan_write(delta("c3", *both), (30, "c3"), state, ONTO)
    node = next(w for w in filled.nodes if w.xid == b.id)
    edge = next(e for e in filled.edges if e.src == a.id)
    assert {"vhf", "vht"} <= set(node.delete) and not {"vhf", "vht"} & set(node.set)
    assert "vg" not in edge.facets
    assert v.decode(node.set["vs"]) == [((10, "c1"), None, v.decode(node.set["vs"])[0][2])]


def test_a_node_with_two_holes_is_marked_for_its_runs_to_decide():
    a = _n("a")
    state = RepoState(R)
    for t in (10, 20, 30, 40):  # present, absent, present, absent
        d = GraphDelta(repo_id=R, commit=f"c{t}", ontology_version="0.5.0",
                       nodes=[a] if t in (10, 30) else [])
        state = _store(state, plan_write(d, (t, f"c{t}"), state, ONTO))
    d = GraphDelta(repo_id=R, commit="c50", ontology_version="0.5.0", nodes=[a])
    w = next(w for w in plan_write(d, (50, "c50"), state, ONTO).nodes if w.xid == a.id)
    assert w.set["vg"] is True and w.set["vb"] == [10, 20, 30, 40, 50]
    assert {"vhf", "vht"} <= set(w.delete) and "vhf" not in w.set  # its one hole became two
