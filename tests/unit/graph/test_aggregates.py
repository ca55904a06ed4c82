"""Aggregates per (repository, commit): one meaning (present at the commit), computed from the
writer's plan, equal to counting the graph as of the commit, and paged without reading it all."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node, node_id
from freshpoc_tasks.graph import aggregates as ag
from freshpoc_tasks.graph import queries as gq
from freshpoc_tasks.graph.local_store import LocalGraph, LocalStore
from freshpoc_tasks.graph.ontology import generate_schema, load_graph_ontology, parse_graph_ontology
from freshpoc_tasks.graph.validity import to_us

REPO = "test/agg"
ONTO = load_graph_ontology()
T = [datetime(2024, m, 1, tzinfo=UTC) for m in (1, 2, 3)]


def _delta(commit: str, files: dict[str, tuple[int, int]], commits: list[str],
           couples: list[tuple[str, str, int, float]] = ()) -> GraphDelta:
    """files: path -> (revisions, lines_code); commits: shas this delta carries (history)."""
    nodes = [Node(id=node_id("repository", REPO, REPO), type="repository", scope=REPO, key=REPO, name=REPO)]
    edges = []
    folders = sorted({p.split("/")[0] for p in files if "/" in p})
    for f in folders:
        nodes.append(Node(id=node_id("folder", REPO, f), type="folder", scope=REPO, key=f, name=f, path=f,
                          props={"path": f, "files": 2, "main_author": "ann@example.com", "bus_factor": 1}))
    for path, (revs, loc) in files.items():
        nodes.append(Node(id=node_id("file", REPO, path), type="file", scope=REPO, key=path, name=path,
                          path=path, props={"path": path, "language": "Python", "revisions": revs,
                                            "lines_code": loc, "size": loc * 10}))
    for sha in commits:
        cid = node_id("commit", REPO, sha)
        nodes.append(Node(id=cid, type="commit", scope=REPO, key=sha, name=sha, props={"sha": sha}))
        pid = node_id("person", "people", "ann@example.com")
        nodes.append(Node(id=pid, type="person", scope="people", key="ann@example.com", name="Ann"))
        edges.append(Edge(type="authored_by", src=cid, dst=pid))
    for a, b, shared, degree in couples:
        edges.append(Edge(type="coupled_with", src=node_id("file", REPO, a), dst=node_id("file", REPO, b),
                          props={"shared_revisions": shared, "degree": degree}))
    return GraphDelta(repo_id=REPO, commit=commit, ontology_version=ONTO.version,
                      nodes=list({n.id: n for n in nodes}.values()), edges=edges)


def _history() -> tuple[LocalGraph, list[GraphDelta]]:
    g = LocalGraph()
    d1 = _delta("c1", {"a/x.py": (3, 10), "a/y.py": (1, 50), "b/z.py": (0, 5)}, ["c1"],
                [("a/x.py", "a/y.py", 2, 80.0)])
    # The second delta repeats no history (an incremental mine): c1 must still count.
    d2 = _delta("c2", {"a/x.py": (4, 10), "b/z.py": (1, 5), "b/w.py": (2, 7)}, ["c2"],
                [("a/x.py", "a/y.py", 2, 80.0), ("a/x.py", "b/z.py", 1, 40.0)])
    for d, t in zip((d1, d2), T, strict=False):
        g.apply(d, t, ONTO)
    return g, [d1, d2]


def _envelope_counts(g: LocalGraph, at: int) -> dict[str, int]:
    c = Counter(r["ntype"] for r in g.nodes.values()
                if r.get("repo") == REPO and r.get("vf") is not None and r["vf"] <= at < r["vt"])
    return dict(sorted(c.items()))


def test_counts_are_the_nodes_present_at_the_commit():
    g, _ = _history()
    store = LocalStore(g, ONTO)
    for (us, sha) in g.timelines[REPO]:
        agg = store.aggregates(REPO, sha)
        assert agg.counts_by_type == _envelope_counts(g, us)
        assert store.counts_by_type(REPO, us) == agg.counts_by_type
    first, second = (store.aggregates(REPO, c) for c in ("c1", "c2"))
    assert first.counts_by_type == {"commit": 1, "file": 3, "folder": 2, "repository": 1}
    assert second.counts_by_type == {"commit": 2, "file": 3, "folder": 2, "repository": 1}
    assert store.aggregates(REPO) == second  # the newest
    assert store.counts_by_type(REPO, to_us(T[0]) + 5) == first.counts_by_type  # between: c1's state
    assert store.counts_by_type(REPO, to_us(T[0]) - 1) == {}


def test_figures_are_those_of_the_commit_not_the_latest():
    g, _ = _history()
    first = LocalStore(g, ONTO).aggregates(REPO, "c1")
    assert [h["path"] for h in first.hotspots] == ["a/y.py", "a/x.py"]  # 50 > 30; z.py never changed
    assert [h["rank"] for h in first.hotspots] == [1, 2]
    assert first.hotspots[1]["revisions"] == 3  # c2 made it 4; c1's figure stays
    assert first.coupling == [{"a": "a/x.py", "b": "a/y.py", "shared_revisions": 2, "degree": 80.0}]
    second = LocalStore(g, ONTO).aggregates(REPO, "c2")
    # a/y.py is gone at c2: its pair is no longer a pair of present files.
    assert second.coupling == [{"a": "a/x.py", "b": "b/z.py", "shared_revisions": 1, "degree": 40.0}]
    assert second.files_by_language == {"Python": 3} and second.files == 3
    assert [f["path"] for f in second.folders] == ["a", "b"]


def test_rerun_and_backfill_keep_the_figures():
    g, (d1, d2) = _history()
    before = {c: a.digest for c, a in g.aggregates[REPO].items()}
    g.apply(d2, T[1], ONTO)
    g.apply(d1, T[0], ONTO)
    assert {c: a.digest for c, a in g.aggregates[REPO].items()} == before


def test_save_load_round_trip(tmp_path):
    g, _ = _history()
    g.save(tmp_path)
    loaded = LocalStore(LocalGraph.load(tmp_path), ONTO)
    for sha in ("c1", "c2"):
        assert loaded.aggregates(REPO, sha).summary_json() == g.aggregates[REPO][sha].summary_json()


def test_stored_graph_gives_the_same_figures_at_the_newest_commit(tmp_path):
    g, _ = _history()
    g.save(tmp_path)
    (tmp_path / "aggregates.jsonl").unlink()  # a folder written before aggregates
    legacy = LocalStore(LocalGraph.load(tmp_path), ONTO)
    assert legacy.aggregates(REPO).digest == g.aggregates[REPO]["c2"].digest


def test_ranked_windows_read_only_the_pages_they_touch():
    files = {f"p/f{i:04d}.py": (i % 7 + 1, 100 - i % 13) for i in range(450)}
    agg = ag.compute(REPO, "c", 1, [ag.PresentNode(f"file:{REPO}:{p}", "file",
                                                   {"path": p, "revisions": r, "lines_code": loc})
                                    for p, (r, loc) in files.items()], [])
    full = agg.full["hotspots"]
    assert len(full) == 450 and agg.totals["hotspots"] == 450
    assert [h["score"] for h in full] == sorted((h["score"] for h in full), reverse=True)
    pages = agg.pages()["hotspots"]
    asked: list[list[int]] = []

    def read(name, idx):
        asked.append(list(idx))
        return {i: pages[i] for i in idx}

    for offset, limit in ((0, 10), (15, 10), (95, 10), (399, 51), (440, 50), (500, 5)):
        items, total = ag.ranked_window(agg, "hotspots", offset, limit, read)
        assert items == full[offset:offset + limit] and total == 450
    assert asked == [[0], [0, 1], [3, 4], [4]]  # the head (20) answers (0, 10); (500, 5) reads none
    with pytest.raises(ValueError):
        ag.ranked_window(agg, "nope", 0, 1, read)


def test_point_at_partitions_time():
    tl = [(10, "a"), (20, "b")]
    assert gq.point_at(tl, None) == (20, "b") and gq.point_at(tl, 9) is None
    assert gq.point_at(tl, 10) == (10, "a") and gq.point_at(tl, 19) == (10, "a")
    assert gq.point_at([], None) is None


def test_aggregate_builders_keep_values_as_variables():
    evil = '") { x as uid } #'
    dql, variables = gq.aggregate_pages(evil, evil, "hotspots", [0, 3])
    assert evil not in dql and variables["$p1"] == ag.page_xid(evil, evil, "hotspots", 3)
    dql, variables = gq.aggregates_of(evil, evil)
    assert evil not in dql and variables["$x"] == ag.aggregates_xid(evil, evil)
    with pytest.raises(ValueError):
        gq.aggregate_pages("r", "c", "files", [0])


def test_indexes_come_from_the_ontology():
    schema = generate_schema(ONTO)
    assert "<path>: string @index(exact) ." in schema
    assert "<hotspot_rank>: int @index(int) ." in schema
    assert "<fp_repo>: string @index(exact) ." in schema and "type FreshpocAggregates {" in schema
    base = ("version: 1.0.0\nnode_types:\n  file:\n    fields: {path: string, revisions: int}\n"
            "edge_types: {}\n")
    assert "<revisions>: int ." in generate_schema(parse_graph_ontology(base))
    onto = parse_graph_ontology(base + "indexes:\n  revisions: [int]\n  path: [exact, trigram]\n")
    assert "<revisions>: int @index(int) ." in generate_schema(onto)
    assert "<path>: string @index(exact, trigram) ." in generate_schema(onto)
    for bad in ("revisions: [exact]", "nope: [int]", "xid: [hash]"):
        with pytest.raises(ValueError):
            parse_graph_ontology(base + f"indexes:\n  {bad}\n")


def test_report_edges_are_packages_and_dbt_lineage_between_present_nodes():
    def mod(key):
        return ag.PresentNode(f"py.module:{REPO}:{key}", "py.module", {"name": key}, key)

    nodes = [mod("app.core.a"), mod("app.core.b"), mod("app.web.v"),
             ag.PresentNode(f"dbt.model:{REPO}:p.orders", "dbt.model", {"name": "orders"}, "p.orders"),
             ag.PresentNode(f"dbt.model:{REPO}:p.stg", "dbt.model", {"name": "stg"}, "p.stg")]
    edges = [ag.PresentEdge("imports", f"py.module:{REPO}:app.web.v", f"py.module:{REPO}:app.core.a", {}),
             ag.PresentEdge("imports", f"py.module:{REPO}:app.core.b", f"py.module:{REPO}:app.core.a", {}),
             ag.PresentEdge("imports", f"py.module:{REPO}:app.web.v", "py.distribution:pypi:requests", {}),
             ag.PresentEdge("depends_on", f"dbt.model:{REPO}:p.orders", f"dbt.model:{REPO}:p.stg", {})]
    agg = ag.compute(REPO, "c", 1, nodes, edges)
    assert agg.full["module_edges"] == [["app.web", "app.core"]]  # same package and external: not drawn
    assert agg.full["lineage_edges"] == [["stg", "orders"]]  # upstream -> downstream
    assert ag.all_items(agg, "lineage_edges", lambda n, idx: {i: agg.pages()[n][i] for i in idx}) == [
        ["stg", "orders"]]


def test_stored_module_edges_draw_what_all_of_them_draw():
    from freshpoc_tasks.reporting.mermaid import flowchart

    rng = random.Random(3)
    modules = [f"p{i % 60}.m{i}" for i in range(3000)]
    edges = sorted({(a, b) for a, b in ((rng.choice(modules), rng.choice(modules)) for _ in range(20000))
                    if a != b})
    drawn = ag.drawn_module_edges(edges)
    whole = flowchart(edges, max_nodes=ag.DRAW_NODES, sep=".")
    assert whole.collapsed_levels == 1 and whole.omitted_nodes == 20  # 60 packages, 40 drawn
    assert flowchart(drawn, max_nodes=ag.DRAW_NODES, sep=".") == whole
    assert len(drawn) < len(edges) / 4 and drawn == [e for e in edges if e in set(drawn)]
    few = [("a.x", "b.y"), ("b.y", "c.z")]  # nothing to collapse: kept whole
    assert ag.drawn_module_edges(few) == few
    nodes = [ag.PresentNode(f"py.module:r:{m}", "py.module", {}, m) for m in modules]
    imports = [ag.PresentEdge("imports", f"py.module:r:{a}", f"py.module:r:{b}", {}) for a, b in edges]
    agg = ag.compute("r", "c", 1, nodes, imports)
    assert flowchart([tuple(e) for e in agg.full["module_edges"]], max_nodes=ag.DRAW_NODES, sep=".") == whole
