"""Query builders for the API: every one returns ``(dql, variables)``; user values are variables.

Edge predicate names come from the ontology (validated identifiers), never from a caller, and
depths are bounded integers rendered by us; everything a caller supplies — ids, repository,
time, types — travels as a DQL variable, so no input can change a query's shape.

As-of: pass ``at_us`` (a commit time in µs, see :func:`freshpoc_tasks.graph.validity.to_us`;
``commit_time`` finds a processed commit's). Nodes are filtered on ``vf <= t < vt`` and edges on
the same facets: exact except for a record with a gap in its history (``vg``), which the store
decides from its runs (``vs``, :func:`refine_tree`); the builders of an as-of question select
them. Without ``at_us`` the current graph is meant (``vt`` still open: exact).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from freshpoc_tasks.graph import aggregates as ag
from freshpoc_tasks.graph import validity as v
from freshpoc_tasks.graph.ontology import CORE_NODE_PREDICATES, GraphOntology
from freshpoc_tasks.graph.records import state_xid
from freshpoc_tasks.graph.validity import OPEN

Query = tuple[str, dict[str, Any]]
MAX_DEPTH = 10
NODE_FIELDS = "uid xid ntype name path vf vt vs vg"

# Edge types whose direction is "depends on" (src needs dst) and "data flows from" (lineage).
DEPENDENCY_EDGES = ("imports", "calls", "inherits", "depends_on", "reads", "references", "uses_macro",
                    "runs", "upstream_of")
LINEAGE_EDGES = ("derives_from", "depends_on")  # both point downstream -> upstream


def _t(at_us: int | None) -> int:
    return OPEN - 1 if at_us is None else int(at_us)


def _valid(var: str = "$t") -> str:
    """The envelope test (nodes and edge facets): exact for a record without a gap in its history."""
    return f"le(vf, {var}) AND gt(vt, {var})"


def _hole(var: str = "$t") -> str:
    """Inside the one hole of a node removed once and back later (``vhf``/``vht``)."""
    return f"le(vhf, {var}) AND gt(vht, {var})"


def _present(at_us: int | None, var: str = "$t") -> str:
    """A node present at ``var``: its envelope, outside its hole if it has one (exact in DQL for
    every node with at most one hole; nodes with more are marked ``vg`` and decided from their
    runs, :func:`refine_tree`). Now (``at_us`` None) no hole is open: the envelope alone."""
    return _valid(var) if at_us is None else f"{_valid(var)} AND NOT ({_hole(var)})"


def _edges(onto: GraphOntology, names: Iterable[str]) -> list[str]:
    known = set(onto.base.edge_types)
    out = [n for n in names if n in known]
    if not out:
        raise ValueError("none of the edge types is in the ontology")
    return out


def _depth(depth: int) -> int:
    if not 1 <= int(depth) <= MAX_DEPTH:
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH}")
    return int(depth)


def node_by_xid(xid: str, at_us: int | None = None, onto: GraphOntology | None = None) -> Query:
    """One node with all its properties (decode with ``records.decode_node_view``)."""
    if onto is None:
        from freshpoc_tasks.graph.ontology import load_graph_ontology

        onto = load_graph_ontology()
    preds = " ".join(f"<{p}>" for p in sorted(set(CORE_NODE_PREDICATES) | set(onto.field_predicates)))
    dql = (f"query q($x: string, $t: int) {{ n(func: eq(xid, $x)) @filter({_present(at_us)}) "
           f"{{ uid {preds} }} }}")
    return dql, {"$x": xid, "$t": _t(at_us)}


def commit_time(repo_id: str) -> Query:
    """The repository's processed timeline (JSON in ``fp_timeline``): [[µs, sha], ...]."""
    return ("query q($x: string) { s(func: eq(xid, $x)) { fp_timeline } }", {"$x": state_xid(repo_id)})


def aggregates_of(repo_id: str, commit: str) -> Query:
    """The stored figures of one processed (repository, commit): one lookup by xid."""
    return ("query q($x: string) { a(func: eq(xid, $x)) { fp_aggregates } }",
            {"$x": ag.aggregates_xid(repo_id, commit)})


