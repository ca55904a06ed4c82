"""The MCP backend on the stack: the query API's own route functions over Dgraph.

Inside the plugin the MCP server answers with exactly the functions the API's routes run
(:mod:`freshpoc_tasks.api.routes`, store first: ``hotspots_answer``, ``owners_answer``,
``diff_answer``, ``run_saved_query``, the report answers): no HTTP round trip and no second copy of
a query. Search is the search router's own endpoint (:mod:`freshpoc_tasks.api.search` keeps its
logic inside the router), found by path. A route's problem (404, 400, 503) becomes a
:class:`~freshpoc_tasks.mcp.answers.ToolProblem` with the route's own sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request

from freshpoc_tasks.api import routes
from freshpoc_tasks.api.pagination import PageParams
from freshpoc_tasks.api.problems import ProblemError
from freshpoc_tasks.api.store import GraphStore
from freshpoc_tasks.mcp.answers import ToolProblem


def _request(path: str, params: dict[str, str] | None = None, root_path: str = "/freshpoc") -> Request:
    """The request a route reads its query string and root path from."""
    return Request({"type": "http", "method": "GET", "path": path, "root_path": root_path, "headers": [],
                    "query_string": urlencode(params or {}).encode()})


def _answer(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ProblemError as exc:
        raise ToolProblem(exc.detail) from None


class StackBackend:
    """:class:`~freshpoc_tasks.mcp.answers.Backend` over the API's route functions."""

    kind = "stack"

    def __init__(self, store_of: Callable[[], GraphStore], search_router: APIRouter | None = None) -> None:
        self._store_of = store_of
        found = search_router.routes if search_router is not None else []
        self._search = next((getattr(r, "endpoint", None) for r in found
                             if getattr(r, "path", "") == "/search"), None)

    @property
    def store(self) -> GraphStore:  # type: ignore[override]
        return self._store_of()

    def repositories(self) -> list[str]:
        page = _answer(routes.repositories_answer, self.store, PageParams(limit=500, offset=0))
        return [r.repo_id for r in page.items]

    def search(self, query: str, repo: str | None, node_type: str | None, limit: int) -> list[dict[str, Any]]:
        if self._search is None:
            raise ToolProblem("search is not served by this API")
        answer = _answer(self._search, request=_request("/search"), q=query, repo=repo, language=None,
                         node_type=node_type, limit=limit, mode="hybrid")
        return [{"xid": h["xid"], "type": h.get("node_type"), "name": h.get("name"), "repo": h.get("repo_id"),
                 "kind": h.get("kind"), "path": h.get("path"), "score": h.get("score"),
                 "snippet": (h.get("snippet") or "")[:600],
                 "neighbours": h.get("neighbours", [])} for h in answer["items"]]

    def hotspots(self, repo: str, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        page = _answer(routes.hotspots_answer, self.store, repo, PageParams(limit=limit, offset=offset))
        return [x.model_dump() for x in page.items], page.total

    def owners(self, repo: str, path: str, xid: str | None, offset: int,
               limit: int) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        answer = _answer(routes.owners_answer, self.store, repo, PageParams(limit=limit, offset=offset),
                         path=path, xid=xid)
        head = {"repo": repo, "subject": answer.subject,
                "owner": answer.owner.model_dump() if answer.owner else None}
        return head, [x.model_dump() for x in answer.files.items], answer.files.total

    def file_owner(self, repo: str, path: str) -> str | None:
        """The saved query the owners route reads a path's owner with (one lookup per file: the
        impact tool asks it for every file behind every affected node)."""
        rows = _answer(routes.run, self.store, "path_owner", repo=repo, path=path).get("self", [])
        return rows[0].get("main_author") if rows else None

    def diff(self, repo: str, from_commit: str,
             to_commit: str) -> tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]]:
        (a, ua), (b, ub) = _answer(routes.diff_window, self.store, repo, from_commit, to_commit)
        added, removed = _answer(routes.changes, self.store, repo, ua, ub)
        return a.sha, b.sha, [x.model_dump() for x in added], [x.model_dump() for x in removed]

    def saved_queries(self) -> list[dict[str, Any]]:
        return [q.model_dump() for q in _answer(routes.saved_queries_answer, self.store)]

    def run_saved_query(self, name: str, params: dict[str, str]) -> dict[str, Any]:
        return _answer(routes.run_saved_query, self.store, name, params)

    def repository_report(self, repo: str) -> str:
        response = _answer(routes.repository_report_answer, self.store, _request("/reports/repository"),
                           repo, "markdown")
        return bytes(response.body).decode("utf-8")

    def impact_report(self, repo: str, commit: str) -> str:
        response = _answer(routes.impact_report_answer, self.store, _request("/reports/impact"), repo,
                           commit, "markdown")
        return bytes(response.body).decode("utf-8")
