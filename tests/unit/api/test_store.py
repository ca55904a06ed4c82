"""Saved queries: parameters from the declaration, typed variables only, flattened traversals."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from freshpoc_tasks.api.app import create_app
from freshpoc_tasks.api.store import (
    HIGH,
    GraphStore,
    ParamError,
    flatten_recursion,
    load_saved_queries,
    parse_saved_query,
    prefix_range,
)
from freshpoc_tasks.graph.validity import OPEN


class Recorder:
    """Stands in for Dgraph in unit tests: records what would be sent, answers a canned value."""

    def __init__(self, answer: dict | None = None) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.answer = answer or {}

    def query(self, dql, variables=None):
        self.calls.append((dql, variables))
        return self.answer


def test_every_ordered_block_of_a_saved_query_has_its_first():
    """Dgraph returns at most 1,000 rows of an ordered block without ``first``, and says nothing:
    the symbols route saw 1,000 of the 50,000 columns named ``c0`` at 1.1M nodes."""
    import re

    from freshpoc_tasks.api.store import QUERIES_DIR

    found = 0
    for path in sorted(QUERIES_DIR.glob("*.dql")):
        for args in re.findall(r"\(func:([^()]*(?:\([^()]*\)[^()]*)*)\)", path.read_text()):
            if "orderasc" in args or "orderdesc" in args:
                found += 1
                assert "first:" in args, (path.name, args)
    assert found >= 5


def test_every_saved_query_parses_and_declares_typed_parameters():
    queries = load_saved_queries()
    assert {"repositories", "files", "folders", "symbols", "deps_up", "deps_down", "lineage_up",
            "lineage_down", "hotspots", "coupling", "graph_as_of"} <= set(queries)
    assert queries["files"].params == {"repo": "string", "path_lo": "string", "path_hi": "string",
                                       "after": "string", "first": "int", "offset": "int"}
    assert queries["graph_as_of"].params == {"repo": "string", "t": "int", "first": "int", "offset": "int"}
    assert queries["lineage_up"].description.startswith("Upstream data lineage")


def test_saved_queries_read_the_writers_schema():
    """Predicates of the generated schema only, and "present now" is the writer's open end."""
    text = " ".join(q.text for q in load_saved_queries().values())
    for old in ("dgraph.type", "valid_from", "valid_to", "seq"):
        assert old not in text
    assert str(OPEN) in text and "eq(vt, 253402300799999999)" in text


def test_user_values_travel_only_as_variables():
    rec = Recorder()
    store = GraphStore(rec)
    evil = '") { x as uid } delete { <*> * * . } #'
    store.run("symbols", name=evil)
    dql, variables = rec.calls[0]
    assert dql == store.queries["symbols"].text
    assert variables == {"$name": evil}


@pytest.mark.parametrize(("values", "message"), [
    ({"repo": "r", "t": "x", "first": 1, "offset": 0}, "t must be an integer"),
    ({"repo": "r", "t": 2**64, "first": 1, "offset": 0}, "t is out of range"),
    ({"repo": "r", "t": 1, "first": 1}, "missing parameter"),
    ({"repo": "r", "t": 1, "first": 1, "offset": 0, "extra": 1}, "unknown parameter"),
    ({"repo": "a\x00b", "t": 1, "first": 1, "offset": 0}, "NUL"),
])
def test_bad_parameters_are_refused_before_dgraph(values, message):
    rec = Recorder()
    with pytest.raises(ParamError, match=message):
        GraphStore(rec).run("graph_as_of", **values)
    assert rec.calls == []


def test_declaration_must_name_the_file(tmp_path):
    (tmp_path / "a.dql").write_text("query b($x: string) { q(func: eq(xid, $x)) { uid } }")
    with pytest.raises(ValueError, match="must declare 'query a"):
        parse_saved_query(tmp_path / "a.dql")
    (tmp_path / "c.dql").write_text("query c($x: uid) { q(func: uid($x)) { uid } }")
    with pytest.raises(ValueError, match="unsupported type"):
        parse_saved_query(tmp_path / "c.dql")


