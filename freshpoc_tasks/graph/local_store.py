"""The embedded graph store: the writer's graph in plain files, written and asked without a server.

``freshpoc report`` keeps the graph of what it analysed in ``OUT/graph/`` and ``freshpoc lineage``
/ ``deps`` / ``node`` answer from there. Nothing here re-decides what the graph means:

- writing runs the graph writer's own planner (:func:`freshpoc_tasks.graph.plan.plan_write`) over
  the stored state and applies its writes as Dgraph would (node predicates merged, listed fields
  deleted, an edge's facets replaced), so node and edge records, validity runs, envelopes and the
  per-commit diff are exactly what the stack's Dgraph holds;
- asking implements :class:`~freshpoc_tasks.graph.queries.GraphQuestions` with the same filters
  as the Dgraph store (envelope ``vf <= t < vt`` on nodes and edges, decided by the runs for a
  record marked with a gap, the walks of :data:`~freshpoc_tasks.graph.queries.WALKS`, Dgraph's
  ``@recurse`` visiting each edge once).

Files (JSON Lines, one record a line, sorted, so two runs over the same input are byte-equal):
``nodes.jsonl`` (stored predicates: ``xid ntype name key path … repo vf vt vs vg vb h``),
``edges.jsonl`` (``type src dst`` + facets ``conf … vf vt vs vg h``), ``aggregates.jsonl`` (the
figures of each processed (repository, commit), :mod:`freshpoc_tasks.graph.aggregates`, computed
by the same function as the Dgraph writer's) and ``state.json`` (each repository's processed
commits). Loading 100k records takes about a second; the store is meant for
one user's repositories, not for the stack's whole graph.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from freshpoc_tasks.contracts.base import canonical_json
from freshpoc_tasks.contracts.graph import GraphDelta
from freshpoc_tasks.graph import aggregates as ag
from freshpoc_tasks.graph import validity as v
from freshpoc_tasks.graph.ontology import GraphOntology, load_graph_ontology
from freshpoc_tasks.graph.plan import Plan, RepoState, StoredEdge, StoredNode, plan_write
from freshpoc_tasks.graph.queries import (
    Traversal,
    _depth,
    _t,
    node_answer,
    walk_edges,
)

NODES_FILE = "nodes.jsonl"
EDGES_FILE = "edges.jsonl"
STATE_FILE = "state.json"
AGGREGATES_FILE = "aggregates.jsonl"  # one line per (repository, commit): graph.aggregates figures
FORMAT_VERSION = 2  # 2: records with a gap in their history carry ``vg`` (1 is read and marked)
EDGE_STATE = ("vs", "vg", "h", "vf", "vt")  # facets that are validity/change state, not properties


@lru_cache(maxsize=1)
def ontology() -> GraphOntology:
    """The graph ontology, parsed once per process (a YAML parse costs a noticeable fraction of
    a small report)."""
    return load_graph_ontology()


def _valid(rec: dict[str, Any] | None, t: int) -> bool:
    """Present at ``t``: Dgraph's ``le(vf, t) AND gt(vt, t)``, and for a record with a hole
    (``vhf``, or ``vg`` for more than one) its runs decide, as the Dgraph store decides those; a
    record without an envelope is never valid."""
    if rec is None:
        return False
    vf, vt = rec.get("vf"), rec.get("vt")
    if vf is None or vt is None or not vf <= t < vt:
        return False
    if rec.get("vhf") is None and not rec.get("vg"):
        return True
    return v.present(v.decode(rec.get("vs")), t)


def _ref(rec: dict[str, Any]) -> dict[str, Any]:
    return {"xid": rec["xid"], "type": rec.get("ntype"), "name": rec.get("name")}


@dataclass
class ApplyResult:
    repo_id: str
    commit: str
    plan: Plan


class LocalGraph:
    """Nodes by xid, out-edges by source, and each repository's timeline, in memory."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.out: dict[str, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
        self.timelines: dict[str, list[v.Point]] = {}
        # repo -> commit -> digest of the delta last applied for it: an unchanged rerun is skipped.
        self.digests: dict[str, dict[str, str]] = {}
        self.aggregates: dict[str, dict[str, ag.Aggregates]] = {}  # repo -> commit -> figures
        self._in: dict[str, list[tuple[str, str]]] | None = None

    # Files -------------------------------------------------------------------------------------
    @classmethod
    def load(cls, folder: str | Path) -> LocalGraph:
        """The graph stored in ``folder`` (empty when nothing was written there yet)."""
        folder = Path(folder)
        g = cls()
        state = folder / STATE_FILE
        if not state.is_file():
            return g
        meta = cls.read_meta(folder)
        g.timelines = {r: [(int(us), sha) for us, sha in pts] for r, pts in meta["timelines"].items()}
        g.digests = meta.get("digests", {})
        with open(folder / NODES_FILE, encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                g.nodes[rec["xid"]] = rec
        with open(folder / EDGES_FILE, encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                etype, src, dst = rec.pop("type"), rec.pop("src"), rec.pop("dst")
                g.out[src][(etype, dst)] = rec
        if meta.get("format") == 1:  # written before gap marks: mark now (saved as format 2)
            for rec in g.nodes.values():
                rec.update(v.hole_marks(v.decode(rec.get("vs"))))
            for facets in (f for out in g.out.values() for f in out.values()):
                if v.has_gap(v.decode(facets.get("vs"))):
                    facets["vg"] = True
        if (folder / AGGREGATES_FILE).is_file():  # folders written before aggregates lack it
            with open(folder / AGGREGATES_FILE, encoding="utf-8") as fh:
                for line in fh:
                    rec = json.loads(line)
                    agg = ag.Aggregates.from_json(json.dumps(rec["summary"]))
                    agg.full = rec["lists"]
                    g.aggregates.setdefault(agg.repo_id, {})[agg.commit] = agg
        return g

    @staticmethod
    def read_meta(folder: str | Path) -> dict[str, Any]:
        """``state.json`` alone (timelines, digests): cheap, for deciding whether to load."""
        state = Path(folder) / STATE_FILE
        if not state.is_file():
            return {"format": FORMAT_VERSION, "timelines": {}, "digests": {}}
        meta = json.loads(state.read_text(encoding="utf-8"))
        if meta.get("format") not in (1, FORMAT_VERSION):
            raise ValueError(f"{state}: graph format {meta.get('format')!r}, expected {FORMAT_VERSION}")
        return meta

    @staticmethod
    def digest(delta: GraphDelta, onto: GraphOntology | None = None) -> str:
        """What the delta says about the repository's *state*: its owned nodes and their edges,
        leaving out history facts (commits, who wrote them) that an incremental mine repeats only
        when there are new ones. Equal digests, and no history in the delta, mean writing it again
        would change nothing (see :meth:`adds_nothing`)."""
        onto = onto or ontology()
        repo = delta.repo_id
        mine = f"{repo}:"  # an owned source is ``type:repo:key``
        state_types: dict[str, bool] = {}  # each type's lifecycle asked once, not once per item

        def is_state(kind: str) -> bool:
            found = state_types.get(kind)
            if found is None:
                found = state_types[kind] = onto.lifecycle(kind) != "history"
            return found

        state = delta.model_copy(update={
            "nodes": [n for n in delta.nodes if n.scope == repo and is_state(n.type)],
            "edges": [e for e in delta.edges
                      if e.src.partition(":")[2].startswith(mine) and is_state(e.type)],
            "analyzers": {}, "diagnostics": [], "proposed": []})
        return hashlib.sha256(state.model_dump_json().encode()).hexdigest()

    @staticmethod
    def adds_nothing(delta: GraphDelta, stored_digest: str | None, digest: str,
                     onto: GraphOntology | None = None) -> bool:
        """True when ``delta`` was written before (same state digest) and brings no history."""
        onto = onto or ontology()
        return stored_digest == digest and not any(
            onto.lifecycle(x.type) == "history" for x in (*delta.nodes, *delta.edges))

    def save(self, folder: str | Path) -> None:
        """Write the three files; each goes to a temporary name first, so a reader (or a run cut
        short) never sees a half-written file. ``state.json`` is written last."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)

        def write(name: str, lines: Iterable[str]) -> None:
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.writelines(lines)
            tmp.replace(folder / name)

        dump = canonical_json  # one C encoder for the process (contracts.base)
        write(NODES_FILE, (dump(self.nodes[x]) + "\n" for x in sorted(self.nodes)))
        write(EDGES_FILE, (dump({"type": t, "src": s, "dst": d, **self.out[s][(t, d)]}) + "\n"
                           for s in sorted(self.out) for t, d in sorted(self.out[s])))
        write(AGGREGATES_FILE, (dump({"summary": json.loads(a.summary_json()), "lists": a.full}) + "\n"
                                for r in sorted(self.aggregates)
                                for _, a in sorted(self.aggregates[r].items())))
        write(STATE_FILE, [json.dumps({"format": FORMAT_VERSION, "timelines": {
            r: [list(p) for p in pts] for r, pts in sorted(self.timelines.items())},
            "digests": self.digests}, indent=1, sort_keys=True) + "\n"])

    def iter_edges(self) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        for src, out in self.out.items():
            for (etype, dst), facets in out.items():
                yield etype, src, dst, facets

    # Writing (the graph writer's plan, applied to the files) -----------------------------------
    def read_state(self, repo_id: str, xids: Iterable[str] = ()) -> RepoState:
        """What :func:`plan_write` needs: the repository's owned nodes with their out-edges and any
        other node the delta names — what ``GraphWriter.read_state`` reads from Dgraph."""
        state = RepoState(repo_id=repo_id, timeline=list(self.timelines.get(repo_id, [])))
        wanted = [x for x, rec in self.nodes.items() if rec.get("repo") == repo_id]
        wanted += [x for x in xids if x in self.nodes]
        for xid in wanted:
            rec = self.nodes[xid]
            state.nodes[xid] = StoredNode(uid=xid, xid=xid, ntype=rec.get("ntype"), repo=rec.get("repo"),
                                          path=rec.get("path"), runs=v.decode(rec.get("vs")), h=rec.get("h"))
            for (etype, dst), facets in self.out.get(xid, {}).items():
                props = {k: val for k, val in facets.items() if k not in EDGE_STATE}
                state.edges[(etype, xid, dst)] = StoredEdge(type=etype, src=xid, dst=dst, dst_uid=dst,
                                                            runs=v.decode(facets.get("vs")),
                                                            h=facets.get("h"), facets=props)
        return state

    def apply(self, delta: GraphDelta, committed_at: datetime, onto: GraphOntology | None = None,
              digest: str | None = None) -> ApplyResult:
        """Write ``delta`` (the whole state of its repository at its commit) the writer's way."""
        if not delta.commit:
            raise ValueError("a delta needs its commit to be written on the repository's timeline")
        onto = onto or ontology()
        repo = delta.repo_id
        named = {n.id for n in delta.nodes if n.scope != repo}
        # Ends owned by another scope: ``type:scope:key`` whose scope is not this repository.
        mine = repo + ":"
        named |= {x for e in delta.edges for x in (e.src, e.dst) if not x.partition(":")[2].startswith(mine)}
        state = self.read_state(repo, named)
        plan = plan_write(delta, (v.to_us(committed_at), delta.commit), state, onto)
        for w in plan.nodes:
            rec = self.nodes.setdefault(w.xid, {})
            for f in w.delete:  # as Dgraph applies a write: deletions first, then sets
                rec.pop(f, None)
            rec.update(w.set)
            rec.pop("dgraph.type", None)  # Dgraph's own predicate: never stored here
        for e in plan.edges:
            self.out[e.src][(e.type, e.dst)] = dict(e.facets)  # Dgraph replaces an edge's facets
        self.timelines[repo] = list(plan.timeline)
        self.aggregates.setdefault(repo, {})[delta.commit] = ag.from_delta(delta, plan, state, onto)
        self.digests.setdefault(repo, {})[delta.commit] = digest or self.digest(delta)
        self._in = None
        return ApplyResult(repo, delta.commit, plan)

    def incoming(self) -> dict[str, list[tuple[str, str]]]:
        """dst -> [(edge type, src)], built on first use."""
        if self._in is None:
            index: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for etype, src, dst, _ in self.iter_edges():
                index[dst].append((etype, src))
            self._in = index
        return self._in


class LocalStore:
    """:class:`~freshpoc_tasks.graph.queries.GraphQuestions` answered from a :class:`LocalGraph`."""

    def __init__(self, graph: LocalGraph, onto: GraphOntology | None = None) -> None:
        self.graph = graph
        self._onto = onto

    @classmethod
    def open(cls, folder: str | Path) -> LocalStore:
        """The store in ``folder``: a ``freshpoc report`` output folder or its ``graph/``."""
        folder = Path(folder)
        if not (folder / STATE_FILE).is_file() and (folder / "graph" / STATE_FILE).is_file():
            folder = folder / "graph"
        if not (folder / STATE_FILE).is_file():
            raise FileNotFoundError(f"no graph in {folder}: run 'freshpoc report REPO --out {folder}' first")
        return cls(LocalGraph.load(folder))

    def ontology(self) -> GraphOntology:
        if self._onto is None:
            self._onto = ontology()
        return self._onto

    def _node(self, xid: str, t: int) -> dict[str, Any] | None:
        rec = self.graph.nodes.get(xid)
        return rec if _valid(rec, t) else None

    def node(self, xid: str, at_us: int | None = None) -> dict[str, Any] | None:
        t = _t(at_us)
        rec = self._node(xid, t)
        if rec is None:
            return None
        files = [f["path"] for (etype, dst), facets in self.graph.out.get(xid, {}).items()
                 if etype == "defined_in" and _valid(facets, t)
                 and (f := self._node(dst, t)) is not None and "path" in f]
        return node_answer(rec, files)

    def walk(self, question: str, xid: str, direction: str, depth: int,
             at_us: int | None = None) -> Traversal:
        """Breadth first, each stored edge walked once, from nodes closer than ``depth`` hops —
        what Dgraph's ``@recurse(loop: false)`` over the same edges returns."""
        forward, backward = walk_edges(question, direction)
        known = set(self.ontology().base.edge_types)
        fw, bw = {p for p in forward if p in known}, {p for p in backward if p in known}
        if not fw and not bw:
            raise ValueError("none of the edge types is in the ontology")
        depth = _depth(depth)
        t = _t(at_us)
        root = self._node(xid, t)
        if root is None:
            return Traversal(None, [], [])
        incoming = self.graph.incoming() if bw else {}
        depth_of = {xid: 0}
        edges: set[tuple[str, str, str]] = set()
        frontier = [xid]
        for level in range(1, depth + 1):
            reached: list[str] = []
            for x in frontier:
                hops = [(etype, dst, (etype, x, dst)) for (etype, dst) in self.graph.out.get(x, {})
                        if etype in fw]
                hops += [(etype, src, (etype, src, x)) for etype, src in incoming.get(x, []) if etype in bw]
                for etype, other, key in hops:
                    facets = self.graph.out[key[1]][(etype, key[2])]
                    if not _valid(facets, t) or self._node(other, t) is None:
                        continue
                    edges.add(key)
                    if other not in depth_of:
                        depth_of[other] = level
                        reached.append(other)
            frontier = reached
        nodes = sorted(({**_ref(self.graph.nodes[x]), "depth": d} for x, d in depth_of.items() if x != xid),
                       key=lambda n: (n["depth"], n["xid"]))
        return Traversal(_ref(root), nodes, [{"type": a, "src": s, "dst": d} for a, s, d in sorted(edges)])

    def timeline(self, repo_id: str) -> list[tuple[int, str]]:
        return list(self.graph.timelines.get(repo_id, []))

    def _owned(self, repo_id: str, t: int) -> Iterator[dict[str, Any]]:
        return (rec for rec in self.graph.nodes.values() if rec.get("repo") == repo_id and _valid(rec, t))

    def aggregates(self, repo_id: str, commit: str | None = None) -> ag.Aggregates | None:
        by_commit = self.graph.aggregates.get(repo_id, {})
        if commit is None:
            timeline = self.graph.timelines.get(repo_id)
            if not timeline:
                return None
            commit = timeline[-1][1]
            if commit not in by_commit:  # a folder written before aggregates: its newest commit
                return self._computed(repo_id, timeline[-1])
        return by_commit.get(commit)

    def _computed(self, repo_id: str, point: v.Point) -> ag.Aggregates:
        edges = ((etype, src, dst, facets) for src, out in self.graph.out.items()
                 for (etype, dst), facets in out.items() if etype in ag.EDGE_TYPES)
        agg = ag.from_records(repo_id, point, self.graph.nodes.values(), edges, self.ontology())
        self.graph.aggregates.setdefault(repo_id, {})[point[1]] = agg
        return agg

    def ranked(self, repo_id: str, name: str, commit: str | None = None, offset: int = 0,
               limit: int = 50) -> tuple[list[dict[str, Any]], int] | None:
        agg = self.aggregates(repo_id, commit)
        if agg is None:
            return None
        return ag.ranked_window(agg, name, offset, limit, lambda n, idx: {
            i: agg.full.get(n, [])[i * ag.PAGE:(i + 1) * ag.PAGE] for i in idx})

    def report_edges(self, repo_id: str,
                     commit: str | None = None) -> dict[str, list[tuple[str, str]]] | None:
        agg = self.aggregates(repo_id, commit)
        if agg is None:
            return None
        return {name: [tuple(e) for e in agg.full.get(name, [])] for name in ag.EDGE_LISTS}

    def counts_by_type(self, repo_id: str, at_us: int | None = None) -> dict[str, int]:
        from freshpoc_tasks.graph.queries import counts_as_of

        counts = counts_as_of(self, repo_id, at_us)
        if counts is not None:
            return counts
        counted = Counter(rec.get("ntype") for rec in self._owned(repo_id, _t(at_us)))
        return {str(k): c for k, c in sorted(counted.items()) if k is not None}

    def nodes_at(self, repo_id: str, at_us: int | None = None, first: int = 1000,
                 offset: int = 0, after: str = "") -> list[dict[str, Any]]:
        rows = sorted((r for r in self._owned(repo_id, _t(at_us)) if r["xid"] > after),
                      key=lambda r: r["xid"])
        return [_ref(r) for r in rows[offset: offset + first]]

    def changes(self, repo_id: str, from_us: int,
                to_us: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        added, removed = [], []
        for rec in self.graph.nodes.values():
            if rec.get("repo") != repo_id:
                continue
            a, b = _valid(rec, from_us), _valid(rec, to_us)
            if b and not a:
                added.append(_ref(rec))
            elif a and not b:
                removed.append(_ref(rec))
        return sorted(added, key=lambda r: r["xid"]), sorted(removed, key=lambda r: r["xid"])

    def change_slices(self, repo_id: str, from_us: int, to_us: int, added: tuple[int, int],
                      removed: tuple[int, int], skip_types: Iterable[str] = (),
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
        skip = set(skip_types)
        lists = [[r for r in rows if r["type"] not in skip] for rows in self.changes(repo_id, from_us, to_us)]
        (fa, oa), (fr, orr) = added, removed
        return (lists[0][oa:oa + fa] if fa > 0 else [], lists[1][orr:orr + fr] if fr > 0 else [],
                {"added": len(lists[0]), "removed": len(lists[1])})

    # Convenience for the command line ----------------------------------------------------------
    def find(self, text: str, at_us: int | None = None, limit: int = 10) -> list[dict[str, Any]]:
        """Nodes a user may mean by ``text``: the xid itself, else the nodes whose natural key
        equals it, else whose name does, else whose path does (current nodes). One answer means
        found; several mean ambiguous (the caller lists them)."""
        t = _t(at_us)
        if self._node(text, t) is not None:
            return [_ref(self.graph.nodes[text])]
        for field in ("key", "name", "path"):
            hits = [rec for rec in self.graph.nodes.values() if rec.get(field) == text and _valid(rec, t)]
            if hits:
                hits.sort(key=lambda r: r["xid"])
                return [_ref(r) for r in hits[:limit]]
        return []
