"""A repository's figures as of one processed commit, computed once when the commit is written.

Why: the overview, the report and ``/graph/as-of`` each counted the graph their own way — the
overview every node whose validity was still open, as-of the nodes valid at the commit — so one
question had two answers, and each call re-read the whole repository. Here the one meaning is
fixed: **the repository's own nodes present at the commit** (shared nodes such as people,
PyPI distributions and warehouse tables belong to no repository and are not counted), with the
properties the commit's delta gave them. The writer (Dgraph) and the embedded local store both
call :func:`from_plan` with the plan they just executed, and store the result next to the graph;
readers fetch it in one lookup.

What is in it (all as of the commit): node counts by type, files by language, the number of
files, hotspots (files that changed, by the miner's score revisions x lines of code, then
revisions, then path), coupled file pairs (strongest first) and top-level folder stats. The
ordered lists are cut into pages of :data:`PAGE` items so a list route reads only the pages its
window touches, whatever the repository's size.

Properties come from the delta, not from the stored nodes, because a stored node holds the
properties of its *latest* run: an older commit's hotspot ranks cannot be read back from the
graph afterwards. Counts come from validity runs (exact, gaps included), not from the ``vf``/``vt``
envelope.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from freshpoc_tasks.graph import validity as v
from freshpoc_tasks.graph.ontology import AGGREGATES_TYPE

AGGREGATES_VERSION = 2  # 2: module_edges stored as the sub-list the report draws from
AGGREGATES_PREFIX = "freshpoc.aggregates:"
PAGE = 100  # items per stored page of a ranked list
HEAD = 20  # items of each list kept in the summary itself (overview and report need no page read)
LISTS = ("hotspots", "coupling")  # ranked lists the API pages through
EDGE_LISTS = ("module_edges", "lineage_edges")  # what the report draws, read whole
EDGE_PAGE = 5000  # edges per stored page: a report reads its edges in one or a few lookups
PACKAGE_DEPTH = 2  # module imports are drawn between packages of this many dotted parts
LINEAGE_TYPES = ("dbt.model", "dbt.source", "dbt.seed", "dbt.snapshot")
# The module graph's node budget in the repository report (``reports.repository_document``'s
# ``max_nodes``): the stored module edges are the few that draw the same picture under it.
DRAW_NODES = 40

HOTSPOT_FIELDS = ("revisions", "size", "lines_code", "churn", "authors", "main_author")
FOLDER_FIELDS = ("files", "revisions", "authors", "main_author", "main_author_share", "bus_factor")

_CANON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True)
class PresentNode:
    """One node of the repository present at the commit: its id, type, natural key and property
    view (``records.node_view`` form: name, path, span and the ontology fields)."""

    xid: str
    ntype: str
    props: Mapping[str, Any]
    key: str = ""


@dataclass(frozen=True)
class PresentEdge:
    """An edge present at the commit (``coupled_with``, ``imports``, ``depends_on`` are used)."""

    type: str
    src: str
    dst: str
    props: Mapping[str, Any]


EDGE_TYPES = frozenset({"coupled_with", "imports", "depends_on"})


_PROPS_READ = frozenset({"file", "folder", *LINEAGE_TYPES})
_NO_PROPS: Mapping[str, Any] = {}


def page_size(name: str) -> int:
    return EDGE_PAGE if name in EDGE_LISTS else PAGE


@dataclass
class Aggregates:
    """The summary of one (repository, commit); ``hotspots``/``coupling`` hold the first
    :data:`HEAD` items, the full lists live in pages (:meth:`pages`)."""

    repo_id: str
    commit: str
    at_us: int
    counts_by_type: dict[str, int]
    files_by_language: dict[str, int]
    files: int
    folders: list[dict[str, Any]]
    hotspots: list[dict[str, Any]]
    coupling: list[dict[str, Any]]
    totals: dict[str, int]  # list name -> its full length
    version: int = AGGREGATES_VERSION
    # dbt nodes not in the stored ``lineage_edges`` (``reporting.mermaid.top_connected``): 0 in
    # figures stored before it, whose list is whole and is cut when drawn.
    lineage_left_out: int = 0
    digest: str = ""
    full: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False, compare=False)

    def summary_json(self) -> str:
        """What the summary record stores (the full lists are not in it)."""
        # Not dataclasses.asdict: it deep-copies the full lists (most of the cost) only to drop them.
        return _CANON({f.name: getattr(self, f.name) for f in fields(self) if f.name != "full"})

    @classmethod
    def from_json(cls, text: str) -> Aggregates:
        data = json.loads(text)
        data.pop("full", None)
        return cls(**data)

    def pages(self) -> dict[str, list[list[Any]]]:
        """list name -> its items cut into pages of :func:`page_size`."""
        return {name: [items[i:i + page_size(name)] for i in range(0, len(items), page_size(name))]
                for name, items in self.full.items()}


def encode_items(items: list[Any]) -> str:
    """A stored page: canonical JSON, so the same figures are the same bytes."""
    return _CANON(items)


def aggregates_xid(repo_id: str, commit: str) -> str:
    return f"{AGGREGATES_PREFIX}{repo_id}@{commit}"


def page_xid(repo_id: str, commit: str, name: str, index: int) -> str:
    return f"{aggregates_xid(repo_id, commit)}#{name}:{index}"


def pages_for(offset: int, limit: int) -> range:
    """Indexes of the pages a window ``[offset, offset + limit)`` touches."""
    if limit <= 0:
        return range(0)
    return range(offset // PAGE, (offset + limit - 1) // PAGE + 1)


def window(pages: Mapping[int, list[dict[str, Any]]], offset: int, limit: int) -> list[dict[str, Any]]:
    """The items of ``[offset, offset + limit)`` from the pages :func:`pages_for` named."""
    out: list[dict[str, Any]] = []
    for i in pages_for(offset, limit):
        out.extend(pages.get(i, []))
    start = offset - (offset // PAGE) * PAGE
    return out[start:start + limit]


def ranked_window(agg: Aggregates, name: str, offset: int, limit: int,
                  read_pages: Any) -> tuple[list[dict[str, Any]], int]:
    """``[offset, offset + limit)`` of a ranked list and its length: from the summary when the
    window lies in its head, else from the pages ``read_pages(name, indexes) -> {index: items}``
    returns (a store reads only those)."""
    if name not in LISTS:
        raise ValueError(f"no ranked list {name!r}")
    total = int(agg.totals.get(name, 0))
    head = getattr(agg, name)
    if offset + limit <= len(head) or len(head) == total:
        return head[offset:offset + limit], total
    wanted = [i for i in pages_for(offset, limit) if i * PAGE < total]
    return (window(read_pages(name, wanted), offset, limit) if wanted else []), total


def all_items(agg: Aggregates, name: str, read_pages: Any) -> list[Any]:
    """A whole stored list (the report's edges): every page, in order, in one read."""
    total = int(agg.totals.get(name, 0))
    wanted = list(range((total + page_size(name) - 1) // page_size(name)))
    if not wanted:
        return []
    got = read_pages(name, wanted)
    return [item for i in wanted for item in got.get(i, [])]


def _package(key: str) -> str:
    return ".".join(key.split(".")[:PACKAGE_DEPTH])


def drawn_module_edges(edges: list[tuple[str, str]], max_nodes: int = DRAW_NODES) -> list[tuple[str, str]]:
    """A sub-list of ``edges`` (in their order) from which the report's module flowchart
    (``reporting.mermaid.flowchart(..., sep=".")`` under ``max_nodes``) draws exactly what it
    draws from all of them: picture, collapsed levels and nodes left out.

    Why: the report read every import between packages of the commit (60k edges, 2.4 MB, at
    111k nodes) only to collapse them to a few dozen package nodes. When the flowchart collapses
    ``k`` levels, what it draws depends on the level-``k`` edges (first-seen order) and on each
    level before ``k`` having more than ``max_nodes`` nodes. So: the first edge of each drawn
    level-``k`` edge, plus, in the list's order, edges that bring new nodes until every earlier
    level is still over budget; checked against the whole list's picture (the whole list is
    kept when they differ, or when nothing collapses)."""
    from freshpoc_tasks.reporting.mermaid import collapse, flowchart, package_of

    whole = flowchart(edges, max_nodes=max_nodes, sep=".")
    if not whole.collapsed_levels:
        return list(edges)

    def up(name: str) -> str:
        for _ in range(whole.collapsed_levels):
            name = package_of(name, ".")
        return name

    keep: dict[int, None] = {}
    seen: set[tuple[str, str]] = set()
    for i, (a, b) in enumerate(edges):
        top = (up(a), up(b))
        if top[0] != top[1] and top not in seen:
            seen.add(top)
            keep[i] = None
    chosen = sorted(keep)
    for level in range(whole.collapsed_levels):
        level_edges = [edges[i] for i in chosen]
        for _ in range(level):
            level_edges = collapse(level_edges, lambda n: package_of(n, "."))
        names = {n for e in level_edges for n in e}
        for i, (a, b) in enumerate(edges):
            if len(names) > max_nodes:
                break
            if i in keep:
                continue
            ends = (a, b)
            for _ in range(level):
                ends = (package_of(ends[0], "."), package_of(ends[1], "."))
            if ends[0] != ends[1] and (ends[0] not in names or ends[1] not in names):
                names.update(ends)
                keep[i] = None
        chosen = sorted(keep)
    drawn = [edges[i] for i in chosen]
    return drawn if flowchart(drawn, max_nodes=max_nodes, sep=".") == whole else list(edges)


def _hotspot_key(item: dict[str, Any]) -> tuple[int, int, str]:
    return (-item["score"], -item["revisions"], item["path"])


def compute(repo_id: str, commit: str, at_us: int, nodes: Iterable[PresentNode],
            edges: Iterable[PresentEdge]) -> Aggregates:
    """The one implementation of the figures, over the repository's present nodes and the edges
    present between them (coupling between files, module imports, dbt dependencies)."""
    counts: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    paths: dict[str, str] = {}
    hotspots: list[dict[str, Any]] = []
    folders: list[dict[str, Any]] = []
    modules: dict[str, str] = {}  # xid -> package
    lineage: dict[str, str] = {}  # xid -> name
    for n in nodes:
        counts[n.ntype] += 1
        p = n.props
        if n.ntype == "py.module":
            modules[n.xid] = _package(n.key)
        elif n.ntype in LINEAGE_TYPES:
            lineage[n.xid] = str(p.get("name") or n.key)
        if n.ntype == "file":
            path = p.get("path") or ""
            paths[n.xid] = path
            if p.get("language") and not p.get("is_binary"):
                languages[str(p["language"])] += 1
            revisions = int(p.get("revisions") or 0)
            if revisions > 0:
                item = {"xid": n.xid, "path": path, **{k: p.get(k) for k in HOTSPOT_FIELDS}}
                item["score"] = revisions * int(p.get("lines_code") or 0)
                hotspots.append(item)
        elif n.ntype == "folder":
            path = p.get("path") or ""
            if path and "/" not in path:
                folders.append({"path": path, **{k: p.get(k) for k in FOLDER_FIELDS}})
    hotspots.sort(key=_hotspot_key)
    for rank, item in enumerate(hotspots, 1):
        item["rank"] = rank
    coupling = []
    module_edges: set[tuple[str, str]] = set()
    lineage_edges: set[tuple[str, str]] = set()
    for e in edges:
        if e.type == "coupled_with" and e.src in paths and e.dst in paths:
            coupling.append({"a": paths[e.src], "b": paths[e.dst],
                             "shared_revisions": int(e.props.get("shared_revisions") or 0),
                             "degree": float(e.props.get("degree") or 0.0)})
        elif e.type == "imports" and e.src in modules and e.dst in modules:
            if modules[e.src] != modules[e.dst]:
                module_edges.add((modules[e.src], modules[e.dst]))
        elif e.type == "depends_on" and e.src in lineage and e.dst in lineage:
            lineage_edges.add((lineage[e.dst], lineage[e.src]))  # upstream -> downstream
    coupling.sort(key=lambda c: (-c["degree"], -c["shared_revisions"], c["a"], c["b"]))
    from freshpoc_tasks.reporting.mermaid import top_connected

    drawn_lineage, lineage_left_out = top_connected(sorted(lineage_edges), DRAW_NODES)
    full: dict[str, list[Any]] = {"hotspots": hotspots, "coupling": coupling,
                                  "module_edges": [list(x) for x in drawn_module_edges(sorted(module_edges))],
                                  "lineage_edges": [list(x) for x in drawn_lineage]}
    agg = Aggregates(
        repo_id=repo_id, commit=commit, at_us=int(at_us),
        counts_by_type=dict(sorted(counts.items())),
        files_by_language=dict(sorted(languages.items())),
        files=counts.get("file", 0),
        folders=sorted(folders, key=lambda f: f["path"]),
        hotspots=hotspots[:HEAD], coupling=coupling[:HEAD],
        totals={name: len(items) for name, items in full.items()}, full=full,
        lineage_left_out=lineage_left_out)
    agg.digest = hashlib.sha256(_CANON([agg.summary_json(), full]).encode()).hexdigest()[:32]
    return agg


def from_plan(plan: Any, state: Any, repo_id: str, onto: Any, edges: Iterable[Any],
              history: Iterable[str] | None = None) -> Aggregates:
    """The figures of the commit a plan (``graph.plan.plan_write``) was made for.

    Present = the delta's valid nodes owned by the repository (``plan.after_views``: each one is
    assigned to the commit) plus the stored *history* nodes (commits) it does not repeat whose
    runs hold at the commit; an owned stored node of any other lifecycle that the delta lacks is
    closed at the commit by the same plan. ``edges`` are the delta's edges (those of
    :data:`EDGE_TYPES` are used; their ends must be present). ``history``: when the writer read
    only what changed, the xids of the stored history nodes present at the commit (from its
    manifest) instead of ``state``'s.
    """
    from freshpoc_tasks.graph.records import node_type_of, node_view

    point = plan.point
    present: list[PresentNode] = []
    for xid, node in plan.after_views.items():
        if node.scope == repo_id:
            # Only files, folders and dbt nodes' properties are read: the rest are counted.
            props = node_view(node) if node.type in _PROPS_READ else _NO_PROPS
            present.append(PresentNode(xid, node.type, props, node.key))
    if history is not None:
        for xid in sorted(set(history) - set(plan.after_views)):
            present.append(PresentNode(xid, node_type_of(xid), {}, xid.split(":", 2)[-1]))
    for xid, stored in state.nodes.items() if history is None else ():
        if stored.repo != repo_id or xid in plan.after_views:
            continue
        ntype = stored.ntype or node_type_of(xid)
        if onto.lifecycle(ntype) == "history" and v.value_at(stored.runs, point) is not None:
            present.append(PresentNode(xid, ntype, {}, stored.xid.split(":", 2)[-1]))
    return compute(repo_id, point[1], point[0], present,
                   (PresentEdge(e.type, e.src, e.dst, e.props) for e in edges if e.type in EDGE_TYPES))


def from_delta(delta: Any, plan: Any, state: Any, onto: Any,
               history: Iterable[str] | None = None) -> Aggregates:
    """:func:`from_plan` for a whole delta (what both stores call after planning it)."""
    return from_plan(plan, state, delta.repo_id, onto, delta.edges, history)


def from_records(repo_id: str, point: v.Point, records: Iterable[Mapping[str, Any]],
                 edges: Iterable[tuple[str, str, str, Mapping[str, Any]]], onto: Any) -> Aggregates:
    """The figures from a *stored* graph (Dgraph or local records: ``xid ntype key repo vs`` plus
    property predicates; ``edges`` = ``(type, src xid, dst xid, facets)`` of :data:`EDGE_TYPES`).

    For graphs written before aggregates existed (``freshpoc graph migrate``, an old report
    folder). Presence is exact at any point (validity runs); properties are a node's latest, so
    the result equals :func:`from_plan`'s only at the repository's newest processed commit —
    which is the only commit these callers compute it for.
    """
    from freshpoc_tasks.graph.records import decode_node_view

    present = []
    for rec in records:
        if rec.get("repo") != repo_id or not rec.get("xid"):
            continue
        if v.value_at(v.decode(rec.get("vs")), point) is None:
            continue
        present.append(PresentNode(rec["xid"], rec.get("ntype") or "", decode_node_view(rec, onto),
                                   str(rec.get("key") or "")))
    present_edges = [PresentEdge(t, src, dst, facets) for t, src, dst, facets in edges
                     if t in EDGE_TYPES and v.value_at(v.decode(facets.get("vs")), point) is not None]
    return compute(repo_id, point[1], point[0], present, present_edges)


__all__ = [
    "AGGREGATES_PREFIX",
    "AGGREGATES_TYPE",
    "AGGREGATES_VERSION",
    "PAGE",
    "Aggregates",
        "PresentNode",
    "aggregates_xid",
    "compute",
    "encode_items",
    "from_delta",
    "from_plan",
    "from_records",
    "page_xid",
    "pages_for",
    "window",
]