def test_prefix_range():
    assert prefix_range("src/") == ("src/", "src/" + HIGH)
    assert prefix_range("") == ("", HIGH)


def test_flatten_recursion_reports_stored_edge_direction_and_min_depth():
    root = {"xid": "a", "ntype": "m", "name": "A",
            "~imports": [{"xid": "b", "type": ["m"], "name": "B", "~imports": [{"xid": "c", "name": "C"}]},
                         {"xid": "c", "name": "C"}]}
    t = flatten_recursion(root)
    assert t.root == {"xid": "a", "type": "m", "name": "A"}
    assert [(n["xid"], n["depth"]) for n in t.nodes] == [("b", 1), ("c", 1)]
    assert t.edges == [{"type": "imports", "src": "b", "dst": "a"},
                       {"type": "imports", "src": "c", "dst": "a"},
                       {"type": "imports", "src": "c", "dst": "b"}]
    assert flatten_recursion(None).root is None


def _client(answer: dict | None = None) -> tuple[TestClient, Recorder]:
    rec = Recorder(answer)
    app = create_app(runner_factory=lambda: rec, auth_dependency=lambda: None, mermaid_bundle=lambda: None)
    return TestClient(app, raise_server_exceptions=False), rec


def test_errors_are_problem_json_and_bad_parameters_are_400():
    client, rec = _client()
    r = client.get("/files", params={"repo": "r", "limit": 0})
    assert (r.status_code, r.headers["content-type"]) == (400, "application/problem+json")
    assert r.json() == {"type": "about:blank", "title": "Bad Request", "status": 400,
                        "detail": "invalid request parameters", "instance": "/files",
                        "errors": [{"loc": ["query", "limit"],
                                    "msg": "Input should be greater than or equal to 1",
                                    "type": "greater_than_equal"}]}
    assert client.get("/nodes", params={"xid": "x"}).json()["status"] == 404
    assert client.get("/assets/mermaid.min.js").json()["detail"].startswith("mermaid is not installed")
    assert client.get("/nope").headers["content-type"] == "application/problem+json"
    assert rec.calls[0][1] == {"$xid": "x"}


def test_pagination_reports_total_next_offset_and_cursor():
    """Dgraph cuts the page (a range of the path index, first/offset, cursor): the route passes
    the window as variables and reports what Dgraph counted."""
    item = {"xid": "file:r:b/x", "path": "b/x"}
    client, rec = _client({"items": [item], "total": [{"count": 3}]})
    page = client.get("/files", params={"repo": "r", "limit": 1, "offset": 1, "path_prefix": "b/"}).json()
    expected = {"xid": "file:r:b/x", "path": "b/x", "language": None, "size": None, "revisions": None,
                "authors": None, "main_author": None, "bus_factor": None}
    assert page == {"items": [expected], "total": 3, "limit": 1, "offset": 1, "next_offset": 2,
                    "next_after": "2:b/x"}  # the 2nd item of the list, path b/x
    assert rec.calls[0][1] == {"$r": "r", "$lo": "b/", "$hi": "b/\U0010ffff", "$first": "1", "$offset": "1"}
    assert "between(path, $lo, $hi)" in rec.calls[0][0] and "b/" not in rec.calls[0][0]
    # A cursor without a position (an older server's bare key) is a range filter on the key.
    page = client.get("/files", params={"repo": "r", "limit": 1, "after": "b/w"}).json()
    assert (page["next_offset"], page["next_after"]) == (None, ":b/x")
    assert rec.calls[-1][1]["$after"] == "b/w"
    # A positioned cursor reads from its own row on, by offset, without the filter.
    n = len(rec.calls)
    page = client.get("/files", params={"repo": "r", "limit": 1, "after": "2:b/x",
                                        "path_prefix": "b/"}).json()
    assert rec.calls[n][1]["$offset"] == "1" and "$after" not in rec.calls[n][1]