def aggregate_pages(repo_id: str, commit: str, name: str, indexes: Iterable[int]) -> Query:
    """Stored pages of a commit's list (ranked: ``hotspots``, ``coupling``; the report's
    ``module_edges``, ``lineage_edges``) by index, one block per page."""
    if name not in ag.LISTS and name not in ag.EDGE_LISTS:
        raise ValueError(f"no stored list {name!r}")
    idx = [int(i) for i in indexes]
    if not idx:
        raise ValueError("no page asked for")
    decl = ", ".join(f"$p{i}: string" for i in range(len(idx)))
    blocks = " ".join(f"p{i}(func: eq(xid, $p{i})) {{ fp_items }}" for i in range(len(idx)))
    return (f"query q({decl}) {{ {blocks} }}",
            {f"$p{i}": ag.page_xid(repo_id, commit, name, n) for i, n in enumerate(idx)})


FILE_FIELDS = ("xid path language size revisions churn authors main_author main_author_share bus_factor "
               "hotspot_score hotspot_rank")


def files_page(repo_id: str, path_lo: str = "", path_hi: str = "", after: str = "", first: int = 50,
               offset: int = 0, language: str | None = None) -> Query:
    """A page of the repository's current files by path, after the path ``after`` (a cursor).

    With a path range (a prefix), the range of the path index is the root and ``total`` counts
    it: the cost follows the range. Without one, the root is the repository and Dgraph sorts by
    walking the path index until the page is full; no ``total`` (the commit's aggregates have
    the count), so the first pages cost their own size."""
    variables: dict[str, Any] = {"$r": repo_id, "$first": int(first), "$offset": int(offset)}
    lang_decl = lang_filter = ""
    if language is not None:
        # As the aggregates count languages: binary files are not in one.
        lang_decl, lang_filter = ", $lang: string", " AND eq(language, $lang) AND NOT eq(is_binary, true)"
        variables["$lang"] = language
    live = f'eq(ntype, "file") AND eq(vt, {OPEN}){lang_filter}'
    # The cursor filter only when there is a cursor: gt(path, "") would walk the whole index.
    cursor = " AND gt(path, $after)" if after else ""
    after_filter = " @filter(gt(path, $after))" if after else ""
    after_decl = ", $after: string" if after else ""
    if after:
        variables["$after"] = after
    if path_lo or path_hi:
        variables.update({"$lo": path_lo, "$hi": path_hi})
        return (f"query q($r: string, $lo: string, $hi: string{after_decl}, $first: int, $offset: int"
                f"{lang_decl}) {{ sel as var(func: between(path, $lo, $hi)) @filter(eq(repo, $r) AND {live}) "
                f"total(func: uid(sel)) {{ count(uid) }} "
                f"items(func: uid(sel), orderasc: path, first: $first, offset: $offset){after_filter} "
                f"{{ {FILE_FIELDS} }} }}", variables)
    return (f"query q($r: string{after_decl}, $first: int, $offset: int{lang_decl}) {{ "
            f"items(func: eq(repo, $r), orderasc: path, first: $first, offset: $offset) "
            f"@filter({live}{cursor}) {{ {FILE_FIELDS} }} }}", variables)


class CommitNotFound(LookupError):
    """No processed commit of the repository matches (or the repository has none)."""


class AmbiguousCommit(ValueError):
    """A sha prefix that names more than one processed commit."""


def commit_on(timeline: list[tuple[int, str]], repo: str, sha: str) -> tuple[int, int, str]:
    """(position on the timeline from 0, commit time in µs, full sha) of the processed commit
    ``sha`` names, in full or by a unique prefix (any case): the one meaning of "a commit
    parameter" that the query API (404/400 problems) and the MCP tools (tool errors) translate.
    The message says what was processed, so a caller can correct the parameter."""
    if not timeline:
        raise CommitNotFound(f"no processed commit {sha} in {repo}: the repository has none in the graph")
    found = [(i, us, s) for i, (us, s) in enumerate(timeline) if s.startswith(sha.lower())]
    if not found:
        raise CommitNotFound(f"no processed commit {sha} in {repo}; the newest processed: "
                             + ", ".join(s[:12] for _, s in reversed(timeline[-10:])))
    if len(found) > 1:
        raise AmbiguousCommit(f"commit prefix {sha} names {len(found)} processed commits in {repo}; "
                              "give more digits")
    return found[0]


