"""The MCP backend on the stack: the query API's own route functions over Dgraph.

Inside the plugin the MCP server answers with exactly the functions the API's routes run — the
routers :func:`freshpoc_tasks.api.app.create_app` builds are handed over and their endpoints
called directly (no HTTP round trip, no second copy of a query): hotspot order, owners, saved
queries with their parameter checks, search answered as graph nodes, the reports. A route's
problem (404, 400, 503) becomes a :class:`~freshpoc_tasks.mcp.answers.ToolProblem` with the
route's own sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request

from freshpoc_tasks.api.pagination import PageParams
from freshpoc_tasks.api.problems import ProblemError
from freshpoc_tasks.api.store import GraphStore
from freshpoc_tasks.mcp.answers import ToolProblem


def _request(path: str, params: dict[str, str] | None = None, root_path: str = "/freshpoc") -> Request:
    """The request a route reads its query string and root path from."""
    return Request({"type": "http", "method": "GET", "path": path, "root_path": root_path, "headers": [],
                    "query_string": urlencode(params or {}).encode()})


class StackBackend:
    """:class:`~freshpoc_tasks.mcp.answers.Backend` over the API's routers."""

    kind = "stack"

    def __init__(self, store_of: Callable[[], GraphStore], graph_router: APIRouter,
                 search_router: APIRouter | None = None) -> None:
        self._store_of = store_of
        self._routes: dict[str, Callable[..., Any]] = {}
        for router in (graph_router, search_router):
            for route in (router.routes if router is not None else []):
                self._routes.setdefault(getattr(route, "path", ""), getattr(route, "endpoint", None))

    @property
    def store(self) -> GraphStore:  # type: ignore[override]
        return self._store_of()

    def _call(self, route: str, /, **kwargs: Any) -> Any:
        endpoint = self._routes.get(route)
        if endpoint is None:
            raise ToolProblem(f"the query API has no route {route}")
        try:
            return endpoint(**kwargs)
        except ProblemError as exc:
            raise ToolProblem(exc.detail) from None

    def repositories(self) -> list[str]:
        page = self._call("/repositories", store=self.store, page=PageParams(limit=500, offset=0))
        return [r.repo_id for r in page.items]

    def search(self, query: str, repo: str | None, node_type: str | None, limit: int) -> list[dict[str, Any]]:
        answer = self._call("/search", request=_request("/search"), q=query, repo=repo, language=None,
                            node_type=node_type, limit=limit, mode="hybrid")
        return [{"xid": h["xid"], "type": h.get("node_type"), "name": h.get("name"), "repo": h.get("repo_id"),
                 "kind": h.get("kind"), "path": h.get("path"), "score": h.get("score"),
                 "snippet": (h.get("snippet") or "")[:600],
                 "neighbours": h.get("neighbours", [])} for h in answer["items"]]

    def hotspots(self, repo: str, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        page = self._call("/hotspots", store=self.store, repo=repo,
                          page=PageParams(limit=limit, offset=offset))
        return [x.model_dump() for x in page.items], page.total

    def owners(self, repo: str, path: str, xid: str | None, offset: int,
               limit: int) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        answer = self._call("/owners", store=self.store, repo=repo, path=path, xid=xid,
                            page=PageParams(limit=limit, offset=offset))
        head = {"repo": repo, "subject": answer.subject,
                "owner": answer.owner.model_dump() if answer.owner else None}
        return head, [x.model_dump() for x in answer.files.items], answer.files.total

    def file_owner(self, repo: str, path: str) -> str | None:
        """The saved query the owners route reads a path's owner with (one lookup per file: the
        impact tool asks it for every file behind every affected node)."""
        rows = self.store.run("path_owner", repo=repo, path=path).get("self", [])
        return rows[0].get("main_author") if rows else None

    def saved_queries(self) -> list[dict[str, Any]]:
        return [q.model_dump() for q in self._call("/queries", store=self.store)]

    def run_saved_query(self, name: str, params: dict[str, str]) -> dict[str, Any]:
        return self._call("/queries/{name}", store=self.store, name=name,
                          request=_request(f"/queries/{name}", params))

    def repository_report(self, repo: str) -> str:
        response = self._call("/reports/repository", store=self.store, repo=repo, format="markdown",
                              request=_request("/reports/repository"))
        return bytes(response.body).decode("utf-8")

    def impact_report(self, repo: str, commit: str) -> str:
        response = self._call("/reports/impact", store=self.store, repo=repo, commit=commit,
                              format="markdown", request=_request("/reports/impact"))
        return bytes(response.body).decode("utf-8")
