"""How a delta's nodes and edges become Dgraph predicates and facets, and back.

One module owns the encoding so the writer, the canonical export, the ``dgraph live`` RDF of
the benchmark and the diff all see the same values: a field declared ``list[string]`` or
``json`` is JSON text (Dgraph lists are unordered sets), a property the ontology does not
declare goes to ``xprops`` (JSON) instead of being dropped, and every value is sent as data
(JSON mutation or DQL variable), never spliced into query text.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from freshpoc_tasks.contracts.base import canonical_json
from freshpoc_tasks.contracts.graph import Edge, Node
from freshpoc_tasks.graph.ontology import GraphOntology
from freshpoc_tasks.graph.ontology import dgraph_type_name as _dgraph_type_name

# Dgraph refuses exact-index tokens over ~64 KB; ids above this are skipped with a reason.
MAX_XID_BYTES = 32 * 1024
STATE_PREFIX = "freshpoc.state:"
ONTOLOGY_PREFIX = "freshpoc.ontology:"

_PY_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "int": (int,), "float": (int, float),
                                          "bool": (bool,)}


# The process's one canonical encoder (sorted keys, compact, non-ASCII kept): hashes and
# property encodings by the hundred thousand, and ``json.dumps`` with options builds a new one per call.
_CANON = canonical_json


def _canon(obj: Any) -> str:
    return _CANON(obj)


@lru_cache(maxsize=1024)
def dgraph_type_name(node_type: str) -> str:
    """:func:`~freshpoc_tasks.graph.ontology.dgraph_type_name`, once per type (a regex split per
    node was a tenth of turning a large delta into predicates)."""
    return _dgraph_type_name(node_type)


def node_view(node: Node) -> dict[str, Any]:
    """What a node *is* for change detection and diffs: everything but its id parts."""
    return {"name": node.name, "path": node.path,
            "span": list(node.span) if node.span else None, **node.props}


def node_hash(node: Node) -> str:
    ident = [node.type, node.scope, node.key, node_view(node)]
    return hashlib.sha256(_CANON(ident).encode()).hexdigest()[:24]


def edge_hash(edge: Edge) -> str:
    if not edge.props and type(edge.confidence) is float and 0.0 < edge.confidence <= 1.0:
        # Most edges: no properties, one of a few confidences (each hashed once per process;
        # -0.0 and NaN, which a dict would confuse or never find, are hashed every time).
        h = _BARE_EDGE_HASH.get(edge.confidence)
        if h is None:
            h = _BARE_EDGE_HASH[edge.confidence] = _edge_hash(edge.confidence, {})
        return h
    return _edge_hash(edge.confidence, edge.props)


def _edge_hash(confidence: Any, props: dict[str, Any]) -> str:
    return hashlib.sha256(_CANON([confidence, props]).encode()).hexdigest()[:24]


_BARE_EDGE_HASH: dict[float, str] = {}


def node_type_of(xid: str) -> str:
    return xid.split(":", 1)[0]


def _encode_props(kinds: dict[str, str], props: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(typed values by field, undeclared or ill-typed leftovers)."""
    typed: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for k, v in props.items():
        if v is None:
            continue
        kind = kinds.get(k)
        if kind is None:
            extra[k] = v
        elif kind == "list[string]" or kind == "json":
            typed[k] = _CANON(v)
        elif (py := _PY_TYPES.get(kind)) is not None and isinstance(v, py) and not (
                kind != "bool" and isinstance(v, bool)):
            typed[k] = float(v) if kind == "float" else v
        else:
            extra[k] = v
    return typed, extra


def node_predicates(node: Node, onto: GraphOntology) -> dict[str, Any]:
    """All property predicates of a node (not validity, not ``repo``)."""
    nt = onto.base.node_types[node.type]
    typed, extra = _encode_props(nt.fields, node.props)
    rec: dict[str, Any] = {"xid": node.id, "dgraph.type": dgraph_type_name(node.type),
                           "ntype": node.type, "name": node.name, "scope": node.scope, "key": node.key}
    if node.path is not None:
        rec["path"] = node.path
    if node.span is not None:
        rec["span_start"], rec["span_end"] = node.span
    # A field named like a core predicate (file.path) is the core predicate: keep the one value.
    for k, v in typed.items():
        if k not in rec:
            rec[k] = v
        elif rec[k] != v:
            extra[k] = v
    if extra:
        rec["xprops"] = _canon(extra)
    return rec


def node_fields(node_type: str, onto: GraphOntology) -> list[str]:
    """Predicates a node of this type may hold, to delete the ones a new version lacks."""
    nt = onto.base.node_types.get(node_type)
    fields = set(nt.fields) if nt else set()
    return sorted(fields | {"path", "span_start", "span_end", "xprops"})


def decode_node_view(rec: dict[str, Any], onto: GraphOntology) -> dict[str, Any]:
    """Stored predicates back to :func:`node_view` form (inverse of :func:`node_predicates`)."""
    ntype = rec.get("ntype", "")
    nt = onto.base.node_types.get(ntype)
    kinds = nt.fields if nt else {}
    span = [rec["span_start"], rec["span_end"]] if "span_start" in rec else None
    view: dict[str, Any] = {"name": rec.get("name"), "path": rec.get("path"), "span": span}
    for k, kind in kinds.items():
        if k in rec and k != "path":
            view[k] = json.loads(rec[k]) if kind in ("list[string]", "json") else rec[k]
    if rec.get("xprops"):
        view.update(json.loads(rec["xprops"]))
    return view


def edge_facets(edge: Edge, onto: GraphOntology) -> dict[str, Any]:
    if not edge.props and edge.type in onto.base.edge_types:  # most edges: the confidence alone
        return {"conf": float(edge.confidence)}
    et = onto.base.edge_types[edge.type]
    typed, extra = _encode_props(et.fields, edge.props)
    facets: dict[str, Any] = {"conf": float(edge.confidence), **typed}
    if extra:
        facets["xprops"] = _canon(extra)
    return facets


def state_xid(repo_id: str) -> str:
    return STATE_PREFIX + repo_id


def ontology_xid(version: str) -> str:
    return ONTOLOGY_PREFIX + version