def test_keyed_cursor_walks_the_list_once_and_survives_a_change():
    """pagination.keyed_page over a sorted list: pages by cursor cover it exactly once, read by
    position; when the list changes under a cursor (a row inserted before it) the next page
    still starts right after the cursor's key, read by the key."""
    from freshpoc_tasks.api.pagination import PageParams, keyed_page

    rows = [{"k": f"k{i:03d}"} for i in range(0, 200, 2)]
    calls: list[tuple[str, int, int]] = []

    def fetch(after: str, first: int, offset: int) -> list[dict]:
        calls.append((after, first, offset))
        after_rows = [r for r in rows if r["k"] > after]
        return after_rows[offset: offset + first]

    seen, cursor = [], ""
    while True:
        page, cursor = keyed_page(fetch, PageParams(limit=7, offset=0, after=cursor), "k")
        seen += page
        if cursor is None or len(page) < 7:
            break
    assert seen == rows
    assert all(after == "" for after, _, _ in calls)  # never the key filter
    assert calls[1] == ("", 8, 6)  # page 2: from the cursor's own row (position 7), one more
    first, cursor = keyed_page(fetch, PageParams(limit=5, offset=0, after=""), "k")
    assert [r["k"] for r in first] == ["k000", "k002", "k004", "k006", "k008"]
    assert cursor == "5:k008"
    rows.insert(0, {"k": "a-new-first-row"})  # the list changed: position 5 is k006 now
    page, nxt = keyed_page(fetch, PageParams(limit=5, offset=0, after=cursor), "k")
    assert [r["k"] for r in page] == ["k010", "k012", "k014", "k016", "k018"]
    assert calls[-1] == ("k008", 5, 0) and nxt == ":k018"  # by key; position unknown now
    page, _ = keyed_page(fetch, PageParams(limit=2, offset=3, after="5:k008"), "k")
    assert [r["k"] for r in page] == ["k016", "k018"]  # offset counts after the cursor


def test_openapi_documents_problem_responses_and_every_route_is_guarded():
    client, _ = _client()
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        assert set(ops["get"]["responses"]) >= {"200", "400", "401", "403"}, path


# The graph's questions: Dgraph through the builders, and the embedded local store ---------------

def _delta(commit: str, modules: list[str], imports: list[tuple[str, str]]):
    from freshpoc_tasks.analysis.ontology import load_ontology
    from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node

    def mid(m: str) -> str:
        return f"py.module:r:{m}"

    return GraphDelta(repo_id="r", commit=commit, ontology_version=load_ontology().version,
                      nodes=[Node(id=mid(m), type="py.module", scope="r", key=m, name=m) for m in modules],
                      edges=[Edge(type="imports", src=mid(a), dst=mid(b)) for a, b in imports])


def _local(tmp_path):
    """a imports b and c, b imports c, c imports d at the first commit; the second drops d and a->c."""
    from datetime import UTC, datetime

    from freshpoc_tasks.graph.local_store import LocalGraph, LocalStore

    g = LocalGraph()
    first = g.apply(_delta("c1", ["a", "b", "c", "d"], [("a", "b"), ("a", "c"), ("b", "c"), ("c", "d")]),
                    datetime(2024, 1, 1, tzinfo=UTC))
    second = g.apply(_delta("c2", ["a", "b", "c"], [("a", "b"), ("b", "c")]),
                     datetime(2024, 2, 1, tzinfo=UTC))
    return g, LocalStore(g), first, second