def point_at(timeline: list[tuple[int, str]], at_us: int | None) -> tuple[int, str] | None:
    """The processed commit whose state holds at ``at_us`` (the newest when None): processed
    commits partition time, so a time between two of them is the earlier one's state."""
    if at_us is None:
        return timeline[-1] if timeline else None
    found = None
    for point in timeline:
        if point[0] <= at_us:
            found = point
        else:
            break
    return found


def counts_by_type(repo_id: str | None = None, at_us: int | None = None) -> Query:
    """Node counts per type; the API groups them (``@groupby`` needs a uid list, so one query)."""
    if repo_id is None:
        dql = (f"query q($t: int) {{ c(func: has(ntype)) @filter({_present(at_us)}) @groupby(ntype) "
               f"{{ count(uid) }} }}")
        return dql, {"$t": _t(at_us)}
    dql = (f"query q($r: string, $t: int) {{ c(func: eq(repo, $r)) @filter({_present(at_us)}) "
           f"@groupby(ntype) {{ count(uid) }} }}")
    return dql, {"$r": repo_id, "$t": _t(at_us)}


def nodes_of_repo(repo_id: str, node_type: str | None = None, at_us: int | None = None,
                  first: int = 1000, offset: int = 0, after: str = "") -> Query:
    """The repository's nodes valid at ``at_us`` by xid, after the xid ``after`` (a cursor)."""
    variables: dict[str, Any] = {"$r": repo_id, "$t": _t(at_us), "$first": int(first),
                                 "$offset": int(offset)}
    type_decl = type_filter = ""
    if after:  # only with a cursor: gt(xid, "") would walk the whole xid index
        type_decl, type_filter, variables["$after"] = ", $after: string", " AND gt(xid, $after)", after
    if node_type:
        type_decl += ", $ty: string"
        type_filter += " AND eq(ntype, $ty)"
        variables["$ty"] = node_type
    dql = (f"query q($r: string, $t: int, $first: int, $offset: int{type_decl}) {{ "
           f"n(func: eq(repo, $r), orderasc: xid, first: $first, offset: $offset) "
           f"@filter({_present(at_us)}{type_filter}) {{ {NODE_FIELDS} }} }}")
    return dql, variables


def neighbourhood(onto: GraphOntology, xid: str, at_us: int | None = None) -> Query:
    """A node with its valid out- and in-edges (one hop) as of ``at_us``."""
    parts = []
    for e in sorted(onto.base.edge_types):
        parts.append(f"<{e}> @facets({_valid()}) @facets @filter({_present(at_us)}) {{ {NODE_FIELDS} }}")
        parts.append(f"<~{e}> @facets({_valid()}) @facets @filter({_present(at_us)}) {{ {NODE_FIELDS} }}")
    dql = (f"query q($x: string, $t: int) {{ n(func: eq(xid, $x)) @filter({_present(at_us)}) "
           f"{{ {NODE_FIELDS} {' '.join(parts)} }} }}")
    return dql, {"$x": xid, "$t": _t(at_us)}


def _walk(onto: GraphOntology, xid: str, names: Iterable[str], depth: int, reverse: bool,
          at_us: int | None) -> Query:
    preds = _edges(onto, names)
    depth = _depth(depth)
    arrow = "~" if reverse else ""
    # Nested blocks (not @recurse): facet filters apply per edge at every level.
    body = NODE_FIELDS
    for _ in range(depth):
        node = _present(at_us)
        hops = " ".join(f"<{arrow}{p}> @facets({_valid()}) @filter({node}) {{ {body} }}" for p in preds)
        body = f"{NODE_FIELDS} {hops}"
    dql = f"query q($x: string, $t: int) {{ n(func: eq(xid, $x)) @filter({_present(at_us)}) {{ {body} }} }}"
    return dql, {"$x": xid, "$t": _t(at_us)}


