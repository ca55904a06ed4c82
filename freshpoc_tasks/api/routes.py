"""Routes of the query API. Every one is a GET over saved queries or the graph's query builders
(``freshpoc_tasks.graph.queries``); none writes to the graph.

The graph's questions (node walks, timeline, as-of, changes) go through the store's
``graph.queries.GraphQuestions`` methods, the same interface the local store answers, so one
question has one meaning; the rest are saved queries.

The graph is the writer's: ``ntype`` for the type, ``repo`` for the owning repository, validity
``vf``/``vt`` in commit-time µs on nodes and edges, a repository's processed commits in the
``fp_timeline`` of its state node. Commit sequence numbers (``seq``) are positions on that timeline.
A repository's figures as of a processed commit (counts by type, languages, hotspots, coupling,
folder owners) are the aggregates the writer stored with the commit
(:mod:`freshpoc_tasks.graph.aggregates`), read in one lookup, so the overview, the report and
as-of give the same numbers and none re-reads the repository. Path prefixes are ranges of the
``path`` index; lists page with a cursor (``after``) as well as an offset.
"""

import html
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from pydantic import BaseModel

from freshpoc_tasks.api import store as st
from freshpoc_tasks.api.pages import html_page
from freshpoc_tasks.api.pagination import Page, PageParams, keyed_page, page_params
from freshpoc_tasks.api.problems import ProblemError
from freshpoc_tasks.api.search import search_form
from freshpoc_tasks.graph import validity
from freshpoc_tasks.graph.queries import (
    AmbiguousCommit,
    CommitNotFound,
    changed_nodes,
    changes_page,
    commit_on,
)
from freshpoc_tasks.reporting import (
    Affected,
    Hotspot,
    ImpactReport,
    Ownership,
    RepositoryReport,
    render_impact_report,
    render_repository_report,
)
from freshpoc_tasks.reporting.from_stages import aggregate_figures
from freshpoc_tasks.reporting.metrics import CouplingPair

Text = Annotated[str, Query(min_length=1, max_length=1000)]
RepoId = Annotated[str, Query(min_length=1, max_length=300, description="repo id, e.g. local/jaffle_shop")]
Xid = Annotated[str, Query(min_length=1, max_length=2000, description="node id (xid)")]
Depth = Annotated[int, Query(ge=1, le=10, description="hops to follow")]
Paging = Annotated[PageParams, Depends(page_params)]
Prefix = Annotated[str, Query(max_length=1000, description="path prefix; empty for all")]
Sha = Annotated[str, Query(min_length=4, max_length=64, pattern=r"^[0-9a-fA-F]+$",
                           description="commit sha or unique prefix")]


class Repository(BaseModel):
    xid: str
    repo_id: str
    url: str | None = None


class Commit(BaseModel):
    sha: str
    seq: int
    committed_at: str | None = None


class Overview(BaseModel):
    repo_id: str
    counts_by_type: dict[str, int]
    files_by_language: dict[str, int]
    last_commit: Commit | None
    files: int | None = None


class FileItem(BaseModel):
    xid: str
    path: str
    language: str | None = None
    size: int | None = None
    revisions: int | None = None
    authors: int | None = None
    main_author: str | None = None
    bus_factor: int | None = None


class NodeRef(BaseModel):
    xid: str
    type: str | None = None
    name: str | None = None


class Symbol(NodeRef):
    key: str | None = None
    files: list[str] = []


class NodeDetail(NodeRef):
    key: str | None = None
    path: str | None = None
    language: str | None = None
    size: int | None = None
    repos: list[str] = []
    valid_from: int | None = None
    valid_to: int | None = None
    files: list[str] = []


class ReachedNode(NodeRef):
    depth: int


class EdgeOut(BaseModel):
    type: str
    src: str
    dst: str


class TraversalOut(BaseModel):
    root: NodeRef
    direction: Literal["up", "down"]
    depth: int
    nodes: list[ReachedNode]
    edges: list[EdgeOut]


class HotspotItem(BaseModel):
    xid: str
    path: str
    revisions: int
    size: int | None = None
    churn: int | None = None
    authors: int | None = None
    main_author: str | None = None
    lines_code: int | None = None
    score: int | None = None  # revisions x lines of code, the miner's hotspot score
    rank: int | None = None


class CouplingItem(BaseModel):
    a: str
    b: str
    shared_revisions: int
    degree: float


