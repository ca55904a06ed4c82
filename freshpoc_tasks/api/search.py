"""Semantic search routes: Weaviate's hybrid search, answered as graph nodes with neighbours.

``GET /search`` returns JSON; ``GET /search/page`` the same as a small HTML page behind the
search box of the report browser. Hits come from the ``CodeChunk`` collection; each hit's graph
node and its one-hop neighbours (callers, owners, lineage) are read from Dgraph with the xid as
a DQL variable.

Every hit names its repository (``repository``: id and report link) and its kind (the node type
and the ontology's words for it), on the page too: the same function in two repositories is two
hits of two repositories, not a duplicate. The page wears the HTML reports' stylesheet
(:mod:`freshpoc_tasks.api.pages`).
"""

import html
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from freshpoc_tasks.api.pages import html_page

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


@lru_cache(maxsize=1)
def _descriptions() -> dict[str, str]:
    from freshpoc_tasks.graph.ontology import load_graph_ontology

    return {name: t.description for name, t in load_graph_ontology().base.node_types.items()}


FAMILIES = {"py": "Python", "sql": "SQL", "dbt": "dbt", "pulumi": "Pulumi", "airflow": "Airflow"}


def kind_label(node_type: str) -> str:
    """The ontology's words for a node type: the family, then its description's first clause
    without the article ("py.function", "A function or method; key is ..." -> "Python function
    or method"; "dbt.model", "A model; ..." -> "dbt model")."""
    text = _descriptions().get(node_type, "")
    first = re.split(r"[;.(,]", text, maxsplit=1)[0].strip()
    first = re.sub(r"^(One|An?|The)\s+", "", first)
    if not first:
        return node_type
    family = FAMILIES.get(node_type.split(".", 1)[0]) if "." in node_type else None
    if family and family.lower() not in first.lower():
        first = f"{family} {first}"
    return first


def report_url(base: str, repo_id: str) -> str:
    return f"{base}/reports/repository?format=html&repo={quote(repo_id, safe='')}"


def build_search_router(searcher_of: Callable[[], Searcher],
                        neighbours_of: Callable[[], Neighbours]) -> APIRouter:
    router = APIRouter(tags=["search"])

    def run(q: str, repo: str | None, language: str | None, node_type: str | None, limit: int,
            mode: str, base: str) -> dict[str, Any]:
        hits = searcher_of()(q, repo_id=repo, language=language, node_type=node_type,
                             limit=limit, mode=mode)
        neighbours = neighbours_of()
        items = [{"xid": h.xid, "score": round(float(h.score), 4), "name": h.name,
                  "node_type": h.node_type, "kind": kind_label(h.node_type), "repo_id": h.repo_id,
                  "repository": {"repo_id": h.repo_id, "report": report_url(base, h.repo_id)},
                  "language": h.language or None, "path": h.path, "snippet": h.snippet,
                  "neighbours": neighbours(h.xid)} for h in hits]
        return {"query": q, "mode": mode, "items": items, "total": len(items),
                "repositories": sorted({i["repo_id"] for i in items})}

    @router.get("/search", summary="Semantic search over code and docs, answered as graph nodes; "
                "each hit names its repository and kind")
    def search(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=500, description="a question in words")],
        repo: Annotated[str | None, Query(max_length=300, description="repository id")] = None,
        language: Annotated[str | None, Query(max_length=50)] = None,
        node_type: Annotated[str | None, Query(max_length=50, description="e.g. py.function")] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
        mode: Annotated[Literal["hybrid", "bm25", "vector"], Query()] = "hybrid",
    ) -> dict[str, Any]:
        return run(q, repo, language, node_type, limit, mode, request.scope.get("root_path", ""))

    @router.get("/search/page", response_class=HTMLResponse, summary="Search results as a page")
    def search_page(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=500)],
        repo: Annotated[str | None, Query(max_length=300)] = None,
    ) -> HTMLResponse:
        base = request.scope.get("root_path", "")
        result = run(q, repo, None, None, 10, "hybrid", base)
        e = html.escape
        rows = []
        for item in result["items"]:
            near = ", ".join(f"{e(n['edge'])} {e(n['name'] or n['xid'])}" for n in item["neighbours"][:5])
            where = e(item["path"] or "")
            rows.append(
                f"<li><b>{e(item['name'] or item['xid'])}</b> "
                f"<span class='tag' title='{e(item['node_type'] or '', quote=True)}'>{e(item['kind'])}</span>"
                f" in <a class='repo' href='{e(item['repository']['report'], quote=True)}'>"
                f"{e(item['repo_id'])}</a>"
                f"<div class='meta'>{where}{' · ' if where else ''}score {item['score']:.3f}</div>"
                f"<pre class='snippet'>{e((item['snippet'] or '')[:400])}</pre>"
                + (f"<div class='meta'>{near}</div>" if near else "") + "</li>")
        body = "".join(rows) or "<li>No match.</li>"
        n = len(result["items"])
        scope = f" in {e(repo)}" if repo else f" across {len(result['repositories'])} repositories"
        return HTMLResponse(html_page(
            "FreshPoC search",
            f"{search_form(q, base, repo)}<p class='meta'>{n} hit{'' if n == 1 else 's'}{scope}</p>"
            f"<ol class='hits'>{body}</ol>", base))

    return router


def search_form(q: str = "", base: str = "/freshpoc", repo: str | None = None) -> str:
    """The search box, shared by the report browser and the results page (a repository filter
    stays with the next question)."""
    e = html.escape
    keep = f"<input type='hidden' name='repo' value='{e(repo, quote=True)}'>" if repo else ""
    return (f"<form action='{e(base, quote=True)}/search/page' method='get'>"
            f"<input name='q' size='60' value='{e(q, quote=True)}' "
            f"placeholder='where do we compute churn?'>{keep} <button>Search</button></form>")