def dependencies(onto: GraphOntology, xid: str, depth: int = 2, direction: str = "down",
                 at_us: int | None = None, edge_types: Iterable[str] = DEPENDENCY_EDGES) -> Query:
    """``down``: what ``xid`` depends on; ``up``: what depends on ``xid``."""
    if direction not in {"up", "down"}:
        raise ValueError("direction must be 'up' or 'down'")
    return _walk(onto, xid, edge_types, depth, direction == "up", at_us)


def lineage(onto: GraphOntology, xid: str, depth: int = 3, direction: str = "up",
            at_us: int | None = None) -> Query:
    """``up``: where the data of ``xid`` comes from; ``down``: what is computed from it.

    Lineage edges point downstream-to-upstream (``derives_from``: column -> source column), so
    upstream follows them forward.
    """
    if direction not in {"up", "down"}:
        raise ValueError("direction must be 'up' or 'down'")
    return _walk(onto, xid, LINEAGE_EDGES, depth, direction == "down", at_us)


def present_at(rec: dict[str, Any], t_us: int, runs_key: str = "vs") -> bool:
    """A record the envelope filter let through, decided exactly: one marked with a gap (``vg``,
    or an edge's runs with a gap) is present only where one of its runs is."""
    text = rec.get(runs_key)
    if not text or (runs_key == "vs" and not rec.get("vg")):
        return True
    return v.present(v.decode(text), t_us)  # without a hole: the envelope's answer, already true


def refine_tree(node: dict[str, Any] | None, t_us: int) -> dict[str, Any] | None:
    """A DQL answer tree as of ``t_us`` with the nodes and edges absent there (a gap their
    envelope hides) cut, with everything reached only through them. Children sit under
    predicate keys (``p`` or ``~p``), an edge's runs in the child's ``p|vs`` facet.

    Under ``@recurse(loop: false)`` Dgraph expands each node once, so a node whose first path
    ran through a cut one loses its other paths too: only with a node of two or more holes (or
    an edge with a hole) in the middle of an as-of walk, where the local store, walking breadth
    first, would keep it."""
    if node is None or not present_at(node, t_us):
        return None
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            kept = [c for child in value if present_at(child, t_us, f"{key}|vs")
                    and (c := refine_tree(child, t_us)) is not None]
            if kept:
                out[key] = kept
        else:
            out[key] = value
    return out


def flatten(tree: Any) -> set[str]:
    """All xids in a query answer (for tests and simple API listings)."""
    out: set[str] = set()
    if isinstance(tree, dict):
        if "xid" in tree:
            out.add(tree["xid"])
        for v in tree.values():
            out |= flatten(v)
    elif isinstance(tree, list):
        for v in tree:
            out |= flatten(v)
    return out


REF_FIELDS = "uid xid ntype name"


def traverse(onto: GraphOntology, xid: str, forward: Iterable[str] = (), backward: Iterable[str] = (),
             depth: int = 1, at_us: int | None = None) -> Query:
    """``@recurse`` from ``xid`` along ``forward`` edges (stored direction) and ``backward`` ones
    (reversed), every hop filtered on node and edge validity at ``at_us``.

    Unlike :func:`dependencies` (nested blocks, text growing as edges^depth), the query text stays
    the same size at any depth, so mixed-direction lineage to 10 hops stays a small query. Read the
    answer with ``api.store.flatten_recursion``.
    """
    known = set(onto.base.edge_types)
    fw = [p for p in dict.fromkeys(forward) if p in known]
    bw = [p for p in dict.fromkeys(backward) if p in known]
    if not fw and not bw:
        raise ValueError("none of the edge types is in the ontology")
    # As of a commit, each node's and edge's runs come along, for the gaps (refine_tree).
    runs = "" if at_us is None else " @facets(vs)"
    fields = REF_FIELDS if at_us is None else f"{REF_FIELDS} vs vg"
    hops = [f"<{p}> @facets({_valid()}){runs} @filter({_present(at_us)})" for p in fw]
    hops += [f"<~{p}> @facets({_valid()}){runs} @filter({_present(at_us)})" for p in bw]
    # @recurse counts the root as a level: d hops need depth d + 1.
    dql = (f"query q($x: string, $t: int) {{ n(func: eq(xid, $x)) @filter({_present(at_us)}) "
           f"@recurse(depth: {_depth(depth) + 1}, loop: false) {{ {fields} {' '.join(hops)} }} }}")
    return dql, {"$x": xid, "$t": _t(at_us)}