def test_local_walk_visits_each_edge_once_from_nodes_closer_than_depth(tmp_path):
    _, store, first, _ = _local(tmp_path)
    t1 = first.plan.point[0]
    walk = store.walk("deps", "py.module:r:a", "down", 2, at_us=t1)
    assert walk.root == {"xid": "py.module:r:a", "type": "py.module", "name": "a"}
    assert [(n["name"], n["depth"]) for n in walk.nodes] == [("b", 1), ("c", 1), ("d", 2)]
    assert [(e["src"][-1], e["dst"][-1]) for e in walk.edges] == [("a", "b"), ("a", "c"), ("b", "c"),
                                                                   ("c", "d")]
    one = store.walk("deps", "py.module:r:a", "down", 1, at_us=t1)
    assert [(e["src"][-1], e["dst"][-1]) for e in one.edges] == [("a", "b"), ("a", "c")]
    up = store.walk("deps", "py.module:r:c", "up", 1, at_us=t1)  # reversed hops report stored edges
    assert [(e["src"][-1], e["dst"][-1]) for e in up.edges] == [("a", "c"), ("b", "c")]


def test_local_answers_follow_validity(tmp_path):
    _, store, first, second = _local(tmp_path)
    t1, t2 = first.plan.point[0], second.plan.point[0]
    now = store.walk("deps", "py.module:r:a", "down", 3)
    assert [(n["name"], n["depth"]) for n in now.nodes] == [("b", 1), ("c", 2)]
    assert store.node("py.module:r:d") is None and store.node("py.module:r:d", t1)["valid_to"] == t2
    assert store.timeline("r") == [(t1, "c1"), (t2, "c2")]
    assert store.counts_by_type("r", t1) == {"py.module": 4}
    assert store.counts_by_type("r") == {"py.module": 3}
    assert store.changes("r", t1, t2) == ([], [{"xid": "py.module:r:d", "type": "py.module", "name": "d"}])
    assert [n["name"] for n in store.nodes_at("r", t1, first=2, offset=1)] == ["b", "c"]
    assert second.plan.diff.nodes_removed[0].id == "py.module:r:d"  # the writer's own diff


def test_local_graph_round_trips_and_rewriting_changes_nothing(tmp_path):
    from datetime import UTC, datetime

    from freshpoc_tasks.graph.local_store import LocalGraph

    g, _, _, _ = _local(tmp_path)
    g.save(tmp_path / "g")
    files = {p.name: p.read_bytes() for p in (tmp_path / "g").iterdir()}
    again = LocalGraph.load(tmp_path / "g")
    result = again.apply(_delta("c2", ["a", "b", "c"], [("a", "b"), ("b", "c")]),
                         datetime(2024, 2, 1, tzinfo=UTC))
    assert set(result.plan.counts.values()) == {0}  # idempotent, like the writer
    again.save(tmp_path / "g")
    assert {p.name: p.read_bytes() for p in (tmp_path / "g").iterdir()} == files


