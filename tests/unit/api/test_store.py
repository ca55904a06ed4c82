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


def test_every_saved_query_parses_and_declares_typed_parameters():
    queries = load_saved_queries()
    assert {"repositories", "files", "folders", "symbols", "deps_up", "deps_down", "lineage_up",
            "lineage_down", "hotspots", "coupling", "graph_as_of"} <= set(queries)
    assert queries["files"].params == {"repo": "string"}
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


def test_pagination_reports_total_and_next_offset():
    rows = [{"xid": f"file:r:{p}", "path": p} for p in ("a", "b/x", "b/y", "c")]
    client, rec = _client({"items": rows})
    page = client.get("/files", params={"repo": "r", "limit": 1, "offset": 1, "path_prefix": "b/"}).json()
    assert page == {"items": [{"xid": "file:r:b/y", "path": "b/y", "language": None, "size": None,
                               "revisions": None,
                               "authors": None, "main_author": None, "bus_factor": None}],
                    "total": 2, "limit": 1, "offset": 1, "next_offset": None}
    # The folder part is walked through the tree; the rest of the prefix is matched here.
    assert rec.calls[0][1] == {"$repo": "r", "$folder": "b"}


def test_openapi_documents_problem_responses_and_every_route_is_guarded():
    client, _ = _client()
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        assert set(ops["get"]["responses"]) >= {"200", "400", "401", "403"}, path
