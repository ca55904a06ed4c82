"""Semantic search routes: Weaviate's hybrid search, answered as graph nodes with neighbours.

``GET /search`` returns JSON; ``GET /search/page`` the same as a small HTML page behind the
search box of the report browser. Hits come from the ``CodeChunk`` collection; each hit's graph
node and its one-hop neighbours (callers, owners, lineage) are read from Dgraph with the xid as
a DQL variable.
"""

import html
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

Searcher = Callable[..., list[Any]]
Neighbours = Callable[[str], list[dict[str, str]]]
MAX_NEIGHBOURS = 12


def default_searcher() -> Searcher:
    from freshpoc_tasks.hooks.weaviate import search

    return search


def neighbours_from(query: Callable[[str, dict[str, Any]], dict[str, Any]]) -> Neighbours:
    """One-hop neighbours of a node, as ``{edge, direction, xid, type, name}`` dicts."""
    from freshpoc_tasks.graph.ontology import load_graph_ontology
    from freshpoc_tasks.graph.queries import neighbourhood

    onto = load_graph_ontology()

    def neighbours(xid: str) -> list[dict[str, str]]:
        answer = query(*neighbourhood(onto, xid))
        out: list[dict[str, str]] = []
        for node in answer.get("n", [])[:1]:
            for key, value in node.items():
                if not isinstance(value, list):
                    continue
                direction = "in" if key.startswith("~") else "out"
                for other in value:
                    if isinstance(other, dict) and other.get("xid"):
                        out.append({"edge": key.lstrip("~"), "direction": direction,
                                    "xid": other["xid"], "type": other.get("ntype", ""),
                                    "name": other.get("name", "")})
        return sorted(out, key=lambda n: (n["edge"], n["direction"], n["xid"]))[:MAX_NEIGHBOURS]

    return neighbours


def build_search_router(searcher_of: Callable[[], Searcher],
                        neighbours_of: Callable[[], Neighbours]) -> APIRouter:
    router = APIRouter(tags=["search"])

    def run(q: str, repo: str | None, language: str | None, node_type: str | None, limit: int,
            mode: str) -> dict[str, Any]:
        hits = searcher_of()(q, repo_id=repo, language=language, node_type=node_type,
                             limit=limit, mode=mode)
        neighbours = neighbours_of()
        items = [{"xid": h.xid, "score": round(float(h.score), 4), "name": h.name,
                  "node_type": h.node_type, "repo_id": h.repo_id, "path": h.path,
                  "snippet": h.snippet, "neighbours": neighbours(h.xid)} for h in hits]
        return {"query": q, "mode": mode, "items": items, "total": len(items)}

    @router.get("/search", summary="Semantic search over code and docs, answered as graph nodes")
    def search(
        q: Annotated[str, Query(min_length=1, max_length=500, description="a question in words")],
        repo: Annotated[str | None, Query(max_length=300, description="repository id")] = None,
        language: Annotated[str | None, Query(max_length=50)] = None,
        node_type: Annotated[str | None, Query(max_length=50, description="e.g. py.function")] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
        mode: Annotated[Literal["hybrid", "bm25", "vector"], Query()] = "hybrid",
    ) -> dict[str, Any]:
        return run(q, repo, language, node_type, limit, mode)

    @router.get("/search/page", response_class=HTMLResponse, summary="Search results as a page")
    def search_page(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=500)],
        repo: Annotated[str | None, Query(max_length=300)] = None,
    ) -> HTMLResponse:
        result = run(q, repo, None, None, 10, "hybrid")
        rows = []
        for item in result["items"]:
            near = ", ".join(f"{html.escape(n['edge'])} {html.escape(n['name'] or n['xid'])}"
                             for n in item["neighbours"][:5])
            rows.append(
                f"<li><b>{html.escape(item['name'] or item['xid'])}</b> "
                f"<small>{html.escape(item['node_type'] or '')} · {item['score']:.3f} · "
                f"{html.escape(item['path'] or '')}</small>"
                f"<pre>{html.escape((item['snippet'] or '')[:400])}</pre>"
                f"<small>{near}</small></li>")
        body = "".join(rows) or "<li>No match.</li>"
        page = (f"<!doctype html><meta charset='utf-8'><title>FreshPoC search</title>"
                f"{search_form(q, request.scope.get('root_path', ''))}<ol>{body}</ol>")
        return HTMLResponse(page)

    return router


def search_form(q: str = "", base: str = "/freshpoc") -> str:
    """The search box, shared by the report browser and the results page."""
    return (f"<form action='{html.escape(base, quote=True)}/search/page' method='get'>"
            f"<input name='q' size='60' value='{html.escape(q, quote=True)}' "
            "placeholder='where do we compute churn?'> <button>Search</button></form>")