def test_dgraph_store_asks_through_the_builders_and_decodes_alike():
    from freshpoc_tasks.graph import queries as gq

    rec = Recorder({"n": [{"xid": "a", "ntype": "py.module", "name": "a",
                           "imports": [{"xid": "b", "ntype": "py.module", "name": "b"}]}]})
    store = GraphStore(rec)
    walk = store.walk("deps", "a", "down", 2, at_us=5)
    dql, variables = gq.traverse(store.ontology(), "a", forward=gq.DEPENDENCY_EDGES, depth=2, at_us=5)
    assert rec.calls[-1] == (dql, {k: str(v) for k, v in variables.items()})
    assert walk == gq.Traversal({"xid": "a", "type": "py.module", "name": "a"},
                                [{"xid": "b", "type": "py.module", "name": "b", "depth": 1}],
                                [{"type": "imports", "src": "a", "dst": "b"}])
    rec.answer = {"n": [{"xid": "a", "ntype": "py.module", "name": "a", "vf": 1, "vt": OPEN,
                         "defined_in": [{"path": "a.py"}]}]}
    assert store.node("a") == {"xid": "a", "type": "py.module", "name": "a", "key": None, "path": None,
                               "language": None, "size": None, "repo": None, "valid_from": 1,
                               "valid_to": None, "files": ["a.py"]}
    assert rec.calls[-1][0] == gq.node_detail("a", None)[0]
    # A commit without stored aggregates (written before ontology 0.4.0): its envelope is counted.
    rec.answer = {"s": [{"fp_timeline": '[[1, "x"]]'}],
                  "c": [{"@groupby": [{"ntype": "file", "count": 2}, {"ntype": "commit", "count": 1}]}]}
    assert store.counts_by_type("r") == {"commit": 1, "file": 2}
    assert rec.calls[-2][0] == gq.aggregates_of("r", "x")[0]
    from freshpoc_tasks.graph.aggregates import compute

    agg = compute("r", "x", 1, [], [])
    agg.counts_by_type = {"file": 7}
    rec.answer = {"s": [{"fp_timeline": '[[1, "x"]]'}], "a": [{"fp_aggregates": agg.summary_json()}]}
    assert store.counts_by_type("r") == {"file": 7}  # the commit's aggregates, one lookup
    assert store.aggregates("r") == agg and [c[0] for c in rec.calls[-2:]] == [
        gq.commit_time("r")[0], gq.aggregates_of("r", "x")[0]]  # newest point, then its figures
    rec.answer = {"s": [{"fp_timeline": '[[1, "x"], [2, "y"]]'}]}
    assert store.timeline("r") == [(1, "x"), (2, "y")]
    with pytest.raises(ValueError, match="unknown question"):
        store.walk("ancestry", "a", "down", 1)


def test_nul_in_a_cursor_or_prefix_is_a_bad_request():
    client, rec = _client({"items": []})
    assert client.get("/files", params={"repo": "r", "path_prefix": "a\x00"}).status_code == 400
    assert client.get("/files", params={"repo": "r", "after": "a\x00"}).status_code == 400
    assert not rec.calls or all("\x00" not in str(v) for _, vs in rec.calls for v in (vs or {}).values())


def test_a_diff_page_is_added_then_removed_by_xid_without_history_nodes():
    """``graph.queries.changes_page`` over the local store: pages of every size from every
    position join into the whole diff (added by xid, then removed by xid), commit nodes (history)
    are never in it, and the counts are the lists' lengths."""
    from datetime import UTC, datetime

    from freshpoc_tasks.contracts.graph import Node
    from freshpoc_tasks.graph.local_store import LocalGraph, LocalStore
    from freshpoc_tasks.graph.queries import changes_page

    def with_commit(delta):
        commit = Node(id=f"commit:r:{delta.commit}", type="commit", scope="r", key=delta.commit,
                      name=delta.commit)
        return delta.model_copy(update={"nodes": [*delta.nodes, commit]})

    g = LocalGraph()
    one = g.apply(with_commit(_delta("c1", [f"m{i}" for i in range(5)], [])),
                  datetime(2024, 1, 1, tzinfo=UTC))
    two = g.apply(with_commit(_delta("c2", [f"m{i}" for i in range(3, 10)], [])),
                  datetime(2024, 2, 1, tzinfo=UTC))
    store = LocalStore(g)
    t1, t2 = one.plan.point[0], two.plan.point[0]
    whole = [("added", f"m{i}") for i in range(5, 10)] + [("removed", f"m{i}") for i in range(3)]
    for first in (1, 2, 3, 8, 20):
        for offset in range(len(whole) + 2):
            rows, counts = changes_page(store, "r", t1, t2, first, offset)
            assert counts == {"added": 5, "removed": 3}
            assert [(r["change"], r["name"]) for r in rows] == whole[offset:offset + first], (first, offset)
    # Going back in time swaps the lists: what the second commit added, the first did not have.
    rows, counts = changes_page(store, "r", t2, t1, 20, 0)
    assert counts == {"added": 3, "removed": 5}
    assert [(r["change"], r["name"]) for r in rows] == [("added", f"m{i}") for i in range(3)] + [
        ("removed", f"m{i}") for i in range(5, 10)]
