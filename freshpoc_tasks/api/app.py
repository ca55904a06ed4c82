"""The FastAPI application the plugin mounts at ``/freshpoc``.

Airflow does not authenticate plugin apps, so every route — the API, the report pages and the
Mermaid bundle — depends on Airflow's own user resolution (bearer token or UI cookie) and auth
manager (see :mod:`freshpoc_tasks.api.security`): the API has exactly Airflow's users and roles.
Only the OpenAPI document, its docs page and ``/live`` (a data-free liveness probe,
:mod:`freshpoc_tasks.api.health`) are open, as Airflow's own are. The ontology
proposals (:mod:`freshpoc_tasks.api.proposals`) have their own rule: every user reviews, admins
decide.

The MCP server (:mod:`freshpoc_tasks.mcp`) is served at ``/mcp`` behind the same access rule: the
route depends on the graph reader before handing the request to the SDK's streamable-HTTP
handler, and its tools call the routes' own functions (:mod:`freshpoc_tasks.api.routes`).
"""

import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from freshpoc_tasks import __version__
from freshpoc_tasks.api import problems
from freshpoc_tasks.api.health import build_liveness_router
from freshpoc_tasks.api.proposals import (
    Ledger,
    build_proposals_router,
    default_ledger,
    proposal_deciders,
    proposal_readers,
)
from freshpoc_tasks.api.routes import build_router
from freshpoc_tasks.api.search import Searcher, build_search_router, default_searcher, neighbours_from

# No "from __future__ import annotations" here or in routes/security: FastAPI resolves the
# dependency annotations of nested functions at runtime, and local names cannot be resolved later.
from freshpoc_tasks.api.security import GRAPH_CONN_ID, graph_reader
from freshpoc_tasks.api.store import GraphStore, QueryRunner, RunnerFactory, default_runner_factory

log = logging.getLogger(__name__)


def _default_mermaid() -> Path | None:
    from freshpoc_tasks.stack.assets import mermaid_path

    return mermaid_path()


def create_app(runner_factory: RunnerFactory | None = None, *, conn_id: str = GRAPH_CONN_ID,
               auth_dependency: Callable[..., Any] | None = None,
               mermaid_bundle: Callable[[], Path | None] = _default_mermaid,
               searcher: Searcher | None = None,
               ledger_factory: Callable[[], Ledger] = default_ledger) -> FastAPI:
    """Build the API.

    :param runner_factory: makes the object that runs DQL (default: ``DgraphHook`` on
        ``conn_id``); called once, on the first request that needs the graph.
    :param auth_dependency: replaces Airflow's access checks (graph and proposals alike); only
        for tests of the routes themselves, never in the plugin.
    :param mermaid_bundle: where the locally installed mermaid.min.js is.
    :param searcher: semantic search function (default: Weaviate's ``CodeChunk`` via the hook).
    :param ledger_factory: the ontology ledger behind the proposals pages (default: PostgreSQL's
        ``freshpoc_postgres``); called on the first request that needs it.
    """
    app = FastAPI(title="FreshPoC query API", version=__version__,
                  description=("Code knowledge graph queries, served inside Airflow. Every route needs an "
                               f"Airflow user with read access to the connection '{conn_id}'. Errors are "
                               "application/problem+json."),
                  responses=problems.PROBLEM_RESPONSES)
    problems.install(app)
    app.include_router(build_liveness_router())  # /live: no authentication, no data (api/health.py)
    access = auth_dependency or graph_reader(conn_id)
    make_runner = runner_factory or default_runner_factory
    lock = threading.Lock()
    state: dict[str, GraphStore] = {}

    def store_of() -> GraphStore:
        if "store" not in state:
            with lock:
                if "store" not in state:
                    runner: QueryRunner = make_runner()
                    state["store"] = GraphStore(runner)
        return state["store"]

    guarded = APIRouter(dependencies=[Depends(access)])

    @guarded.get("/health", summary="API liveness, for an authorised Airflow user")
    def health(user: Annotated[Any, Depends(access)]) -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    graph_router = build_router(store_of, mermaid_bundle)
    search_router = build_search_router(
        lambda: searcher or default_searcher(),
        lambda: neighbours_from(store_of().runner.query))
    guarded.include_router(graph_router)
    guarded.include_router(search_router)
    _mount_mcp(app, guarded, store_of, search_router)
    app.include_router(guarded)
    if auth_dependency is not None:
        app.include_router(build_proposals_router(ledger_factory, auth_dependency, auth_dependency,
                                                  may_decide=lambda user: True))
    else:
        app.include_router(build_proposals_router(ledger_factory, proposal_readers(), proposal_deciders()))
    return app


class _Handoff(Response):
    """A response that lets an ASGI app answer the request itself (the MCP transport streams its
    own answer); returned by a route, so the route's dependencies — access — ran first."""

    def __init__(self, handler: Callable[[Scope, Receive, Send], Any]) -> None:
        super().__init__()
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


def _mount_mcp(app: FastAPI, guarded: APIRouter, store_of: Callable[[], GraphStore],
               search_router: APIRouter) -> None:
    """``/mcp``: the MCP server (streamable HTTP, stateless) over the routes' functions. Its session
    manager runs in the app's lifespan, which Airflow enters for every plugin app it mounts; a
    checkout whose environment lacks the ``mcp`` package serves everything else and answers 503
    here, naming the package."""
    try:
        from freshpoc_tasks.mcp.server import build_server, http_handler
        from freshpoc_tasks.mcp.stack import StackBackend
    except ImportError as exc:
        log.warning("MCP endpoint disabled: %s", exc)
        server = None
    else:
        server = build_server(lambda: StackBackend(store_of, search_router))
    running: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> Any:
        if server is None:
            yield
            return
        handler, run = http_handler(server)  # a fresh session manager per lifespan: it runs once
        async with run():
            running["handler"] = handler
            try:
                yield
            finally:
                running.pop("handler", None)

    app.router.lifespan_context = lifespan

    @guarded.api_route("/mcp", methods=["GET", "POST", "DELETE"], include_in_schema=False)
    async def mcp_endpoint() -> Response:
        if server is None:
            raise problems.ProblemError(
                503, "the MCP server needs the 'mcp' package in Airflow's environment")
        if "handler" not in running:
            raise problems.ProblemError(
                503, "the MCP server is not running (the app's lifespan was not entered)")
        return _Handoff(running["handler"])