class OwnerItem(BaseModel):
    path: str
    main_author: str | None = None
    main_author_share: float | None = None
    bus_factor: int | None = None
    authors: int | None = None


class Owners(BaseModel):
    subject: str
    owner: OwnerItem | None
    files: Page[OwnerItem]


class AsOf(BaseModel):
    commit: Commit
    counts_by_type: dict[str, int]
    nodes: Page[NodeRef]


class NodeChange(NodeRef):
    change: Literal["added", "removed"]


class Diff(BaseModel):
    """The nodes added (by xid), then the nodes removed (by xid), as one paged list; ``counts``
    has both lists' lengths. The MCP ``graph_diff`` tool answers in the same shape."""

    from_commit: Commit
    to_commit: Commit
    counts: dict[str, int]
    changes: Page[NodeChange]


class SavedQueryInfo(BaseModel):
    name: str
    description: str
    params: dict[str, str]


def _count(rows: list[dict[str, Any]] | None) -> int:
    return int(rows[0].get("count", 0)) if rows else 0


def _groups(data: dict[str, Any], key: str, field: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for block in data.get(key) or []:
        for g in block.get("@groupby", []):
            value = g.get(field)
            if value is not None:
                out[str(value)] = int(g.get("count", 0))
    return dict(sorted(out.items()))


def _window(items: list[Any], page: PageParams) -> list[Any]:
    return items[page.offset: page.offset + page.limit]


def _cursor_offset(page: PageParams) -> int:
    """Position in a ranked list: its cursor is the number of items already seen."""
    if not page.after:
        return page.offset
    if not page.after.isdigit() or len(page.after) > 9:
        raise ProblemError(400, "after must be the next_after of a previous page of this list")
    return int(page.after) + page.offset


def files_behind(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Files of a ``node_files`` answer by path: where the node is defined, or for a table or
    column the files of the models that build it."""
    found: dict[str, dict[str, Any]] = {}
    for f in node.get("defined_in", []):
        if "path" in f:
            found[f["path"]] = f
    for key in ("~materializes_as", "~has_column"):
        for child in node.get(key, []):
            found.update(files_behind(child))
    return found


def _uses(x: dict[str, Any], repo: str) -> bool:
    """A shared node (table, column) belongs to a repository's answers when that repository's
    current models or statements build, read, write or name it."""
    if x.get("repo") == repo:
        return True
    users = [u for k in ("users_m", "users_r", "users_w", "users_x") for u in x.get(k, [])]
    users += [u for c in x.get("users_c", []) for u in c.get("~materializes_as", [])]
    return any(u.get("repo") == repo for u in users)


Format = Annotated[Literal["markdown", "html"], Query(description="markdown (default) or html")]


# The routes' logic, store first, so other callers (the MCP server) answer exactly as the routes do.
def run(store: st.GraphStore, query_name: str, /, **values: Any) -> dict[str, Any]:
    try:
        return store.run(query_name, **values)
    except st.ParamError as exc:
        raise ProblemError(400, str(exc)) from None
    except Exception as exc:  # pydgraph/grpc errors: the graph is down or rejected the query
        if type(exc).__module__.split(".")[0] in {"grpc", "pydgraph"}:
            raise ProblemError(503, f"graph query {query_name} failed: {type(exc).__name__}") from exc
        raise


def ask(store: st.GraphStore, question: str, /, *args: Any) -> Any:
    """One of the graph's questions (``graph.queries.GraphQuestions``), with the errors
    ``run`` gives: a bad value is 400, an unreachable or refusing graph 503."""
    return guarded(question, getattr(store, question), *args)


def guarded(question: str, fn: Callable[..., Any], /, *args: Any) -> Any:
    """``fn(*args)`` with :func:`ask`'s errors (for a core function over the store's questions)."""
    try:
        return fn(*args)
    except ValueError as exc:
        raise ProblemError(400, str(exc)) from None
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in {"grpc", "pydgraph"}:
            raise ProblemError(503, f"graph question {question} failed: {type(exc).__name__}") from exc
        raise


def timeline(store: st.GraphStore, repo: str) -> list[tuple[Commit, int]]:
    """The repository's processed commits, oldest first, with their commit times in µs."""
    points = ask(store, "timeline", repo)
    return [(Commit(sha=sha, seq=i, committed_at=validity.from_us(us).isoformat()), us)
            for i, (us, sha) in enumerate(points, 1)]


def commit_of(store: st.GraphStore, repo: str, sha: str) -> tuple[Commit, int]:
    """The processed commit a ``commit`` parameter names (``graph.queries.commit_on``'s meaning),
    with its time in µs; 404 when none matches, 400 for an ambiguous prefix."""
    commits = timeline(store, repo)
    try:
        i = commit_on([(us, c.sha) for c, us in commits], repo, sha)[0]
    except CommitNotFound as exc:
        raise ProblemError(404, str(exc)) from None
    except AmbiguousCommit as exc:
        raise ProblemError(400, str(exc)) from None
    return commits[i]


def repositories_answer(store: st.GraphStore, page: Paging) -> Page[Repository]:
    d = run(store, "repositories", first=page.limit, offset=page.offset)
    return Page.of([Repository(**x) for x in d.get("items", [])], _count(d.get("total")), page)


def overview_answer(store: st.GraphStore, repo: RepoId) -> Overview:
    agg = ask(store, "aggregates", repo)
    commits = timeline(store, repo)
    last = commits[-1][0] if commits else None
    if agg is not None:
        return Overview(repo_id=repo, counts_by_type=agg.counts_by_type,
                        files_by_language=agg.files_by_language, last_commit=last, files=agg.files)
    # A graph written before ontology 0.4.0 (no aggregates yet): count what is open now.
    d = run(store, "repository_overview", repo=repo)
    if not d.get("repository"):
        raise ProblemError(404, f"no repository {repo} in the graph")
    return Overview(repo_id=repo, counts_by_type=_groups(d, "by_type", "ntype"),
                    files_by_language=_groups(d, "by_language", "language"), last_commit=last)


def files_answer(store: st.GraphStore, repo: RepoId, page: Paging, path_prefix: Prefix = "",
          language: Annotated[str | None, Query(max_length=100)] = None) -> Page[FileItem]:
    rows, total, cursor = current_files(store, repo, path_prefix, page, language)
    return Page.of([FileItem(**x) for x in rows], total, page, cursor)


def current_files(store: st.GraphStore, repo: str, prefix: str, page: PageParams,
                  language: str | None = None) -> tuple[list[dict[str, Any]], int, str | None]:
    """One page of the files present now whose path starts with ``prefix``, by path, how many
    there are, and the page's cursor, cut by Dgraph (``first``, offset, cursor: see
    ``graph.queries.files_page`` and ``pagination.keyed_page``): a prefix is a range of the path
    index; the whole list's count comes from the newest commit's aggregates (one lookup), which
    also map ``language`` to its stored spelling, so it matches regardless of case."""
    from freshpoc_tasks.graph import queries as gq

    agg = ask(store, "aggregates", repo) if language or not prefix else None
    stored = language
    if language:
        stored = next((lang for lang in (agg.files_by_language if agg else {})
                       if lang.lower() == language.lower()), language)
    lo, hi = st.prefix_range(prefix) if prefix or agg is None else ("", "")
    counted: list[int] = []

    def fetch(after: str, first: int, offset: int) -> list[dict[str, Any]]:
        d = ask(store, "run_builder", gq.files_page(repo, lo, hi, after, first, offset, stored))
        counted.append(_count(d.get("total")))
        return d.get("items", [])

    rows, cursor = keyed_page(fetch, page, "path")
    if lo or hi:
        return rows, counted[-1], cursor
    total = agg.files_by_language.get(stored, 0) if stored else agg.files
    return rows, total, cursor


def symbols_answer(store: st.GraphStore, repo: RepoId, name: Text, page: Paging) -> Page[Symbol]:
    rows = [x for x in run(store, "symbols", name=name).get("items", []) if _uses(x, repo)]
    items = [Symbol(xid=x["xid"], type=st.first_type(x), name=x.get("name"), key=x.get("key"),
                    files=sorted(f["path"] for f in x.get("defined_in", []) if "path" in f))
             for x in _window(rows, page)]
    return Page.of(items, len(rows), page)


def node_answer(store: st.GraphStore, xid: Xid) -> NodeDetail:
    rows = run(store, "node", xid=xid).get("node", [])
    if not rows:
        raise ProblemError(404, "no node with that id")
    x = rows[0]
    return NodeDetail(xid=x["xid"], type=st.first_type(x), name=x.get("name"), key=x.get("key"),
                      path=x.get("path"), language=x.get("language"), size=x.get("size"),
                      repos=[x["repo"]] if x.get("repo") else [], valid_from=x.get("vf"),
                      valid_to=None if x.get("vt") == validity.OPEN else x.get("vt"),
                      files=sorted(f["path"] for f in x.get("defined_in", []) if "path" in f))


def walk(store: st.GraphStore, name: str, xid: str, depth: int, direction: str,
         at_us: int | None = None) -> st.Traversal:
    return ask(store, "walk", name, xid, direction, depth, at_us)


def traversal(store: st.GraphStore, name: str, xid: str, depth: int,
              direction: Literal["up", "down"]) -> TraversalOut:
    t = walk(store, name, xid, depth, direction)
    if t.root is None:
        raise ProblemError(404, "no node with that id")
    return TraversalOut(root=NodeRef(**t.root), direction=direction, depth=depth,
                        nodes=[ReachedNode(**n) for n in t.nodes], edges=[EdgeOut(**e) for e in t.edges])


def dependencies_answer(store: st.GraphStore, xid: Xid, direction: Literal["up", "down"] = "down",
                 depth: Depth = 1) -> TraversalOut:
    return traversal(store, "deps", xid, depth, direction)


def lineage_answer(store: st.GraphStore, xid: Xid, direction: Literal["up", "down"] = "up",
            depth: Depth = 3) -> TraversalOut:
    return traversal(store, "lineage", xid, depth, direction)


def hotspots_answer(store: st.GraphStore, repo: RepoId, page: Paging,
             commit: Annotated[str | None, Query(min_length=4, max_length=64, pattern=r"^[0-9a-fA-F]+$",
                                                 description="a processed commit; the newest if absent")]
             = None) -> Page[HotspotItem]:
    """The commit's files that changed, by the miner's score (revisions x lines of code), then
    revisions, then path: the ranked list stored with the commit, read page by page."""
    sha = commit_of(store, repo, commit)[0].sha if commit else None
    start = _cursor_offset(page)
    found = ask(store, "ranked", repo, "hotspots", sha, start, page.limit)
    if found is None:  # written before ontology 0.4.0
        rows = hotspot_rows(store, repo)
        items, total = rows[start:start + page.limit], len(rows)
    else:
        items, total = found
    out = [HotspotItem(**x) for x in items]
    return Page.of(out, total, page, str(start + len(out)) if out else None)


def hotspot_rows(store: st.GraphStore, repo: str) -> list[dict[str, Any]]:
    """Only for graphs without aggregates: the same order over the current files."""
    rows = run(store, "hotspots", repo=repo).get("items", [])
    return sorted(rows, key=lambda x: (-int(x["revisions"]) * int(x.get("lines_code") or 0),
                                       -int(x["revisions"]), x["path"]))


def ranked_pairs(store: st.GraphStore, repo: str, min_degree: float, start: int,
                 limit: int) -> tuple[list[CouplingItem], int] | None:
    """A window of the newest commit's coupled pairs (strongest first) with at least
    ``min_degree``: the stored list is ordered by degree, so only its head is read."""
    if min_degree <= 0:
        found = ask(store, "ranked", repo, "coupling", None, start, limit)
        if found is None:
            return None
        return [CouplingItem(**x) for x in found[0]], found[1]
    kept: list[CouplingItem] = []
    at, chunk = 0, 500
    while True:
        found = ask(store, "ranked", repo, "coupling", None, at, chunk)
        if found is None:
            return None
        batch = [CouplingItem(**x) for x in found[0]]
        kept += [p for p in batch if p.degree >= min_degree]
        if len(batch) < chunk or (batch and batch[-1].degree < min_degree):
            return kept[start:start + limit], len(kept)
        at += chunk


def coupling_pairs(store: st.GraphStore, repo: str, path_prefix: str,
                   min_degree: float) -> list[CouplingItem]:
    """Pairs from the files under ``path_prefix`` (a range of the path index)."""
    pairs = []
    lo, hi = st.prefix_range(path_prefix)
    for f in run(store, "coupling", repo=repo, path_lo=lo, path_hi=hi).get("items", []):
        for other in f.get("coupled_with", []):
            degree = float(other.get("coupled_with|degree", 0.0))
            if degree >= min_degree and "path" in other:
                shared = int(other.get("coupled_with|shared_revisions", 0))
                pairs.append(CouplingItem(a=f["path"], b=other["path"], degree=degree,
                                          shared_revisions=shared))
    return sorted(pairs, key=lambda p: (-p.degree, -p.shared_revisions, p.a, p.b))


def coupling_answer(store: st.GraphStore, repo: RepoId, page: Paging, path_prefix: Prefix = "",
             min_degree: Annotated[float, Query(ge=0, le=100)] = 0.0) -> Page[CouplingItem]:
    start = _cursor_offset(page)
    found = None if path_prefix else ranked_pairs(store, repo, min_degree, start, page.limit)
    if found is None:
        pairs = coupling_pairs(store, repo, path_prefix, min_degree)
        found = pairs[start: start + page.limit], len(pairs)
    items, total = found
    return Page.of(items, total, page, str(start + len(items)) if items else None)


def owners_answer(store: st.GraphStore, repo: RepoId, page: Paging, path: Prefix = "",
           xid: Annotated[str | None, Query(max_length=2000)] = None) -> Owners:
    if xid:
        rows = run(store, "node_files", xid=xid).get("node", [])
        if not rows:
            raise ProblemError(404, "no node with that id")
        found = files_behind(rows[0])
        items = [OwnerItem(**found[p]) for p in sorted(found)]
        return Owners(subject=xid, owner=items[0] if len(items) == 1 else None,
                      files=Page.of(items[page.offset: page.offset + page.limit], len(items), page))
    prefix = path.rstrip("/")
    own = run(store, "path_owner", repo=repo, path=prefix).get("self", []) if prefix else []
    under, total, cursor = current_files(store, repo, prefix + "/" if prefix else "", page)
    if own and not total and own[0].get("ntype") == "file":
        under, total, cursor = own, 1, None
    items = [OwnerItem(**x) for x in under]
    return Owners(subject=prefix or ".", owner=OwnerItem(**own[0]) if own else None,
                  files=Page.of(items, total, page, cursor))


def as_of_answer(store: st.GraphStore, repo: RepoId, commit: Sha, page: Paging) -> AsOf:
    c, at = commit_of(store, repo, commit)
    agg = ask(store, "aggregates", repo, c.sha)
    counts = agg.counts_by_type if agg is not None else ask(store, "counts_by_type", repo, at)
    rows, cursor = keyed_page(
        lambda after, first, offset: ask(store, "nodes_at", repo, at, first, offset, after), page, "xid")
    return AsOf(commit=c, counts_by_type=counts,
                nodes=Page.of([NodeRef(**x) for x in rows], sum(counts.values()), page, cursor))


def diff_window(store: st.GraphStore, repo: str, from_commit: str,
                to_commit: str) -> tuple[tuple[Commit, int], tuple[Commit, int]]:
    """Both commits of a diff resolved on the timeline, the older first (400 otherwise)."""
    (a, ua), (b, ub) = commit_of(store, repo, from_commit), commit_of(store, repo, to_commit)
    if a.seq > b.seq:
        raise ProblemError(400, "from_commit must not be newer than to_commit")
    return (a, ua), (b, ub)


def diff_answer(store: st.GraphStore, repo: RepoId, from_commit: Sha, to_commit: Sha, page: Paging) -> Diff:
    """A page of what changed between two processed commits (``graph.queries.changes_page``):
    read in DQL a page at a time, so a large change costs its page, not its size. The cursor is
    the position in the list: the diff between two processed commits does not change."""
    (a, ua), (b, ub) = diff_window(store, repo, from_commit, to_commit)
    start = _cursor_offset(page)
    rows, counts = guarded("changes_page", changes_page, store, repo, ua, ub, page.limit, start)
    items = [NodeChange(**x) for x in rows]
    cursor = str(start + len(items)) if items else None
    return Diff(from_commit=a, to_commit=b, counts=counts,
                changes=Page.of(items, sum(counts.values()), page, cursor))


def changes(store: st.GraphStore, repo: str, from_us: int,
            to_us: int) -> tuple[list[NodeRef], list[NodeRef]]:
    """Nodes added and removed between two commit times (``graph.queries.changed_nodes``: history
    nodes left out, each processed commit would otherwise "add" itself)."""
    added, removed = guarded("changes", changed_nodes, store, repo, from_us, to_us)
    return [NodeRef(**x) for x in added], [NodeRef(**x) for x in removed]


def saved_queries_answer(store: st.GraphStore) -> list[SavedQueryInfo]:
    out = []
    for q in store.queries.values():
        params = {k: v for k, v in q.params.items() if k not in st.DERIVED}
        params.update({f"{k[:-3]}_prefix": "string" for k in q.params
                       if k in st.DERIVED and k.endswith("_lo")})
        out.append(SavedQueryInfo(name=q.name, description=q.description, params=params))
    return out


def run_saved_answer(store: st.GraphStore, request: Request,
              name: Annotated[str, Query(max_length=64)] | str) -> dict[str, Any]:
    return run_saved_query(store, name, dict(request.query_params))


def run_saved_query(store: st.GraphStore, name: str, values: dict[str, Any]) -> dict[str, Any]:
    """A saved query by name with user-given values (prefixes expanded, windows checked)."""
    saved = store.queries.get(name)
    if saved is None:
        raise ProblemError(404, "no saved query with that name")
    values = dict(values)
    for base in ("path", "lang", "sha"):  # prefix parameters expand to their ranges
        if f"{base}_lo" in saved.params:
            values[f"{base}_lo"], values[f"{base}_hi"] = st.prefix_range(values.pop(f"{base}_prefix", ""))
    if "after" in saved.params:  # a cursor: empty asks for the first page
        values.setdefault("after", "")
    if "first" in saved.params:
        values.setdefault("first", "50")
        values.setdefault("offset", "0")
        try:
            if not 1 <= int(values["first"]) <= 500 or not 0 <= int(values["offset"]) <= 100_000:
                raise ProblemError(400, "first must be 1..500 and offset 0..100000")
        except ValueError:
            raise ProblemError(400, "first and offset must be integers") from None
    if "depth" in saved.params:
        try:
            if not 1 <= int(values.get("depth", "0")) <= 10:
                raise ProblemError(400, "depth must be 1..10")
        except ValueError:
            raise ProblemError(400, "depth must be an integer") from None
    return run(store, name, **values)


def repository_report_data(store: st.GraphStore, repo: str) -> RepositoryReport:
    agg = ask(store, "aggregates", repo)
    if agg is not None:  # the newest commit's figures and edges: what overview and as-of say
        drawn = ask(store, "report_edges", repo, agg.commit) or {}
        return RepositoryReport(repo, agg.commit, module_edges=drawn.get("module_edges", []),
                                lineage_edges=drawn.get("lineage_edges", []),
                                lineage_left_out=agg.lineage_left_out, **aggregate_figures(agg))
    # A graph written before ontology 0.4.0.
    edges = run(store, "report_edges", repo=repo)
    module_edges = [(m["key"], t["key"]) for m in edges.get("modules", []) for t in m.get("imports", [])]
    lineage_edges = [(u["name"], m["name"])
                     for m in edges.get("models", []) for u in m.get("depends_on", [])]
    ov = overview_answer(store, repo)
    hs = hotspot_rows(store, repo)[:15]
    folders = [Ownership(f["path"], f.get("main_author"), float(f.get("main_author_share") or 0),
                         int(f.get("bus_factor") or 0), int(f.get("authors") or 0),
                         int(f.get("revisions") or 0))
               for f in run(store, "folders", repo=repo).get("items", [])
               if f.get("main_author") and f["path"].count("/") == 0]
    pairs = coupling_pairs(store, repo, "", 0.0)[:15]
    return RepositoryReport(
        repo, ov.last_commit.sha if ov.last_commit else None, counts=ov.counts_by_type,
        languages=ov.files_by_language, module_edges=sorted(module_edges),
        lineage_edges=sorted(lineage_edges),
        hotspots=[Hotspot(h["path"], int(h["revisions"]), int(h.get("size") or 0)) for h in hs],
        coupling=[CouplingPair(p.a, p.b, p.shared_revisions, p.degree) for p in pairs], owners=folders)


def impact_report_data(store: st.GraphStore, repo: str, sha: str) -> ImpactReport:
    commits = timeline(store, repo)
    c, at = commit_of(store, repo, sha)
    parent = commits[c.seq - 2] if c.seq > 1 else None
    before = parent[1] if parent else -1  # nothing of the repository is valid before it
    added, removed = changes(store, repo, before, at)
    impact_edges: dict[tuple[str, str], None] = {}
    affected: dict[str, NodeRef] = {}
    # What an added node feeds as of the commit; what a removed one fed just before it.
    walks = [(n, at) for n in added] + [(n, before) for n in removed]
    for n, when in walks[:25]:
        if n.type in {"file", "folder", "commit", "person"}:
            continue
        for kind, name, direction in (("lineage_down", "lineage", "down"), ("deps_up", "deps", "up")):
            t = walk(store, name, n.xid, 3, direction, at_us=when)
            names = {x["xid"]: f'{x.get("name") or x["xid"]} ({x.get("type")})' for x in t.nodes}
            names[n.xid] = f"{n.name or n.xid} ({n.type})"
            for x in t.nodes:
                affected.setdefault(x["xid"], NodeRef(**{k: x.get(k) for k in ("xid", "type", "name")}))
            for e in t.edges:
                src, dst = (e["src"], e["dst"]) if kind == "lineage_down" else (e["dst"], e["src"])
                if src in names and dst in names and src != dst:
                    impact_edges.setdefault((names[src], names[dst]), None)
    out = []
    for a in sorted(affected.values(), key=lambda a: a.xid)[:100]:
        rows = run(store, "node_files", xid=a.xid).get("node", [])
        owners_ = sorted({f["main_author"] for f in (files_behind(rows[0]).values() if rows else [])
                          if f.get("main_author")})
        out.append(Affected(a.xid, a.type or "", a.name or a.xid, tuple(owners_)))
    return ImpactReport(repo, c.sha, parent[0].sha if parent else None,
                        added=[(n.type or "", n.name or n.xid) for n in added],
                        removed=[(n.type or "", n.name or n.xid) for n in removed],
                        impact_edges=list(impact_edges), affected=out)


def mermaid_url(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}/assets/mermaid.min.js"


def repository_report_answer(store: st.GraphStore, request: Request, repo: RepoId,
                             format: Format = "markdown"):
    data = repository_report_data(store, repo)
    md, page = render_repository_report(data, mermaid_src=mermaid_url(request))
    if format == "html":
        return HTMLResponse(page)
    return PlainTextResponse(md, media_type="text/markdown; charset=utf-8")


def impact_report_answer(store: st.GraphStore, request: Request, repo: RepoId, commit: Sha,
                         format: Format = "markdown"):
    data = impact_report_data(store, repo, commit)
    md, page = render_impact_report(data, mermaid_src=mermaid_url(request))
    if format == "html":
        return HTMLResponse(page)
    return PlainTextResponse(md, media_type="text/markdown; charset=utf-8")


def report_browser_answer(store: st.GraphStore, request: Request) -> HTMLResponse:
    base = request.scope.get("root_path", "")
    repos = run(store, "repositories", first=500, offset=0).get("items", [])
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(x['repo_id'])}</td>"
        f'<td><a href="{base}/reports/repository?format=html&amp;repo={quote(x["repo_id"], safe="")}">'
        f'report</a> · <a href="{base}/reports/repository?repo={quote(x["repo_id"], safe="")}">'
        "Markdown</a></td></tr>" for x in repos)
    body = (f"<table><thead><tr><th>repository</th><th>report</th></tr></thead><tbody>{rows}"
            "</tbody></table>") if rows else \
        "<p>No repositories in the graph yet: run the freshpoc_pipeline DAG.</p>"
    return HTMLResponse(html_page("FreshPoC reports", search_form("", base) + body, base))


