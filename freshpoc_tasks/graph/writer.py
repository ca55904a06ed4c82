"""GraphWriter: apply a GraphDelta to Dgraph, commit-versioned and idempotent.

One ``apply`` is: read the repository's stored state (its owned nodes with their out-edges and
validity runs, plus any other node the delta names), plan every write in pure Python
(:mod:`freshpoc_tasks.graph.plan`), then send only what differs — nodes in batches, then edges,
then the repository's timeline. A commit written after (or again at) the newest processed one
reads instead only what differs from the newest commit: the writer's *manifest* (each owned
item's hash at the newest commit, in buckets with digests, see ``graph.plan``) names the items
to look up and plan, so the next commit costs its change, not the repository's size. Its head
also keeps an order-free sum of the state items' hashes (:func:`state_sum`), so the newest
commit written again with the same content is known from the delta's hashes alone. The
manifest is marked before anything is written and clean after the timeline; a marked one, a
backfill or an older commit take the whole read, which leaves a fresh manifest.

Each batch is one transaction, retried by the hook when Dgraph aborts it on a conflict. The
timeline is written after the graph (only the manifest after it) and the plan is a function of
(stored state, delta), so a run cut short at any point (a crash, a killed alpha) is finished by running
it again, and a run that finds nothing to change sends nothing.

Why edges are uid predicates with facets and not reified edge nodes: traversal queries
(dependencies to a depth, lineage, ``@recurse``) stay plain DQL over ``[uid] @reverse``
predicates, and ``@facets(le(vf, $t) AND gt(vt, $t))`` filters edges by commit time with a
variable. The price is one facet set per (src, type, dst): an edge cannot carry two
repositories' validity at once, which is why edges are owned by their source's repository.

Concurrency: writers for *different* repositories never touch the same owned node; shared
nodes are created through upsert blocks keyed on ``xid @upsert``, so two writers cannot make
two copies, and a conflicting transaction is retried. Two writers for the *same* repository
are not supported (the pipeline runs one task per repository at a time).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from freshpoc_tasks.analysis.model import paused_gc
from freshpoc_tasks.contracts.base import canonical_json
from freshpoc_tasks.contracts.graph import GraphDelta
from freshpoc_tasks.graph import aggregates as ag
from freshpoc_tasks.graph import plan as pl
from freshpoc_tasks.graph import validity as v
from freshpoc_tasks.graph.construct import construct_fast
from freshpoc_tasks.graph.diff import EdgeChange, GraphDiff, NodeChange
from freshpoc_tasks.graph.ontology import (
    CORE_EDGE_FACETS,
    ONTOLOGY_TYPE,
    STATE_TYPE,
    GraphOntology,
    generate_schema,
    load_graph_ontology,
    schema_sha,
)
from freshpoc_tasks.graph.plan import (
    EdgeWrite,
    NodeWrite,
    Plan,
    RepoState,
    StoredEdge,
    StoredNode,
    Unchanged,
    plan_write,
)
from freshpoc_tasks.graph.records import (
    decode_node_view,
    node_type_of,
    node_view,
    ontology_xid,
    state_xid,
)

# Records per transaction. Measured with ``benchmarks/graph_write.py --sweep`` (44k records,
# fresh database per size, 2-core machine): 250 / 500 / 1000 / 2000 took 13.7 / 13.9 / 14.4 /
# 12.3 s — flat within the machine's noise. 1000 keeps the transaction count low (48 here) while
# a retry after a conflict, or the work lost to a crash, stays small.
DEFAULT_BATCH = 1000
DEFAULT_WORKERS = 2  # the dev machine has 2 cores; 2 in flight hides client-side encoding
READ_PAGE = 5000
LOOKUP_BATCH = 250
# The manifest (graph.plan): records without an xid, so they are no part of the graph or its
# canonical export; found by ``fp_repo`` (which the test clean-up deletes by) and this type.
MANIFEST_TYPE = "FreshpocManifest"
MANIFEST_HEAD = "head"
MANIFEST_VERSION = 1
_EMPTY_BUCKET = "[[],[]]"


@dataclass
class StoredManifest:
    head_uid: str
    head: dict[str, Any]
    buckets: dict[str, tuple[str, str | None]]  # name -> (uid, digest)


@dataclass
class WriteResult:
    repo_id: str
    commit: str
    counts: dict[str, int]
    counts_by_file: dict[str, dict[str, int]]
    diff: GraphDiff
    skipped: list[str] = field(default_factory=list)
    proposed: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    transactions: int = 0
    aggregates: ag.Aggregates | None = None




def _pack(text: str) -> str:
    """A manifest bucket as stored: deflated (its ids repeat long prefixes: the 100k-record
    benchmark's manifest went from 10.4 MB to 1.5 MB, for 0.17 s) and base64 in a string."""
    return "z:" + base64.b64encode(zlib.compress(text.encode(), 1)).decode("ascii")


def _unpack(stored: str) -> str:
    if stored.startswith("z:"):
        return zlib.decompress(base64.b64decode(stored[2:])).decode()
    return stored


_SUM_MOD = 1 << 128


def _item_term(key: pl.Key, h: str) -> int:
    """One manifest item's share of :func:`state_sum`."""
    ident = key if isinstance(key, str) else "\x1f".join(key)
    return int.from_bytes(hashlib.blake2b(f"{ident}\x1e{h}".encode(), digest_size=16).digest(), "big")


def state_sum(values: Iterable[tuple[pl.Key, str]]) -> int:
    """An order-free digest of (item, hash) pairs: the sum of a 128-bit hash per pair. Kept in
    the manifest's head for its state items, so a rerun of the newest commit with the same
    content is recognised from the delta's hashes alone (no bucket texts built, sorted and
    digested), and a next commit updates it from its changed items only."""
    return sum(_item_term(k, h) for k, h in values) % _SUM_MOD


# An existing node's identity: its xid is ``type:scope:key`` and its Dgraph type follows the
# type, so for the same uid these never change and are never sent again.
_IDENTITY = frozenset({"xid", "ntype", "scope", "key", "dgraph.type"})


def _changed_only(w: NodeWrite, stored: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """What an update of ``w`` must send when its stored predicates (read for the diff) are
    known: the values that differ and the deletes of predicates it holds. Setting a predicate to
    its own value still costs Dgraph a posting and index update per value (xid, name and path
    carry several indexes); a 1 % commit changes a field or two of each changed node."""
    if stored is None:
        return w.set, w.delete
    values = {k: val for k, val in w.set.items() if k not in _IDENTITY and stored.get(k) != val}
    return values, [f for f in w.delete if f in stored]


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


_NODE_CHANGE, _EDGE_CHANGE = construct_fast(NodeChange), construct_fast(EdgeChange)


# Manifest records carry no type the schema declares (a new type would change the schema, and so
# the ontology version): deleting ``{"uid": x}`` removes only a type's predicates, so these are
# deleted by name.
_MANIFEST_PREDICATES = ("fp_repo", "fp_commit", "fp_digest", "fp_items", "dgraph.type")


def forget_repository(hook: Any, repo_id: str, batch: int = 5000) -> int:
    """Delete what the graph holds of ``repo_id``: its nodes (``repo``, edges out of them
    included), its timeline state, its aggregates and its manifest; nodes shared with other
    repositories (tables, people) stay, as the writer never deletes what another may name.
    ``batch`` nodes per transaction: one transaction deleting 111k nodes outlived the gRPC
    deadline. Returns how many repository nodes were deleted; idempotent."""
    from freshpoc_tasks.graph.records import state_xid

    count = "query q($r: string) { c(func: eq(repo, $r)) { n: count(uid) } }"
    deleted = 0
    while left := hook.query(count, {"$r": repo_id})["c"][0]["n"]:
        hook.upsert(query=f"query q($r: string) {{ n as var(func: eq(repo, $r), first: {int(batch)}) }}",
                    mutations=[{"del_json": [{"uid": "uid(n)"}]}], variables={"$r": repo_id})
        deleted += min(left, batch)
    hook.upsert(query="query q($r: string, $s: string) { s as var(func: eq(xid, $s)) "
                      "a as var(func: eq(fp_repo, $r)) }",
                mutations=[{"del_json": [{"uid": "uid(s)"}, {"uid": "uid(a)"},
                                         {"uid": "uid(a)", **dict.fromkeys(_MANIFEST_PREDICATES)}]}],
                variables={"$r": repo_id, "$s": state_xid(repo_id)})
    return deleted


class GraphWriter:
    """Write deltas through a :class:`~freshpoc_tasks.hooks.dgraph.DgraphHook` (or anything with
    its ``query``/``upsert``/``mutate``/``alter_schema`` methods)."""

    def __init__(self, hook: Any, ontology: GraphOntology | None = None,
                 batch_size: int = DEFAULT_BATCH, workers: int = DEFAULT_WORKERS) -> None:
        self.hook = hook
        self.ontology = ontology
        self.batch_size = batch_size
        self.workers = max(1, workers)
        self._history_types: frozenset[str] | None = None

    def _parallel(self, fn: Any, batches: list[Any]) -> list[Any]:
        """Run independent batches concurrently: Dgraph commits one while the next is encoded
        and sent. Batches touch disjoint nodes (or only add list edges), so they do not abort
        each other; when they do, the hook retries."""
        if self.workers == 1 or len(batches) < 2:
            return [fn(b) for b in batches]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(fn, batches))

    def _batch_for(self, n: int) -> int:
        """Records per transaction for ``n`` node writes: the batch size, but never so large
        that fewer transactions than workers are in flight: a next commit's ~900 changed nodes
        went as one transaction, Dgraph applying it on one core while the other idled."""
        return max(1, min(self.batch_size, -(-n // self.workers)))

    @property
    def onto(self) -> GraphOntology:
        if self.ontology is None:
            self.ontology = load_graph_ontology()
        return self.ontology

    # Schema ----------------------------------------------------------------------------------
    def ensure_schema(self, ontology: GraphOntology | None = None) -> str:
        """Generate the schema, apply it (a no-op for Dgraph when unchanged) and record the
        applied version as a node; returns the schema text."""
        if ontology is not None:
            self.ontology = ontology
            self._history_types = None
        schema = generate_schema(self.onto)
        self.hook.alter_schema(schema)
        xid = ontology_xid(self.onto.version)
        sha = schema_sha(schema)
        found = self.hook.query("query q($x: string) { o(func: eq(xid, $x)) { fp_schema_sha } }", {"$x": xid})
        if [o.get("fp_schema_sha") for o in found.get("o", [])] != [sha]:
            self.hook.upsert(
                query="query q($x: string) { o as var(func: eq(xid, $x)) }",
                mutations=[{"set_json": {"uid": "uid(o)", "xid": xid, "dgraph.type": ONTOLOGY_TYPE,
                                         "fp_version": self.onto.version, "fp_schema_sha": sha,
                                         "fp_applied_at": datetime.now(UTC).isoformat()}}],
                variables={"$x": xid},
            )
        return schema

    def mark_gaps(self) -> int:
        """Give every stored node whose runs have a gap its hole (``vhf``/``vht``, or ``vg``/``vb``
        for more than one), once per applied ontology: a graph written before ontology 0.5.0 has
        gaps but no holes recorded, and the as-of and diff questions test the holes in DQL
        (``freshpoc graph migrate`` runs this after the schema). Reads the nodes' run lists page
        by page (by uid); returns how many nodes were marked now."""
        xid = ontology_xid(self.onto.version)
        found = self.hook.query("query q($x: string) { o(func: eq(xid, $x)) { uid fp_gaps_marked } }",
                                {"$x": xid}).get("o", [])
        if not found or found[0].get("fp_gaps_marked"):
            return 0
        dql = ("query q($first: int, $after: string) "
               "{ n(func: has(vs), first: $first, after: $after) { uid vs vhf vb } }")
        marked, after = 0, "0x0"
        while True:
            page = self.hook.query(dql, {"$first": READ_PAGE, "$after": after}).get("n", [])
            sets = [{"uid": r["uid"], **marks} for r in page if r.get("vhf") is None and not r.get("vb")
                    and (marks := v.hole_marks(v.decode(r.get("vs"))))]
            if sets:
                self.hook.mutate(set_json=sets)
                marked += len(sets)
            if len(page) < READ_PAGE:
                break
            after = page[-1]["uid"]
        self.hook.mutate(set_json=[{"uid": found[0]["uid"], "fp_gaps_marked": True}])
        return marked

    def backfill_aggregates(self) -> list[str]:
        """Aggregates for each repository's newest processed commit that has none (a graph written
        before ontology 0.4.0); ``freshpoc graph migrate`` runs it after the schema. Computed from
        the stored graph (:func:`graph.aggregates.from_records`: exact at the newest commit, whose
        properties are the stored ones); older commits get theirs when they are written again.
        Returns the repositories filled."""
        found = self.hook.query(f'{{ s(func: type({STATE_TYPE})) {{ xid fp_timeline }} }}').get("s", [])
        done = []
        for rec in found:
            repo = str(rec.get("xid", "")).removeprefix(state_xid(""))
            timeline = v.decode_timeline(rec.get("fp_timeline"))
            if not repo or not timeline:
                continue
            point = timeline[-1]
            xid = ag.aggregates_xid(repo, point[1])
            if self.hook.query("query q($x: string) { a(func: eq(xid, $x)) { uid } }", {"$x": xid}).get("a"):
                continue
            records, coupled = self._read_for_aggregates(repo)
            self._write_aggregates(ag.from_records(repo, point, records, coupled, self.onto))
            done.append(repo)
        return done

    def _read_for_aggregates(self, repo_id: str) -> tuple[list[dict[str, Any]],
                                                          list[tuple[str, str, str, dict[str, Any]]]]:
        preds = " ".join(f"<{f}>" for f in sorted(self.onto.field_predicates))
        edges = " ".join(f"<{e}> @facets {{ xid }}" for e in sorted(ag.EDGE_TYPES))
        sel = f"uid xid ntype key repo name path span_start span_end xprops vs {preds} {edges}"
        dql = ("query q($r: string, $first: int, $after: string) "
               f"{{ n(func: eq(repo, $r), first: $first, after: $after) {{ {sel} }} }}")
        records: list[dict[str, Any]] = []
        found: list[tuple[str, str, str, dict[str, Any]]] = []
        after = "0x0"
        while True:
            page = self.hook.query(dql, {"$r": repo_id, "$first": READ_PAGE, "$after": after}).get("n", [])
            for rec in page:
                for etype in sorted(ag.EDGE_TYPES):
                    for child in rec.pop(etype, []):
                        facets = {k.split("|", 1)[1]: val for k, val in child.items()
                                  if k.startswith(etype + "|")}
                        found.append((etype, rec["xid"], child["xid"], facets))
                records.append(rec)
            if len(page) < READ_PAGE:
                return records, found
            after = page[-1]["uid"]

    # State -----------------------------------------------------------------------------------
    def _selection(self, edge_types: Iterable[str] | None = None) -> str:
        known = self.onto.base.edge_types
        types = known if edge_types is None else set(edge_types) & set(known)
        edges = " ".join(f"<{e}> @facets {{ uid xid }}" for e in sorted(types))
        return f"uid xid ntype repo path vs h {edges}"

    def _absorb(self, state: RepoState, rec: dict[str, Any]) -> None:
        xid = rec.get("xid")
        if not xid:
            return
        state.nodes[xid] = StoredNode(uid=rec["uid"], xid=xid, ntype=rec.get("ntype"), repo=rec.get("repo"),
                                      path=rec.get("path"), runs=v.decode(rec.get("vs")), h=rec.get("h"))
        for etype in self.onto.base.edge_types:
            for child in rec.get(etype, []):
                if "xid" not in child:
                    continue
                facets = {k.split("|", 1)[1]: val for k, val in child.items() if k.startswith(etype + "|")}
                runs = v.decode(facets.pop("vs", None))
                h = facets.pop("h", None)
                facets.pop("vf", None)
                facets.pop("vt", None)
                facets.pop("vg", None)
                state.edges[(etype, xid, child["xid"])] = StoredEdge(
                    type=etype, src=xid, dst=child["xid"], dst_uid=child["uid"], runs=runs, h=h,
                    facets=facets)

    def read_state(self, repo_id: str, xids: Iterable[str] = ()) -> RepoState:
        """Everything the plan needs: owned nodes (paged by uid), then any other named node."""
        state = RepoState(repo_id=repo_id)
        sx = state_xid(repo_id)
        found = self.hook.query("query q($x: string) { s(func: eq(xid, $x)) { uid fp_timeline } }",
                                {"$x": sx})
        if found.get("s"):
            state.state_uid = found["s"][0]["uid"]
            state.timeline = v.decode_timeline(found["s"][0].get("fp_timeline"))
        sel = self._selection()
        after = "0x0"
        dql = ("query q($r: string, $first: int, $after: string) "
               f"{{ n(func: eq(repo, $r), first: $first, after: $after) {{ {sel} }} }}")
        while True:
            page = self.hook.query(dql, {"$r": repo_id, "$first": READ_PAGE, "$after": after}).get("n", [])
            for rec in page:
                self._absorb(state, rec)
            if len(page) < READ_PAGE:
                break
            after = page[-1]["uid"]
        missing = sorted({x for x in xids if x not in state.nodes})
        for rec in self._lookup(missing, sel):
            self._absorb(state, rec)
        return state

    def _lookup(self, xids: list[str], sel: str) -> Iterator[dict[str, Any]]:
        """Nodes by xid, a chunk per request as ONE block rooted at ``eq(xid, [$x0, ...])``
        (each id still a variable). A block per id repeated the selection -- every edge type
        with its facets -- 250 times for Dgraph to parse and plan: on the 111k-node API
        benchmark's graph 250 column lookups took 2.1-4.9 s that way, 0.3-0.7 s as one block."""
        for chunk in _chunks(xids, LOOKUP_BATCH):
            decl = ", ".join(f"$x{i}: string" for i in range(len(chunk)))
            values = ", ".join(f"$x{i}" for i in range(len(chunk)))
            found = self.hook.query(f"query q({decl}) {{ n(func: eq(xid, [{values}])) {{ {sel} }} }}",
                                    {f"$x{i}": x for i, x in enumerate(chunk)})
            yield from found.get("n", [])

    # Apply -----------------------------------------------------------------------------------
    def apply(self, delta: GraphDelta, committed_at: datetime) -> WriteResult:
        """Write ``delta`` (the whole state of its repository at its commit).

        When the repository's manifest is clean and the commit comes after (or is) the newest
        processed one, only what differs from the newest commit is read, planned and written
        (:meth:`_incremental`); otherwise the repository's whole stored state is read."""
        if not delta.commit:
            raise ValueError("a delta needs its commit to be written on the repository's timeline")
        # A write allocates hundreds of thousands of small objects next to a delta of as many,
        # none in a cycle: hashing a 100k-record delta took twice as long with the collector on.
        with paused_gc():
            return self._apply(delta, committed_at)

    def _apply(self, delta: GraphDelta, committed_at: datetime) -> WriteResult:
        t0 = time.monotonic()
        point = (v.to_us(committed_at), delta.commit)
        man = self._read_manifest(delta.repo_id)
        quick = self._incremental(delta, point, man)
        if isinstance(quick, WriteResult):
            quick.timings["read_s"] = time.monotonic() - t0
            return quick
        if quick is not None:
            state, unchanged, items, extra_uids, history = quick
        else:
            # Owned nodes all carry ``repo`` (placeholders too), so the owned scan finds every one
            # that exists; only other repositories' and shared nodes need a lookup by xid.
            named = {n.id for n in delta.nodes if n.scope != delta.repo_id}
            named |= {x for e in delta.edges for x in (e.src, e.dst)
                      if not x.startswith(f"{node_type_of(x)}:{delta.repo_id}:")}
            state = self.read_state(delta.repo_id, named)
            unchanged, items, extra_uids, history = None, None, {}, None
        t1 = time.monotonic()
        plan = plan_write(delta, point, state, self.onto, unchanged, items[0] if items else None)
        stored_rows = self._fill_before(plan)
        t2 = time.monotonic()
        agg = self._aggregates(delta, plan, state, history)
        t3 = time.monotonic()
        txns = self._write(plan, state, agg, extra_uids, man, stored_rows)
        t4 = time.monotonic()
        txns += self._write_manifest(delta, plan, man, items)
        t5 = time.monotonic()
        return WriteResult(repo_id=delta.repo_id, commit=delta.commit, counts=plan.counts,
                           counts_by_file=plan.counts_by_file, diff=plan.diff, skipped=plan.skipped,
                           proposed=plan.proposed, transactions=txns, aggregates=agg,
                           timings={"read_s": t1 - t0, "plan_s": t2 - t1, "aggregates_s": t3 - t2,
                                    "write_s": t4 - t3, "manifest_s": t5 - t4,
                                    "incremental": float(quick is not None)})

    def _aggregates(self, delta: GraphDelta, plan: Plan, state: RepoState,
                    history: set[str] | None) -> ag.Aggregates | None:
        """The commit's figures (a method so ``benchmarks/graph_write.py`` can measure the writer
        without them, as it was before the aggregates)."""
        return ag.from_delta(delta, plan, state, self.onto, history)

    # Manifest --------------------------------------------------------------------------------
    def _history(self, type_name: str) -> bool:
        """Whether a node or edge type is a ``history`` fact (asked once per manifest item)."""
        if self._history_types is None:
            self._history_types = frozenset(t for t, life in self.onto.lifecycles.items()
                                            if life == "history")
        return type_name in self._history_types

    def _is_hist_item(self, key: pl.Key) -> bool:
        return self._history(key[0] if isinstance(key, tuple) else node_type_of(key))

    def _read_history(self, man: StoredManifest) -> dict[pl.Key, str]:
        """The history items (commits) the manifest holds, from its few ``h`` buckets."""
        names = [b for b in man.buckets if b.startswith("h")]
        stored = self._read_texts([man.buckets[b][0] for b in names])
        out: dict[pl.Key, str] = {}
        for b in names:
            out.update(pl.manifest_items(stored.get(man.buckets[b][0], _EMPTY_BUCKET)))
        return out

    def _read_manifest(self, repo_id: str) -> StoredManifest | None:
        rows = self.hook.query("query q($r: string) { m(func: eq(fp_repo, $r)) "
                               f"@filter(type({MANIFEST_TYPE})) {{ uid fp_commit fp_digest }} }}",
                               {"$r": repo_id}).get("m", [])
        buckets = {r["fp_commit"]: (r["uid"], r.get("fp_digest")) for r in rows if r.get("fp_commit")}
        head = buckets.pop(MANIFEST_HEAD, None)
        if head is None:
            return None
        text = self._read_texts([head[0]]).get(head[0])
        return StoredManifest(head_uid=head[0], head=json.loads(text) if text else {"dirty": True},
                              buckets=buckets)

    def _read_texts(self, uids: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in _chunks(sorted(uids), LOOKUP_BATCH):
            rows = self.hook.query("query q($u: string) { n(func: uid($u)) { uid fp_items } }",
                                   {"$u": "[" + ", ".join(chunk) + "]"}).get("n", [])
            out.update({r["uid"]: _unpack(r["fp_items"]) for r in rows if "fp_items" in r})
        return out

    def _incremental(self, delta: GraphDelta, point: v.Point, man: StoredManifest | None) -> Any:
        """None (read everything), a finished :class:`WriteResult` (a rerun of the newest commit
        that changes nothing), or what :meth:`apply` plans with: (state of the changed items only,
        the unchanged items, the delta's items, uids of unchanged edge ends, history xids)."""
        if (man is None or man.head.get("dirty", True) or man.head.get("v") != MANIFEST_VERSION
                or man.head.get("aggregates") != ag.AGGREGATES_VERSION
                or man.head.get("ontology") != self.onto.version):
            return None
        found = self.hook.query("query q($x: string) { s(func: eq(xid, $x)) { uid fp_timeline } }",
                                {"$x": state_xid(delta.repo_id)}).get("s", [])
        timeline = v.decode_timeline(found[0].get("fp_timeline")) if found else []
        last = tuple(man.head.get("point") or ())
        if not timeline or timeline[-1] != last or point < last:
            return None
        items = pl.delta_items(delta, self.onto)
        hist = self._history
        if point == last and man.head.get("state") is not None:
            hist_of = self._is_hist_item
            state_items = [(k, h) for k, h in items.values.items() if not hist_of(k)]
            if state_sum(state_items) == int(man.head["state"], 16):
                hist_old = self._read_history(man)
                if all(hist_old.get(k) == h for k, h in items.values.items() if hist_of(k)):
                    return self._rerun(delta, point, man, items, hist_old)
        texts, where = pl.manifest_groups(items.values.items(), items.paths, hist)
        texts = {b: t for b, t in texts.items() if b[0] == "s"}  # history: compared item by item
        names = {b for b in man.buckets if b.startswith("s")} | set(texts)
        differ = sorted(b for b in names if pl.manifest_digest(texts.get(b, _EMPTY_BUCKET))
                        != man.buckets.get(b, ("", None))[1])
        hist_names = [b for b in man.buckets if b.startswith("h")]
        stored = self._read_texts([man.buckets[b][0] for b in [*differ, *hist_names] if b in man.buckets])
        old: dict[pl.Key, str] = {}
        for b in differ:
            if b in man.buckets and man.buckets[b][0] in stored:
                old.update(pl.manifest_items(stored[man.buckets[b][0]]))
        hist_old: dict[pl.Key, str] = {}
        for b in hist_names:
            hist_old.update(pl.manifest_items(stored.get(man.buckets[b][0], _EMPTY_BUCKET)))
        differing = set(differ)
        changed: set[pl.Key] = set()
        unchanged = Unchanged()
        for key, h in items.values.items():
            b = where[key]
            same = hist_old.get(key) == h if b[0] == "h" else (b not in differing or old.get(key) == h)
            if not same:
                changed.add(key)
            elif isinstance(key, tuple):
                unchanged.edges.add(key)
            else:
                unchanged.nodes.add(key)
        removed = {k for k in old if k not in items.values}
        if point == last:
            if changed or removed:
                return None  # the newest commit again with other content: plan it whole
            return self._rerun(delta, point, man, items, hist_old)
        # Read: changed and removed nodes, sources of changed and removed edges, shared nodes.
        repo = delta.repo_id
        full = {k for k in changed | removed if isinstance(k, str)}
        full |= {k[1] for k in changed | removed if isinstance(k, tuple)}
        full |= {x for x, n in items.nodes.items() if n.scope != repo}
        # Ends of changed edges that the delta does not hold: other scopes' nodes and
        # placeholders (created by the plan when absent, so they must be looked for).
        full |= {x for k in changed for x in (k[1], k[2]) if isinstance(k, tuple) and x not in items.nodes}
        # Edges out of nodes the repository does not own (not in the manifest): planned each time.
        shared = [k for k in items.edges if k not in items.values]
        full |= {k[1] for k in shared} | {k[2] for k in shared if k[2] not in items.nodes}
        state = RepoState(repo_id=repo, timeline=timeline, state_uid=found[0]["uid"])
        # Out-edges only of the types that changed (and of shared sources): a node whose
        # properties changed needs no edge read.
        etypes = {k[0] for k in changed | removed if isinstance(k, tuple)} | {k[0] for k in shared}
        for rec in self._lookup(sorted(full), self._selection(etypes)):
            self._absorb(state, rec)
        keep = {k for k in changed | removed if isinstance(k, tuple)}
        owned_srcs = set(unchanged.nodes) | {x for x, n in state.nodes.items() if n.repo == repo}
        state.edges = {k: e for k, e in state.edges.items() if k in keep or k[1] not in owned_srcs}
        ends = {x for k in [*(k for k in changed if isinstance(k, tuple)), *shared] for x in (k[1], k[2])}
        ends -= set(state.nodes)
        extra_uids = {rec["xid"]: rec["uid"] for rec in self._lookup(sorted(ends), "uid xid")}
        history = {k for k, h in hist_old.items() if isinstance(k, str)}
        total = None
        if man.head.get("state") is not None:  # the state items' sum, from what changed
            hist_of = self._is_hist_item
            total = int(man.head["state"], 16)
            total -= sum(_item_term(k, old[k]) for k in changed | removed if k in old and not hist_of(k))
            total += sum(_item_term(k, items.values[k]) for k in changed if not hist_of(k))
            total %= _SUM_MOD
        return state, unchanged, (items, texts, hist_old, total), extra_uids, history

    def _rerun(self, delta: GraphDelta, point: v.Point, man: StoredManifest, items: pl.DeltaItems,
               hist_old: dict[pl.Key, str]) -> WriteResult:
        """The newest commit again, unchanged: nothing to write; the diff against its previous
        commit is rebuilt from the manifest (what a full read would find)."""
        prev = tuple(man.head["prev"]) if man.head.get("prev") else None
        diff = GraphDiff(repo_id=delta.repo_id, commit=point[1], committed_at_us=point[0],
                         previous_commit=prev[1] if prev else None)
        present: dict[pl.Key, str] = {**items.values, **hist_old}
        node_change, edge_change = _NODE_CHANGE, _EDGE_CHANGE
        if prev is None:  # the first commit: everything present was added
            for key in sorted(k for k in present if isinstance(k, str)):
                node = items.nodes.get(key)
                diff.nodes_added.append(node_change(id=key, type=node.type if node else node_type_of(key),
                                                    path=node.path if node else None))
            diff.edges_added.extend(edge_change(type=t, src=s, dst=d)
                                    for t, s, d in sorted(k for k in present if isinstance(k, tuple)))
        else:
            for xid, before, ntype, path in man.head.get("nodes", []):
                now = present.get(xid)
                target = (diff.nodes_added if before is None else diff.nodes_removed if now is None
                          else diff.nodes_changed)
                target.append(node_change(id=xid, type=ntype, path=path))
            for t, s, d, before in man.head.get("edges", []):
                now = present.get((t, s, d))
                target = (diff.edges_added if before is None else diff.edges_removed if now is None
                          else diff.edges_changed)
                target.append(edge_change(type=t, src=s, dst=d))
        return WriteResult(repo_id=delta.repo_id, commit=delta.commit,
                           counts=dict.fromkeys(pl.COUNT_KEYS, 0), counts_by_file={}, diff=diff,
                           skipped=items.skipped, proposed=items.proposed, transactions=0,
                           timings={"plan_s": 0.0, "aggregates_s": 0.0, "write_s": 0.0, "manifest_s": 0.0,
                                    "incremental": 1.0})

    def _mark_dirty(self, man: StoredManifest | None) -> None:
        """Before anything is written: a run cut short leaves the manifest marked, and the next
        run reads the whole state (and writes a fresh manifest)."""
        if man is not None and not man.head.get("dirty"):
            man.head = {**man.head, "dirty": True}
            self.hook.mutate(set_json=[{"uid": man.head_uid, "fp_items": canonical_json(man.head)}])

    def _write_manifest(self, delta: GraphDelta, plan: Plan, man: StoredManifest | None,
                        items: Any) -> int:
        """After the timeline: the buckets that differ, then the head, marked clean. Only when
        the commit is the newest processed one (a backfill leaves the manifest marked)."""
        if plan.timeline[-1] != plan.point:
            return 0
        hist = self._history

        def is_hist(k: pl.Key) -> bool:
            return hist(k[0] if isinstance(k, tuple) else node_type_of(k))

        if items is not None:  # incremental: the delta's state buckets, history updated
            _, texts, hist_old, total = items
            history = dict(hist_old)
            for k, h in plan.values.items():
                if is_hist(k):
                    if h is None:
                        history.pop(k, None)
                    else:
                        history[k] = h
            paths = items[0].paths
        else:
            paths = {n.id: n.path for n in delta.nodes}
            texts = pl.manifest_texts(((k, h) for k, h in plan.values.items() if h is not None
                                       and not is_hist(k)), paths, hist)
            history = {k: h for k, h in plan.values.items() if h is not None and is_hist(k)}
            total = state_sum((k, h) for k, h in plan.values.items() if h is not None and not is_hist(k))
        texts = {**texts, **pl.manifest_texts(history.items(), paths, hist)}
        stored = man.buckets if man is not None else {}
        for b in stored:
            texts.setdefault(b, _EMPTY_BUCKET)
        records = []
        for b, text in sorted(texts.items()):
            digest = pl.manifest_digest(text)
            uid, old = stored.get(b, (None, None))
            if digest != old:
                records.append({"uid": uid or f"_:{b}", "dgraph.type": MANIFEST_TYPE,
                                "fp_repo": delta.repo_id, "fp_commit": b, "fp_digest": digest,
                                "fp_items": _pack(text)})
        prev = plan.previous
        head: dict[str, Any] = {"v": MANIFEST_VERSION, "aggregates": ag.AGGREGATES_VERSION,
                                "ontology": self.onto.version,
                                "dirty": False, "point": list(plan.point),
                                "state": None if total is None else f"{total:032x}",
                                "prev": list(prev) if prev else None}
        if prev is not None:
            d = plan.diff
            head["nodes"] = [[c.id, plan.befores.get(c.id), c.type, c.path]
                             for c in sorted([*d.nodes_added, *d.nodes_removed, *d.nodes_changed],
                                             key=lambda c: c.id)]
            head["edges"] = [[c.type, c.src, c.dst, plan.befores.get((c.type, c.src, c.dst))]
                             for c in sorted([*d.edges_added, *d.edges_removed, *d.edges_changed],
                                             key=lambda c: (c.type, c.src, c.dst))]
        txns = 0
        for batch in _chunks(records, 100):
            self.hook.mutate(set_json=batch)
            txns += 1
        self.hook.mutate(set_json=[{"uid": man.head_uid if man is not None else "_:head",
                                    "dgraph.type": MANIFEST_TYPE, "fp_repo": delta.repo_id,
                                    "fp_commit": MANIFEST_HEAD, "fp_items": canonical_json(head)}])
        return txns + 1

    def _fill_before(self, plan: Plan) -> dict[str, dict[str, Any]]:
        """Field-level before/after for changed nodes whose stored properties are the before;
        returns those stored predicates by xid (what :meth:`_write` need not send again)."""
        if not plan.changed_before:
            return {}
        # Only the fields of the changed nodes' types (decode_node_view reads no other): all 84
        # of the ontology made Dgraph look up every predicate for every uid (0.5 s of a 1 %
        # next commit's 4.7 s at 101k records, profiled at load ~6, for 914 functions of 7 fields).
        node_types = self.onto.base.node_types
        types = {node_type_of(x) for x in plan.changed_before}  # an id starts with its type
        fields = {f for t in types if t in node_types for f in node_types[t].fields}
        preds = " ".join(f"<{f}>" for f in sorted(fields & set(self.onto.field_predicates)))
        sel = f"uid ntype name path span_start span_end xprops vhf vht vg vb {preds}"
        before: dict[str, dict[str, Any]] = {}
        stored: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(plan.changed_before.items()), LOOKUP_BATCH):
            uids = "[" + ", ".join(u for _, u in chunk) + "]"
            rows = self.hook.query(f"query q($u: string) {{ n(func: uid($u)) {{ {sel} }} }}", {"$u": uids})
            by_uid = {r["uid"]: r for r in rows.get("n", [])}
            for xid, uid in chunk:
                if uid in by_uid:
                    stored[xid] = by_uid[uid]
                    before[xid] = decode_node_view(by_uid[uid], self.onto)
        changed = []
        for change in plan.diff.nodes_changed:
            old = before.get(change.id)
            node = plan.after_views.get(change.id)
            if old is None or node is None:
                changed.append(change)
                continue
            new = json.loads(json.dumps(node_view(node)))
            keys = sorted(set(old) | set(new))
            fields = {k: [old.get(k), new.get(k)] for k in keys if old.get(k) != new.get(k)}
            changed.append(change.model_copy(update={"fields": fields}))
        plan.diff = plan.diff.model_copy(update={"nodes_changed": changed})
        return stored

    def _write_aggregates(self, agg: ag.Aggregates) -> int:
        """Store the commit's aggregates (summary + list pages) unless the same are stored: the
        digest covers every figure, so a rerun of the commit sends nothing. Written before the
        timeline, so a commit on the timeline always has its aggregates; pages first, then the
        summary that names them, so a reader never sees a summary whose pages are missing."""
        xid = ag.aggregates_xid(agg.repo_id, agg.commit)
        found = self.hook.query("query q($x: string) { a(func: eq(xid, $x)) { fp_digest } }", {"$x": xid})
        if [a.get("fp_digest") for a in found.get("a", [])] == [agg.digest]:
            return 0
        records = [{"xid": ag.page_xid(agg.repo_id, agg.commit, name, i), "fp_repo": agg.repo_id,
                    "fp_items": ag.encode_items(page)}
                   for name, pages in sorted(agg.pages().items()) for i, page in enumerate(pages)]
        txns = 0
        for batch in _chunks(records, LOOKUP_BATCH):
            self._upsert_by_xid(batch)
            txns += 1
        self._upsert_by_xid([{"xid": xid, "fp_repo": agg.repo_id, "fp_commit": agg.commit, "fp_at": agg.at_us,
                              "fp_digest": agg.digest, "fp_aggregates": agg.summary_json()}])
        return txns + 1

    def _upsert_by_xid(self, records: list[dict[str, Any]]) -> None:
        decl = ", ".join(f"$x{i}: string" for i in range(len(records)))
        blocks = " ".join(f"v{i} as var(func: eq(xid, $x{i}))" for i in range(len(records)))
        self.hook.upsert(query=f"query q({decl}) {{ {blocks} }}",
                         mutations=[{"set_json": [
                             {"uid": f"uid(v{i})", "dgraph.type": ag.AGGREGATES_TYPE, **r}
                             for i, r in enumerate(records)]}],
                         variables={f"$x{i}": r["xid"] for i, r in enumerate(records)})

    def _write(self, plan: Plan, state: RepoState, agg: ag.Aggregates | None = None,
               extra_uids: dict[str, str] | None = None, man: StoredManifest | None = None,
               stored_rows: dict[str, dict[str, Any]] | None = None) -> int:
        uids = dict(extra_uids or {})
        uids.update({e.dst: e.dst_uid for e in state.edges.values()})
        uids.update({x: n.uid for x, n in state.nodes.items()})
        txns = 0
        if plan.nodes or plan.edges or plan.timeline != state.timeline:
            self._mark_dirty(man)  # (the aggregates are per commit: not what the manifest tells)
        creates = [w for w in plan.nodes if w.uid is None and w.owned]
        shared_creates = [w for w in plan.nodes if w.uid is None and not w.owned]
        updates = [w for w in plan.nodes if w.uid is not None]
        batches = list(_chunks(creates, self._batch_for(len(creates))))
        answers = self._parallel(
            lambda b: self.hook.mutate(set_json=[{"uid": f"_:n{i}", **w.set} for i, w in enumerate(b)]),
            batches)
        for batch, got in zip(batches, answers, strict=True):
            for i, w in enumerate(batch):
                uids[w.xid] = got[f"n{i}"]
            txns += 1
        for batch in _chunks(shared_creates, LOOKUP_BATCH):
            decl = ", ".join(f"$x{i}: string" for i in range(len(batch)))
            blocks = " ".join(f"v{i} as var(func: eq(xid, $x{i}))" for i in range(len(batch)))
            self.hook.upsert(query=f"query q({decl}) {{ {blocks} }}",
                             mutations=[{"set_json": [{"uid": f"uid(v{i})", **w.set}
                                                      for i, w in enumerate(batch)]}],
                             variables={f"$x{i}": w.xid for i, w in enumerate(batch)})
            txns += 1
            for rec in self._lookup([w.xid for w in batch], "uid xid"):
                uids[rec["xid"]] = rec["uid"]
        rows = stored_rows or {}

        def update(batch: list[NodeWrite]) -> None:
            sets, dels = [], []
            for w in batch:
                values, delete = _changed_only(w, rows.get(w.xid))
                sets.append({"uid": w.uid, **values})
                if delete:
                    dels.append({"uid": w.uid, **dict.fromkeys(delete)})
            self.hook.mutate(set_json=sets, del_json=dels or None)

        batches = list(_chunks(updates, self._batch_for(len(updates))))
        self._parallel(update, batches)
        txns += len(batches)
        txns += self._write_edges(plan.edges, uids)
        if agg is not None:
            txns += self._write_aggregates(agg)
        if v.encode_timeline(plan.timeline) != v.encode_timeline(state.timeline):
            sx = state_xid(state.repo_id)
            self.hook.upsert(query="query q($x: string) { s as var(func: eq(xid, $x)) }",
                             mutations=[{"set_json": {"uid": "uid(s)", "xid": sx, "dgraph.type": STATE_TYPE,
                                                      "fp_timeline": v.encode_timeline(plan.timeline)}}],
                             variables={"$x": sx})
            txns += 1
        return txns

    def _write_edges(self, edges: list[EdgeWrite], uids: dict[str, str]) -> int:
        def send(batch: list[EdgeWrite]) -> None:
            by_src: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
            for e in batch:
                child = {"uid": uids[e.dst], **{f"{e.type}|{k}": val for k, val in e.facets.items()}}
                by_src[uids[e.src]][e.type].append(child)
            self.hook.mutate(set_json=[{"uid": src, **preds} for src, preds in by_src.items()])

        batches = list(_chunks(edges, self.batch_size))
        self._parallel(send, batches)
        return len(batches)


__all__ = ["CORE_EDGE_FACETS", "DEFAULT_BATCH", "GraphWriter", "NodeWrite", "WriteResult"]
