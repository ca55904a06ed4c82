"""The writer's logic without a database: (stored state, delta, commit) -> writes, counts, diff.

Kept pure so every rule — what is created, updated, closed, what the diff says — is tested
with plain values, and the Dgraph side of the writer only moves records.

Ownership: a node whose scope is the delta's repository is *owned* by it and versioned on that
repository's timeline. Nodes of other scopes (people, PyPI distributions, warehouse tables) are
shared by repositories with different timelines, so they are *timeless*: valid from the start
and never closed by one repository; what a repository says about them at a commit lives in its
(versioned) edges. An edge is owned when its source node is.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from freshpoc_tasks.contracts.base import canonical_json
from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node
from freshpoc_tasks.graph import validity as v
from freshpoc_tasks.graph.construct import construct_fast
from freshpoc_tasks.graph.diff import EdgeChange, GraphDiff, NodeChange
from freshpoc_tasks.graph.ontology import GraphOntology
from freshpoc_tasks.graph.records import (
    MAX_XID_BYTES,
    dgraph_type_name,
    edge_facets,
    edge_hash,
    node_fields,
    node_hash,
    node_predicates,
    node_type_of,
)

COUNT_KEYS = ("nodes_created", "nodes_updated", "nodes_closed",
              "edges_created", "edges_updated", "edges_closed")
EdgeKey = tuple[str, str, str]  # (type, src xid, dst xid)
Key = str | EdgeKey  # a node's xid or an edge's key


@dataclass
class StoredEdge:
    type: str
    src: str
    dst: str
    dst_uid: str
    runs: list[v.Run]
    h: str | None
    facets: dict[str, Any]  # property facets (conf, fields, xprops), not validity


@dataclass
class StoredNode:
    uid: str
    xid: str
    ntype: str | None
    repo: str | None
    path: str | None
    runs: list[v.Run]
    h: str | None


@dataclass
class RepoState:
    repo_id: str
    timeline: list[v.Point] = field(default_factory=list)
    state_uid: str | None = None
    nodes: dict[str, StoredNode] = field(default_factory=dict)
    edges: dict[EdgeKey, StoredEdge] = field(default_factory=dict)


@dataclass
class NodeWrite:
    xid: str
    uid: str | None  # None: create
    owned: bool
    set: dict[str, Any]
    delete: list[str] = field(default_factory=list)
    path: str | None = None


@dataclass
class EdgeWrite:
    type: str
    src: str
    dst: str
    facets: dict[str, Any]


@dataclass
class DiffItems:
    """The plan's diff as plain tuples, made into a :class:`GraphDiff` only when asked for.

    A first write puts every node and edge of the repository in the diff (a quarter of a million
    items on 10,000 files), and a pydantic object per item was a sixth of planning it; the local
    store (``freshpoc report``) never reads the diff, the Dgraph writer does, once per commit."""

    repo_id: str
    commit: str
    committed_at_us: int
    previous_commit: str | None
    nodes_added: list[tuple[str, str, str | None]] = field(default_factory=list)  # (id, type, path)
    nodes_removed: list[tuple[str, str, str | None]] = field(default_factory=list)
    nodes_changed: list[tuple[str, str, str | None]] = field(default_factory=list)
    edges_added: list[EdgeKey] = field(default_factory=list)  # (type, src, dst)
    edges_removed: list[EdgeKey] = field(default_factory=list)
    edges_changed: list[EdgeKey] = field(default_factory=list)

    def build(self) -> GraphDiff:
        # Values already typed (ids, types, paths): no validation per item (graph.construct).
        node_change, edge_change = construct_fast(NodeChange), construct_fast(EdgeChange)
        diff = GraphDiff(repo_id=self.repo_id, commit=self.commit, committed_at_us=self.committed_at_us,
                         previous_commit=self.previous_commit)
        for k in ("nodes_added", "nodes_removed", "nodes_changed"):
            getattr(diff, k).extend(node_change(id=x, type=t, path=p) for x, t, p in getattr(self, k))
        for k in ("edges_added", "edges_removed", "edges_changed"):
            getattr(diff, k).extend(edge_change(type=t, src=s, dst=d) for t, s, d in getattr(self, k))
        return diff


@dataclass
class Plan:
    point: v.Point
    previous: v.Point | None
    nodes: list[NodeWrite]
    edges: list[EdgeWrite]
    counts: dict[str, int]
    counts_by_file: dict[str, dict[str, int]]
    changes: DiffItems
    changed_before: dict[str, str]  # xid -> uid whose stored props are the diff's "before"
    timeline: list[v.Point]
    skipped: list[str]
    proposed: list[str]
    after_views: dict[str, Node]
    # Owned items this plan looked at: their hash at ``point`` (None: absent), and for those in
    # the diff their hash at the previous point -- what the writer's manifest keeps.
    values: dict[Key, str | None] = field(default_factory=dict)
    befores: dict[Key, str | None] = field(default_factory=dict)
    paths: dict[str, str | None] = field(default_factory=dict)
    _diff: GraphDiff | None = field(default=None, repr=False)

    @property
    def diff(self) -> GraphDiff:
        """The per-commit diff (built from :attr:`changes` on first use)."""
        if self._diff is None:
            self._diff = self.changes.build()
        return self._diff

    @diff.setter
    def diff(self, value: GraphDiff) -> None:
        self._diff = value


@dataclass
class Unchanged:
    """Owned items of a delta known (from the writer's manifest) to hold, at the repository's
    newest processed point, the very hash the delta gives them: when the delta's point comes
    right after that point, the plan neither reads nor writes them and they are not in the diff."""

    nodes: set[str] = field(default_factory=set)
    edges: set[EdgeKey] = field(default_factory=set)


def _too_long(xid: str) -> bool:
    # A character is at most 4 bytes in UTF-8: only ids that could pass the limit are encoded.
    return len(xid) * 4 > MAX_XID_BYTES and len(xid.encode()) > MAX_XID_BYTES


def _validate(delta: GraphDelta, onto: GraphOntology) -> tuple[dict[str, Node], dict[EdgeKey, Edge],
                                                                list[str], list[str]]:
    skipped: list[str] = []
    proposed: list[str] = []
    nodes: dict[str, Node] = {}
    for n in delta.nodes:
        if not onto.base.has_node(n.type):
            proposed.append(f"node {n.type}: {n.id[:200]}")
        elif not n.id or _too_long(n.id):
            skipped.append(f"node id of {len(n.id.encode())} bytes (limit {MAX_XID_BYTES}): {n.id[:100]}")
        else:
            nodes[n.id] = n
    edges: dict[EdgeKey, Edge] = {}
    edge_types, has_node = onto.base.edge_types, onto.base.has_node
    # An end's type is its id's first part; ends repeat (a file is the end of every edge into it),
    # and checking each type once per id keeps this loop a dict lookup per end.
    known: dict[str, bool] = {}
    limit = MAX_XID_BYTES // 4
    for e in delta.edges:
        src, dst = e.src, e.dst
        if e.type not in edge_types:
            proposed.append(f"edge {e.type}: {src[:100]} -> {dst[:100]}")
            continue
        if (not src or not dst or (len(src) > limit and _too_long(src))
                or (len(dst) > limit and _too_long(dst))):
            skipped.append(f"edge {e.type} with an over-long or empty end id: {src[:100]} -> {dst[:100]}")
            continue
        ok_src = known.get(src)
        if ok_src is None:
            ok_src = known[src] = has_node(node_type_of(src))
        ok_dst = known.get(dst)
        if ok_dst is None:
            ok_dst = known[dst] = has_node(node_type_of(dst))
        if not (ok_src and ok_dst):
            skipped.append(f"edge {e.type} to an id of no declared type: {src[:100]} -> {dst[:100]}")
        else:
            edges[(e.type, src, dst)] = e
    return nodes, edges, skipped, proposed


def _owned(xid: str, repo_id: str, node: Node | None, stored: StoredNode | None) -> bool:
    if node is not None:
        return node.scope == repo_id
    if stored is not None and stored.repo is not None:
        return stored.repo == repo_id
    return xid.startswith(f"{node_type_of(xid)}:{repo_id}:")


def plan_write(delta: GraphDelta, point: v.Point, state: RepoState, onto: GraphOntology,
               unchanged: Unchanged | None = None, items: DeltaItems | None = None) -> Plan:
    """Decide every write for ``delta`` processed at ``point`` against the stored ``state``.

    ``state`` must hold every node owned by the repository (with its out-edges) and every other
    node the delta names, so anything absent from it is new.

    One pass over the ids and one over the edge keys, each deciding the write, the counts and the
    diff of its item: a first write plans every node and edge of a repository (a quarter of a
    million on 10,000 files), so each step of an item is paid that many times.

    With ``unchanged`` (only valid when ``point`` follows the newest stored point), those items
    are left out: ``state`` then needs only the others, and the plan costs what changed.
    ``items``: the delta's :func:`delta_items`, when the caller has them (not validated twice).
    """
    repo = delta.repo_id
    if items is not None:
        nodes, edges, skipped, proposed = items.nodes, items.edges, items.skipped, items.proposed
    else:
        nodes, edges, skipped, proposed = _validate(delta, onto)
    timeline = sorted(set(state.timeline) | {point})
    nxt = v.next_point(timeline, point)
    prev = v.prev_point(timeline, point)
    counts = dict.fromkeys(COUNT_KEYS, 0)
    by_file: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNT_KEYS, 0))
    diff = DiffItems(repo_id=repo, commit=point[1], committed_at_us=point[0],
                     previous_commit=prev[1] if prev else None)
    changed_before: dict[str, str] = {}
    assign, value_at, envelope, encode = v.assign, v.value_at, v.envelope, v.encode
    has_gap, hole_marks = v.has_gap, v.hole_marks
    stored_nodes, stored_edges = state.nodes, state.edges
    lifecycle = onto.lifecycle

    # Sorting the ids is a large part of planning (they share long prefixes), and the delta's
    # nodes and edges arrive sorted: keep that order and let the sort merge the few others in
    # (a sort of sorted runs is a linear merge).
    skip_nodes = unchanged.nodes if unchanged else set()
    skip_edges = unchanged.edges if unchanged else set()
    live_edges = [k for k in edges if k not in skip_edges] if skip_edges else list(edges)
    others = {x for k in live_edges for x in k[1:] if x not in nodes}
    others.update(x for x, s in stored_nodes.items() if s.repo == repo and x not in nodes)
    mine = [x for x in nodes if x not in skip_nodes] if skip_nodes else list(nodes)
    xids = sorted([*mine, *others])
    node_writes: list[NodeWrite] = []
    paths: dict[str, str | None] = {}
    owned_nodes: set[str] = set(skip_nodes)  # decided once per id: the edge pass asks again
    values: dict[Key, str | None] = {}
    befores: dict[Key, str | None] = {}
    for xid in xids:
        node = nodes.get(xid)
        stored = stored_nodes.get(xid)
        owned = _owned(xid, repo, node, stored)
        if owned:
            owned_nodes.add(xid)
        ntype = node.type if node else (stored.ntype if stored and stored.ntype else node_type_of(xid))
        old = stored.runs if stored else []
        h = node_hash(node) if node else None
        if not owned:
            new = [(v.TIMELESS, None, h)] if h else old
        elif h is not None:
            new = assign(old, point, nxt, h)
        elif stored is None or lifecycle(ntype) == "history":
            new = old
        else:
            new = assign(old, point, nxt, None)
        write_props = h is not None and bool(new) and new[-1][2] == h and (stored is None or stored.h != h)
        path = node.path if node else (stored.path if stored else None)
        paths[xid] = path
        now = value_at(new, point)
        if owned:  # the diff: value at the previous processed point vs at this one
            values[xid] = now
            before = value_at(old, prev) if prev else None
            if before is None:
                if now is not None:
                    diff.nodes_added.append((xid, ntype, path))
                    befores[xid] = None
            elif now is None:
                diff.nodes_removed.append((xid, ntype, path))
                befores[xid] = before
            elif before != now:
                diff.nodes_changed.append((xid, ntype, path))
                befores[xid] = before
                if stored is not None and stored.h == before:
                    changed_before[xid] = stored.uid
        if stored is not None and new == old and not write_props:
            continue
        rec: dict[str, Any]
        if write_props and node is not None:
            rec = node_predicates(node, onto)
            rec["h"] = h
        elif stored is None:
            rec = {"xid": xid, "ntype": ntype, "dgraph.type": dgraph_type_name(ntype)}
        else:
            rec = {}
        if owned:
            rec["repo"] = repo
        vf, vt = envelope(new)
        rec["vf"], rec["vt"], rec["vs"] = vf, vt, encode(new)
        delete = []
        # A hole in the runs: one is tested in DQL (vhf/vht), more are marked (vg/vb).
        marks, old_marks = hole_marks(new), (hole_marks(old) if old else {})
        rec.update(marks)
        delete += [k for k in old_marks if k not in marks]
        if "vb" in marks and "vb" in old_marks:
            delete.append("vb")  # a list predicate: a set adds values, so replace it whole
        if write_props and stored is not None and node is not None:
            delete += [f for f in node_fields(ntype, onto) if f not in rec]
        node_writes.append(NodeWrite(xid=xid, uid=stored.uid if stored else None, owned=owned,
                                     set=rec, delete=delete, path=path))
        if stored is None:
            key = "nodes_created"
        elif now is None and value_at(old, point) is not None:
            key = "nodes_closed"
        else:
            key = "nodes_updated"
        counts[key] += 1
        by_file[path or ""][key] += 1

    edge_writes: list[EdgeWrite] = []
    one_run: dict[v.Run, str] = {}
    keys = sorted([*live_edges, *(k for k in stored_edges if k[1] in owned_nodes and k not in edges)])
    for key in keys:
        edge = edges.get(key)
        stored_e = stored_edges.get(key)
        owned = key[1] in owned_nodes
        old = stored_e.runs if stored_e else []
        h = edge_hash(edge) if edge else None
        if not owned:
            new = [(v.TIMELESS, None, h)] if h else old
        elif h is not None:
            new = assign(old, point, nxt, h)
        elif lifecycle(key[0]) == "history":
            new = old
        else:
            new = assign(old, point, nxt, None)
        write_props = (h is not None and bool(new) and new[-1][2] == h
                       and (stored_e is None or stored_e.h != h))
        now = value_at(new, point)
        if owned:
            values[key] = now
            before = value_at(old, prev) if prev else None
            if before is None:
                if now is not None:
                    diff.edges_added.append(key)
                    befores[key] = None
            elif now is None:
                diff.edges_removed.append(key)
                befores[key] = before
            elif before != now:
                diff.edges_changed.append(key)
                befores[key] = before
        if stored_e is not None and new == old and not write_props:
            continue
        if write_props and edge is not None:
            facets = edge_facets(edge, onto)
            facets["h"] = h
        else:
            facets = {**(stored_e.facets if stored_e else {}), "h": stored_e.h if stored_e else None}
            if facets["h"] is None:
                del facets["h"]
        vf, vt = envelope(new)
        if len(new) == 1:  # most edges: one run, whose (point, end, hash) many edges share
            vs = one_run.get(new[0])
            if vs is None:
                vs = one_run[new[0]] = encode(new)
        else:
            vs = encode(new)
        facets["vf"], facets["vt"], facets["vs"] = vf, vt, vs
        facets.pop("vg", None)  # an edge's facets are replaced whole: set only while it has a gap
        if len(new) > 1 and has_gap(new):
            facets["vg"] = True
        edge_writes.append(EdgeWrite(type=key[0], src=key[1], dst=key[2], facets=facets))
        if stored_e is None:
            ckey = "edges_created"
        elif now is None and value_at(old, point) is not None:
            ckey = "edges_closed"
        else:
            ckey = "edges_updated"
        counts[ckey] += 1
        src_path = paths[key[1]] if key[1] in paths else (nodes[key[1]].path if key[1] in nodes else None)
        by_file[src_path or ""][ckey] += 1

    return Plan(point=point, previous=prev, nodes=node_writes, edges=edge_writes, counts=counts,
                counts_by_file=dict(by_file), changes=diff, changed_before=changed_before,
                timeline=timeline, skipped=skipped, proposed=proposed, after_views=nodes,
                values=values, befores=befores, paths=paths)


# The writer's manifest ---------------------------------------------------------------------------
# What lets the next commit cost its change: the hash every owned node and edge holds at the
# repository's newest processed point, kept beside the graph in buckets whose digests are
# compared with the same buckets computed from the next delta; only the buckets that differ are
# read, and only the items that differ in them are looked up and planned. A node and its
# out-edges go to the bucket of the node's file path, so a commit that changes a few files
# touches a few buckets. ``history`` items (commits) stay present when a later delta omits them,
# so they cannot be compared by digest: they live in a few buckets of their own, read whole.
MANIFEST_BUCKETS = 512
HISTORY_BUCKETS = 8


def manifest_bucket(key: Key, paths: Mapping[str, str | None], history: Callable[[str], bool]) -> str:
    """``s<i>`` (state items, by the file path of the node or edge source) or ``h<i>``."""
    if isinstance(key, tuple):
        ntype_or_edge, anchor = key[0], key[1]
    else:
        ntype_or_edge, anchor = node_type_of(key), key
    if history(ntype_or_edge):
        return f"h{zlib.crc32(anchor.encode()) % HISTORY_BUCKETS}"
    group = paths.get(anchor) or anchor
    return f"s{zlib.crc32(group.encode()) % MANIFEST_BUCKETS}"


_MCANON = canonical_json  # manifest texts are lists: the same bytes as any compact encoder


def manifest_groups(values: Iterable[tuple[Key, str]], paths: Mapping[str, str | None],
                    history: Callable[[str], bool]) -> tuple[dict[str, str], dict[Key, str]]:
    """(bucket -> canonical text ``[[[xid, h], ...], [[type, src, dst, h], ...]]`` sorted, the
    bucket of each item): :func:`manifest_bucket` of every item, each type's lifecycle and each
    group's checksum computed once (a repository has far fewer files than items)."""
    nodes: dict[str, list[tuple[str, str]]] = defaultdict(list)
    edges: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    where: dict[Key, str] = {}
    is_hist: dict[str, bool] = {}
    of_group: dict[str, str] = {}
    for key, h in values:
        if isinstance(key, tuple):
            kind, anchor = key[0], key[1]
        else:
            kind, anchor = key.split(":", 1)[0], key
        hist = is_hist.get(kind)
        if hist is None:
            hist = is_hist[kind] = history(kind)
        if hist:
            b = f"h{zlib.crc32(anchor.encode()) % HISTORY_BUCKETS}"
        else:
            group = paths.get(anchor) or anchor
            b = of_group.get(group)  # type: ignore[assignment]
            if b is None:
                b = of_group[group] = f"s{zlib.crc32(group.encode()) % MANIFEST_BUCKETS}"
        where[key] = b
        if isinstance(key, tuple):
            edges[b].append((*key, h))
        else:
            nodes[b].append((key, h))
    texts = {b: _MCANON([sorted(nodes.get(b, ())), sorted(edges.get(b, ()))])
             for b in sorted(set(nodes) | set(edges))}
    return texts, where


def manifest_texts(values: Iterable[tuple[Key, str]], paths: Mapping[str, str | None],
                   history: Callable[[str], bool]) -> dict[str, str]:
    """bucket -> canonical text (see :func:`manifest_groups`)."""
    return manifest_groups(values, paths, history)[0]


def manifest_digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def manifest_items(text: str) -> dict[Key, str]:
    """The entries of a stored bucket text."""
    found_nodes, found_edges = json.loads(text)
    out: dict[Key, str] = {x: h for x, h in found_nodes}
    out.update({(t, s, d): h for t, s, d, h in found_edges})
    return out


@dataclass
class DeltaItems:
    """A delta's valid nodes, the owned items it gives the repository at its point with their
    hashes, and the file path of each node -- what :func:`plan_write` would leave as the
    manifest's present items (history items the delta omits aside)."""

    nodes: dict[str, Node]
    edges: dict[EdgeKey, Edge]
    values: dict[Key, str]
    paths: dict[str, str | None]
    skipped: list[str]
    proposed: list[str]


def delta_items(delta: GraphDelta, onto: GraphOntology) -> DeltaItems:
    nodes, edges, skipped, proposed = _validate(delta, onto)
    repo = delta.repo_id
    mine = f":{repo}:"
    values: dict[Key, str] = {}
    paths: dict[str, str | None] = {}
    owned: set[str] = set()
    for xid, n in nodes.items():
        paths[xid] = n.path
        if n.scope == repo:
            owned.add(xid)
            values[xid] = node_hash(n)
    for key, e in edges.items():
        src = key[1]
        if src in nodes:
            if src not in owned:
                continue
        elif not src.startswith(f"{node_type_of(src)}{mine}"):  # _owned's rule for an unknown id
            continue
        values[key] = edge_hash(e)
    return DeltaItems(nodes=nodes, edges=edges, values=values, paths=paths, skipped=skipped,
                      proposed=proposed)