def history_node_types(onto: GraphOntology) -> list[str]:
    """Node types whose lifecycle is ``history`` (commits): never closed, so a diff leaves them
    out (each processed commit would otherwise "add" itself)."""
    return sorted(t for t, life in onto.lifecycles.items() if life == "history" and onto.base.has_node(t))


def changed_nodes(store: GraphQuestions, repo_id: str, from_us: int,
                  to_us: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The whole diff (added, removed), history nodes left out: :func:`changes_page`'s meaning,
    unpaged, for the impact questions and the MCP diff tool."""
    skip = set(history_node_types(store.ontology()))
    added, removed = store.changes(repo_id, from_us, to_us)
    return [x for x in added if x.get("type") not in skip], [x for x in removed if x.get("type") not in skip]


def change_slices(repo_id: str, from_us: int, to_us: int, added: tuple[int, int],
                  removed: tuple[int, int], skip_types: Iterable[str] = (), gaps: bool = True) -> Query:
    """The repository's nodes present at ``to_us`` but not ``from_us`` (``added``) and the reverse
    (``removed``), as counts (``na``, ``nr``) and windows: ``added``/``removed`` are ``(first,
    offset)`` of each list by xid (``first`` 0: that list is not read). Dgraph gives at most 1,000
    rows of an ordered block without ``first``, so a window always has one.

    A node's presence changes only where its envelope starts or ends (``vf``, ``vt``) or its one
    hole does (``vhf``, ``vht``: removed once and back later). So with ``lo``/``hi`` the
    earlier/later time, the candidates are the ranges of those four int indexes over ``(lo,
    hi]`` — the cost follows what changed — and each list is the exact test, present at one
    time and not at the other, in DQL. Nodes with more than one hole (``vg``, rare) come apart
    in ``g``, those with a run boundary (``vb``) in the window, with their runs, for the store
    to decide (:func:`gap_changes`) and merge (:func:`merge_window`; ``gaps=False`` leaves ``g``
    out). ``skip_types`` (ontology type names, see :func:`history_node_types`) travel as
    variables like every other value."""
    lo, hi = sorted((int(from_us), int(to_us)))
    variables: dict[str, Any] = {"$r": repo_id, "$l1": lo + 1, "$h": hi, "$from": int(from_us),
                                 "$to": int(to_us)}
    skip = ""
    decl = ""
    for i, t in enumerate(sorted(set(skip_types))):
        decl += f", $s{i}: string"
        skip += f" AND NOT eq(ntype, $s{i})"
        variables[f"$s{i}"] = t
    at_from, at_to = f"({_present(0, '$from')})", f"({_present(0, '$to')})"
    blocks = [f"{name} as var(func: between({pred}, $l1, $h))"
              for name, pred in (("c1", "vf"), ("c2", "vt"), ("c3", "vhf"), ("c4", "vht"))]
    blocks += [f"c as var(func: uid(c1, c2, c3, c4)) @filter(eq(repo, $r) AND NOT eq(vg, true){skip})",
               f"a as var(func: uid(c)) @filter({at_to} AND NOT {at_from})",
               f"r as var(func: uid(c)) @filter({at_from} AND NOT {at_to})",
               "na(func: uid(a)) { count(uid) }", "nr(func: uid(r)) { count(uid) }"]
    if gaps:  # the second read of a merged page has them already
        blocks.append(f"g(func: between(vb, $l1, $h)) @filter(eq(repo, $r){skip}) {{ {REF_FIELDS} vs }}")
    for name, var, (first, offset) in (("added", "a", added), ("removed", "r", removed)):
        if first > 0:
            decl += f", $f{var}: int, $o{var}: int"
            variables[f"$f{var}"], variables[f"$o{var}"] = int(first), int(offset)
            blocks.append(f"{name}(func: uid({var}), orderasc: xid, first: $f{var}, offset: $o{var}) "
                          f"{{ {REF_FIELDS} }}")
    return (f"query q($r: string, $l1: int, $h: int, $from: int, $to: int{decl}) "
            f"{{ {' '.join(blocks)} }}", variables)


def gap_changes(rows: Iterable[dict[str, Any]], from_us: int,
                to_us: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(added, removed) among nodes with a gap in their history, by xid, decided from their runs:
    present at ``to_us`` and not at ``from_us``, and the reverse."""
    added, removed = [], []
    for row in rows:
        runs = v.decode(row.get("vs"))
        was, now = v.present(runs, from_us), v.present(runs, to_us)
        if now and not was:
            added.append(row)
        elif was and not now:
            removed.append(row)
    key = lambda r: r["xid"]  # noqa: E731
    return sorted(added, key=key), sorted(removed, key=key)


def merge_window(extra: list[dict[str, Any]], first: int,
                 offset: int) -> tuple[tuple[int, int], Any]:
    """Rows ``[offset, offset + first)`` of the xid order of a paged list ``A`` merged with the
    few rows ``extra`` (sorted by xid, none in ``A``), reading one window of ``A``.

    Returns the window of ``A`` to read and a function that takes its rows and gives the merged
    page. With ``k`` extra rows, the page starts at most ``k`` rows of ``A`` early, so ``A`` is
    read from ``o = max(0, offset - k)``: before its row ``A[o]`` sit ``o`` rows of ``A`` and the
    extra rows smaller than ``A[o]``, which places the rows read in the merged order."""
    k = len(extra)
    start = max(0, offset - k)
    window = (offset + first - start, start) if first > 0 else (0, 0)

    def merge(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if first <= 0:
            return []
        if not rows:  # A ends before ``start``: the merged list is shorter than ``offset``
            pool, at = (list(extra), 0) if start == 0 else ([], offset)
        elif start == 0:
            pool, at = sorted([*rows, *extra], key=lambda r: r["xid"]), 0
        else:
            anchor = rows[0]["xid"]
            before = sum(1 for e in extra if e["xid"] < anchor)
            pool = sorted([*rows, *(e for e in extra if e["xid"] >= anchor)], key=lambda r: r["xid"])
            at = start + before
        return pool[offset - at: offset - at + first]

    return window, merge


def changes_page(store: GraphQuestions, repo_id: str, from_us: int, to_us: int, first: int,
                 offset: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One page of a diff: the nodes added (by xid), then the nodes removed (by xid), history
    nodes left out, each row a ref with its ``change``; and the counts of both lists. The one
    meaning of the API's paged ``/graph/diff``, over either store's :meth:`GraphQuestions.change_slices`:
    one read for a page that starts among the added nodes, two for one that starts further."""
    skip = history_node_types(store.ontology())
    added, removed, counts = store.change_slices(repo_id, from_us, to_us, (first, offset), (first, 0), skip)
    rows = [{"change": "added", **x} for x in added]
    if len(rows) < first:
        start = max(0, offset - counts["added"])
        if start > 0:
            _, removed, _ = store.change_slices(repo_id, from_us, to_us, (0, 0), (first - len(rows), start),
                                                skip)
        rows += [{"change": "removed", **x} for x in removed[:first - len(rows)]]
    return rows, counts


def node_detail(xid: str, at_us: int | None = None) -> Query:
    """One node's identity, validity and the files it is defined in, as of ``at_us`` (the API's
    node question; :meth:`GraphQuestions.node` decodes it)."""
    dql = (f"query q($x: string, $t: int) {{ n(func: eq(xid, $x)) @filter({_present(at_us)}) {{ "
           f"xid ntype name key path language size repo vf vt vs vg "
           f"defined_in @facets({_valid()}) @facets(vs) @filter({_present(at_us)}) {{ path vs vg }} }} }}")
    return dql, {"$x": xid, "$t": _t(at_us)}


# The questions, once ---------------------------------------------------------------------------
# Edges walked per question and direction: (stored direction, reversed). Dependencies are
# DEPENDENCY_EDGES; lineage adds the SQL hops (table <-writes- statement -reads-> table) and
# model <-> table. Every store (Dgraph, the local one) walks exactly these.
WALKS: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("deps", "down"): (DEPENDENCY_EDGES, ()),
    ("deps", "up"): ((), DEPENDENCY_EDGES),
    ("lineage", "up"): (("derives_from", "depends_on", "reads", "materializes_as"),
                        ("writes", "materializes_as")),
    ("lineage", "down"): (("writes", "materializes_as"),
                          ("derives_from", "depends_on", "reads", "materializes_as")),
    # What a file defines (modules, functions, models, ... found in it): file <-defined_in- node.
    ("defines", "down"): ((), ("defined_in",)),
}


@dataclass
class Traversal:
    """A walk's answer: the root, the nodes reached with their hop distance, the stored edges."""

    root: dict[str, Any] | None
    nodes: list[dict[str, Any]]
    edges: list[dict[str, str]]


def walk_edges(question: str, direction: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        return WALKS[(question, direction)]
    except KeyError:
        raise ValueError(f"unknown question {question!r} / direction {direction!r}") from None


@runtime_checkable
class GraphQuestions(Protocol):
    """The graph's questions as plain values, whatever answers them.

    Two implementations: :class:`freshpoc_tasks.api.store.GraphStore` (Dgraph, through the
    builders above) and :class:`freshpoc_tasks.graph.local_store.LocalStore` (the files
    ``freshpoc report`` writes). ``tests/integration/test_store_contract.py`` requires both to give
    equal answers on the example projects. ``at_us`` is a commit time in µs; None means now.
    Refs are ``{"xid", "type", "name"}``.
    """

    def node(self, xid: str, at_us: int | None = None) -> dict[str, Any] | None:
        """``{xid, type, name, key, path, language, size, repo, valid_from, valid_to, files}``."""
        ...

    def walk(self, question: str, xid: str, direction: str, depth: int,
             at_us: int | None = None) -> Traversal:
        """``question`` is ``deps``, ``lineage`` or ``defines`` (see :data:`WALKS`)."""
        ...

    def timeline(self, repo_id: str) -> list[tuple[int, str]]:
        """The repository's processed commits ``(µs, sha)``, oldest first."""
        ...

    def counts_by_type(self, repo_id: str, at_us: int | None = None) -> dict[str, int]:
        """The repository's own nodes by type as of ``at_us``: the aggregates of the processed
        commit whose state holds then (:func:`point_at`)."""
        ...

    def aggregates(self, repo_id: str, commit: str | None = None) -> ag.Aggregates | None:
        """The figures of a processed commit (the newest when None), or None."""
        ...

    def ranked(self, repo_id: str, name: str, commit: str | None = None, offset: int = 0,
               limit: int = 50) -> tuple[list[dict[str, Any]], int] | None:
        """A window of a commit's ranked list (``hotspots``, ``coupling``) and its length; reads
        only the pages the window touches. None when the commit has no aggregates."""
        ...

    def report_edges(self, repo_id: str,
                     commit: str | None = None) -> dict[str, list[tuple[str, str]]] | None:
        """What a report draws at a commit: ``module_edges`` (imports between packages of the
        repository) and ``lineage_edges`` (dbt upstream -> downstream names). None: no aggregates."""
        ...

    def nodes_at(self, repo_id: str, at_us: int | None = None, first: int = 1000,
                 offset: int = 0, after: str = "") -> list[dict[str, Any]]:
        """The repository's nodes valid at ``at_us``, by xid, after the xid ``after`` (the as-of
        listing; ``after`` is a cursor: the last xid of the previous page)."""
        ...

    def changes(self, repo_id: str, from_us: int,
                to_us: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(added, removed) nodes of the repository between two commit times, by xid."""
        ...

    def change_slices(self, repo_id: str, from_us: int, to_us: int, added: tuple[int, int],
                      removed: tuple[int, int], skip_types: Iterable[str] = (),
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
        """Windows ``(first, offset)`` of :meth:`changes`' two lists without the nodes of
        ``skip_types``, and both lists' lengths ``{"added", "removed"}`` (see :func:`changes_page`)."""
        ...

    def ontology(self) -> GraphOntology:
        """The graph ontology the store's answers are read with."""
        ...


def counts_as_of(store: GraphQuestions, repo_id: str, at_us: int | None) -> dict[str, int] | None:
    """:meth:`GraphQuestions.counts_by_type` from the stored aggregates (both stores); None when
    the commit has none (a graph written before ontology 0.4.0: the caller counts instead)."""
    point = point_at(store.timeline(repo_id), at_us)
    if point is None:
        return {}
    agg = store.aggregates(repo_id, point[1])
    return None if agg is None else dict(agg.counts_by_type)


def node_answer(rec: dict[str, Any], files: Iterable[str]) -> dict[str, Any]:
    """The node question's answer from a stored record (either store's)."""
    t = rec.get("ntype")
    return {"xid": rec["xid"], "type": t[0] if isinstance(t, list) else t, "name": rec.get("name"),
            "key": rec.get("key"), "path": rec.get("path"), "language": rec.get("language"),
            "size": rec.get("size"), "repo": rec.get("repo"), "valid_from": rec.get("vf"),
            "valid_to": None if rec.get("vt") == OPEN else rec.get("vt"), "files": sorted(set(files))}


@dataclass
class Impact:
    """What changed between two commit times and what it reaches (the impact question)."""

    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    impact_edges: list[tuple[str, str]]  # changed "name (type)" -> reached "name (type)"
    affected: list[dict[str, Any]]  # refs, by xid


IMPACT_SKIP_TYPES = frozenset({"file", "folder", "commit", "person"})


def impact(store: GraphQuestions, repo_id: str, before_us: int, at_us: int, *, max_changed: int = 25,
           depth: int = 3, max_affected: int = 100) -> Impact:
    """Nodes added and removed between ``before_us`` and ``at_us`` (commits left out: they are
    history, each processed commit would "add" itself), and what the first ``max_changed`` code
    or data nodes among them feed (lineage down) or are used by (dependencies up): an added node
    as of ``at_us``, a removed one as of just before, when it still existed."""
    added, removed = changed_nodes(store, repo_id, before_us, at_us)
    edges: dict[tuple[str, str], None] = {}
    affected: dict[str, dict[str, Any]] = {}
    walks = [(n, at_us) for n in added] + [(n, before_us) for n in removed]
    for n, when in walks[:max_changed]:
        if n.get("type") in IMPACT_SKIP_TYPES:
            continue
        for question, direction in (("lineage", "down"), ("deps", "up")):
            t = store.walk(question, n["xid"], direction, depth, at_us=when)
            names = {x["xid"]: f'{x.get("name") or x["xid"]} ({x.get("type")})' for x in t.nodes}
            names[n["xid"]] = f'{n.get("name") or n["xid"]} ({n.get("type")})'
            for x in t.nodes:
                affected.setdefault(x["xid"], {k: x.get(k) for k in ("xid", "type", "name")})
            for e in t.edges:
                src, dst = (e["src"], e["dst"]) if question == "lineage" else (e["dst"], e["src"])
                if src in names and dst in names and src != dst:
                    edges.setdefault((names[src], names[dst]), None)
    return Impact(added=added, removed=removed, impact_edges=list(edges),
                  affected=sorted(affected.values(), key=lambda a: a["xid"])[:max_affected])
