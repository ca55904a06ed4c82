"""The stack backend calls the query API's route functions by path with keyword arguments: a route
renamed, or a parameter renamed in routes.py or search.py, must fail here rather than in an agent's
tool call. Each backend method's route call is bound against the real endpoint's signature."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from freshpoc_tasks.api.routes import build_router
from freshpoc_tasks.api.search import build_search_router
from freshpoc_tasks.api.store import GraphStore
from freshpoc_tasks.mcp.stack import StackBackend


class Bound(Exception):
    """Raised by a stand-in endpoint once the call's arguments bound to the real signature."""


@pytest.fixture()
def backend() -> tuple[StackBackend, list[str]]:
    store = GraphStore(runner=None)  # type: ignore[arg-type]  # never asked: the calls stop at binding
    graph = build_router(lambda: store, lambda: None)
    search = build_search_router(lambda: None, lambda: None)  # type: ignore[arg-type,return-value]
    b = StackBackend(lambda: store, graph, search)
    called: list[str] = []

    def binder(path: str, endpoint: Any) -> Any:
        signature = inspect.signature(endpoint)

        def check(**kwargs: Any) -> Any:
            signature.bind(**kwargs)  # TypeError on an unknown or missing parameter
            called.append(path)
            raise Bound(path)
        return check

    b._routes = {p: binder(p, e) for p, e in b._routes.items() if e is not None}
    return b, called


@pytest.mark.parametrize(("method", "args", "path"), [
    ("repositories", (), "/repositories"),
    ("search", ("churn", None, None, 5), "/search"),
    ("hotspots", ("r", 0, 10), "/hotspots"),
    ("owners", ("r", "src", None, 0, 10), "/owners"),
    ("owners", ("r", "", "x:r:y", 0, 10), "/owners"),
    ("saved_queries", (), "/queries"),
    ("run_saved_query", ("files", {"repo": "r"}), "/queries/{name}"),
    ("repository_report", ("r",), "/reports/repository"),
    ("impact_report", ("r", "abcd"), "/reports/impact"),
])
def test_each_route_call_binds_to_the_endpoint(backend, method, args, path):
    b, called = backend
    with pytest.raises(Bound):
        getattr(b, method)(*args)
    assert called == [path]