def build_router(store_of: Any, mermaid_bundle: Any) -> APIRouter:
    """``store_of()`` gives the GraphStore (created lazily: no Dgraph connection at import). Each
    route is its ``*_answer`` function above, with FastAPI's parameter checks."""
    r = APIRouter()
    Store = Annotated[st.GraphStore, Depends(store_of)]

    @r.get("/repositories", summary="Repositories in the graph")
    def repositories(store: Store, page: Paging) -> Page[Repository]:
        return repositories_answer(store, page)

    @r.get("/repositories/overview", summary="Counts by type, languages and last processed commit")
    def overview(store: Store, repo: RepoId) -> Overview:
        return overview_answer(store, repo)

    @r.get("/files", summary="Files present now, filtered by path prefix and language")
    def files(store: Store, repo: RepoId, page: Paging, path_prefix: Prefix = "",
              language: Annotated[str | None, Query(max_length=100)] = None) -> Page[FileItem]:
        return files_answer(store, repo, page, path_prefix, language)

    @r.get("/symbols", summary="Symbols whose name or qualified name equals `name`")
    def symbols(store: Store, repo: RepoId, name: Text, page: Paging) -> Page[Symbol]:
        return symbols_answer(store, repo, name, page)

    @r.get("/nodes", summary="One node by id")
    def node(store: Store, xid: Xid) -> NodeDetail:
        return node_answer(store, xid)

    @r.get("/dependencies", summary="Imports/refs/bases/calls: what a node uses (down) or what uses it (up)")
    def dependencies(store: Store, xid: Xid, direction: Literal["up", "down"] = "down",
                     depth: Depth = 1) -> TraversalOut:
        return dependencies_answer(store, xid, direction, depth)

    @r.get("/lineage", summary="Data lineage of a column, table, dbt model or source")
    def lineage(store: Store, xid: Xid, direction: Literal["up", "down"] = "up",
                depth: Depth = 3) -> TraversalOut:
        return lineage_answer(store, xid, direction, depth)

    @r.get("/hotspots", summary="Files by change frequency, then size")
    def hotspots(store: Store, repo: RepoId, page: Paging,
                 commit: Annotated[str | None, Query(min_length=4, max_length=64, pattern=r"^[0-9a-fA-F]+$",
                                                     description="a processed commit; the newest if absent")]
                 = None) -> Page[HotspotItem]:
        return hotspots_answer(store, repo, page, commit)

    @r.get("/coupling", summary="Files that change together (temporal coupling), strongest first")
    def coupling(store: Store, repo: RepoId, page: Paging, path_prefix: Prefix = "",
                 min_degree: Annotated[float, Query(ge=0, le=100)] = 0.0) -> Page[CouplingItem]:
        return coupling_answer(store, repo, page, path_prefix, min_degree)

    @r.get("/owners", summary="Main author and bus factor of a file or folder, or of a node's files")
    def owners(store: Store, repo: RepoId, page: Paging, path: Prefix = "",
               xid: Annotated[str | None, Query(max_length=2000)] = None) -> Owners:
        return owners_answer(store, repo, page, path, xid)

    @r.get("/graph/as-of", summary="The repository's graph as of a processed commit")
    def as_of(store: Store, repo: RepoId, commit: Sha, page: Paging) -> AsOf:
        return as_of_answer(store, repo, commit, page)

    @r.get("/graph/diff", summary="Nodes added and removed between two processed commits")
    def diff(store: Store, repo: RepoId, from_commit: Sha, to_commit: Sha, page: Paging) -> Diff:
        return diff_answer(store, repo, from_commit, to_commit, page)

    @r.get("/queries", summary="Saved queries (named, parameterised DQL)")
    def saved_queries(store: Store) -> list[SavedQueryInfo]:
        return saved_queries_answer(store)

    @r.get("/queries/{name}", summary="Run a saved query; its parameters go in the query string")
    def run_saved(store: Store, request: Request,
                  name: Annotated[str, Query(max_length=64)] | str) -> dict[str, Any]:
        return run_saved_answer(store, request, name)

    @r.get("/reports/repository", summary="Repository report (Markdown with Mermaid, or HTML)",
           response_class=PlainTextResponse,
           responses={200: {"content": {"text/markdown": {}, "text/html": {}}}})
    def repository_report(store: Store, request: Request, repo: RepoId, format: Format = "markdown"):
        return repository_report_answer(store, request, repo, format)

    @r.get("/reports/impact", summary="Per-commit impact report (Markdown with Mermaid, or HTML)",
           response_class=PlainTextResponse,
           responses={200: {"content": {"text/markdown": {}, "text/html": {}}}})
    def impact_report(store: Store, request: Request, repo: RepoId, commit: Sha, format: Format = "markdown"):
        return impact_report_answer(store, request, repo, commit, format)

    @r.get("/reports", summary="Report browser (the Airflow navigation entry opens this page)",
           response_class=HTMLResponse)
    def report_browser(store: Store, request: Request) -> HTMLResponse:
        return report_browser_answer(store, request)

    @r.get("/assets/mermaid.min.js", summary="The locally installed Mermaid bundle reports load",
           response_class=FileResponse, responses={200: {"content": {"text/javascript": {}}}})
    def mermaid_js() -> FileResponse:
        bundle: Path | None = mermaid_bundle()
        if bundle is None or not bundle.is_file():
            raise ProblemError(404, "mermaid is not installed; run 'freshpoc stack up' (ensure_mermaid)")
        return FileResponse(bundle, media_type="text/javascript")

    return r
