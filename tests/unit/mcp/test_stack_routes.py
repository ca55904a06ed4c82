"""The stack backend calls the query API's route functions (and the search route's endpoint) with
the right arguments: every method is run over a graph store whose query runner stops at the first
query, so a renamed function or parameter in routes.py or search.py fails here rather than in an
agent's tool call, and a method that reached the graph did so through the route's own code."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from freshpoc_tasks.api.search import build_search_router
from freshpoc_tasks.api.store import GraphStore, load_saved_queries
from freshpoc_tasks.mcp.stack import StackBackend


class Reached(Exception):
    """The call got as far as a graph query (or, for search, bound to the endpoint)."""


class StopAtFirstQuery:
    def __init__(self) -> None:
        self.queries: list[str] = []

    def query(self, dql: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        self.queries.append(dql)
        raise Reached(dql[:60])


@pytest.fixture()
def backend() -> tuple[StackBackend, StopAtFirstQuery]:
    runner = StopAtFirstQuery()
    store = GraphStore(runner)
    search = build_search_router(lambda: None, lambda: None)  # type: ignore[arg-type,return-value]
    b = StackBackend(lambda: store, search)
    endpoint = b._search
    assert endpoint is not None, "the search router has no /search route"
    signature = inspect.signature(endpoint)

    def bound(**kwargs: Any) -> Any:
        signature.bind(**kwargs)  # TypeError on an unknown or missing parameter
        raise Reached("search")
    b._search = bound
    return b, runner


@pytest.mark.parametrize(("method", "args"), [
    ("repositories", ()),
    ("search", ("churn", None, None, 5)),
    ("hotspots", ("r", 0, 10)),
    ("owners", ("r", "src", None, 0, 10)),
    ("owners", ("r", "", "x:r:y", 0, 10)),
    ("file_owner", ("r", "src/app.py")),
    ("diff", ("r", "abcd", "abce")),
    ("run_saved_query", ("path_owner", {"repo": "r", "path": "src"})),
    ("repository_report", ("r",)),
    ("impact_report", ("r", "abcd")),
])
def test_each_method_reaches_the_graph_through_the_route_code(backend, method, args):
    b, runner = backend
    with pytest.raises(Reached):
        getattr(b, method)(*args)
    assert len(runner.queries) <= 1


def test_the_saved_query_catalogue_needs_no_graph(backend):
    b, runner = backend
    assert sorted(q["name"] for q in b.saved_queries()) == sorted(load_saved_queries())
    assert runner.queries == []
