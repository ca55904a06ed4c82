"""Canonical export of the graph, and the same data as RDF for ``dgraph live``.

The canonical export is the graph without Dgraph's internal uids: one JSON line per node,
sorted by xid, with its predicates and its out-edges as ``[type, dst xid, facets]`` sorted.
Two databases hold the same graph exactly when their exports are equal, which is how the crash
drill compares a crashed-and-rerun write with a clean one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from freshpoc_tasks.contracts.graph import GraphDelta
from freshpoc_tasks.graph import validity as v
from freshpoc_tasks.graph.ontology import (
    CORE_NODE_PREDICATES,
    INTERNAL_PREDICATES,
    GraphOntology,
    dgraph_type_name,
)
from freshpoc_tasks.graph.records import edge_facets, edge_hash, node_hash, node_predicates

PAGE = 2000
_VOLATILE = {"fp_applied_at"}  # when a version was applied differs between two databases


def _selection(onto: GraphOntology) -> str:
    preds = sorted(set(CORE_NODE_PREDICATES) | set(INTERNAL_PREDICATES) | set(onto.field_predicates))
    edges = " ".join(f"<{e}> @facets {{ xid }}" for e in sorted(onto.base.edge_types))
    return "uid dgraph.type " + " ".join(f"<{p}>" for p in preds) + " " + edges


def canonical_export(hook: Any, onto: GraphOntology) -> Iterator[str]:
    """Every node holding an ``xid``, as canonical JSON lines."""
    sel = _selection(onto)
    dql = ("query q($first: int, $after: string) "
           f"{{ n(func: has(xid), first: $first, after: $after) {{ {sel} }} }}")
    rows: list[dict[str, Any]] = []
    after = "0x0"
    while True:
        page = hook.query(dql, {"$first": PAGE, "$after": after}).get("n", [])
        rows += page
        if len(page) < PAGE:
            break
        after = page[-1]["uid"]
    for rec in sorted(rows, key=lambda r: r["xid"]):
        out: dict[str, Any] = {}
        edges = []
        for k, val in rec.items():
            if k == "uid" or k in _VOLATILE:
                continue
            if k in onto.base.edge_types:
                for child in val:
                    facets = {f.split("|", 1)[1]: x for f, x in child.items() if "|" in f}
                    edges.append([k, child.get("xid"), facets])
            else:
                out[k] = sorted(val) if isinstance(val, list) else val
        out["edges"] = sorted(edges, key=lambda e: (e[0], e[1] or "", json.dumps(e[2], sort_keys=True)))
        yield json.dumps(out, sort_keys=True, ensure_ascii=False)


def _lit(value: Any) -> str:
    """An RDF literal with its Dgraph type; JSON string escaping is valid N-Quad escaping."""
    if isinstance(value, bool):
        return f'"{str(value).lower()}"^^<xs:boolean>'
    if isinstance(value, int):
        return f'"{value}"^^<xs:int>'
    if isinstance(value, float):
        return f'"{value!r}"^^<xs:float>'
    return json.dumps(str(value), ensure_ascii=False)


def _facet(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def delta_to_rdf(delta: GraphDelta, committed_at: datetime, onto: GraphOntology) -> Iterator[str]:
    """The records a first write of ``delta`` stores, as N-Quads for ``dgraph live`` (same
    predicates, validity and facets, so the benchmark compares like with like)."""
    point = (v.to_us(committed_at), delta.commit or "")
    names: dict[str, str] = {}

    def blank(xid: str) -> str:
        if xid not in names:
            names[xid] = f"_:n{len(names)}"
        return names[xid]

    for node in delta.nodes:
        if not onto.base.has_node(node.type):
            continue
        rec = node_predicates(node, onto)
        h = node_hash(node)
        runs = [(point, None, h)] if node.scope == delta.repo_id else [(v.TIMELESS, None, h)]
        vf, vt = v.envelope(runs)
        rec.update(h=h, vf=vf, vt=vt, vs=v.encode(runs))
        if node.scope == delta.repo_id:
            rec["repo"] = delta.repo_id
        s = blank(node.id)
        for k, val in rec.items():
            yield f"{s} <{k}> {_lit(val)} ."
    owners = {n.id for n in delta.nodes if n.scope == delta.repo_id}
    for edge in delta.edges:
        if edge.type not in onto.base.edge_types:
            continue
        for end in (edge.src, edge.dst):
            if end not in names:
                ntype = end.split(":", 1)[0]
                yield f"{blank(end)} <xid> {_lit(end)} ."
                yield f"{blank(end)} <ntype> {_lit(ntype)} ."
                yield f"{blank(end)} <dgraph.type> {_lit(dgraph_type_name(ntype))} ."
        h = edge_hash(edge)
        runs = [(point, None, h)] if edge.src in owners else [(v.TIMELESS, None, h)]
        vf, vt = v.envelope(runs)
        facets = {**edge_facets(edge, onto), "h": h, "vf": vf, "vt": vt, "vs": v.encode(runs)}
        body = ", ".join(f"{k}={_facet(x)}" for k, x in sorted(facets.items()))
        yield f"{blank(edge.src)} <{edge.type}> {blank(edge.dst)} ({body}) ."
