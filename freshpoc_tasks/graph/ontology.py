"""The ontology as the graph stage sees it, and the Dgraph schema generated from it.

The analysis stage's loader (``analysis.ontology``) knows types and fields; the graph stage also
needs each type's *lifecycle* (``state`` entities are closed when a later commit no longer has
them, ``history`` facts such as commits are never closed) and a deterministic mapping of every
field to a Dgraph predicate. Generating the schema here, from the one YAML file, is what keeps
the analyzers, the writer and the query API from drifting apart.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from freshpoc_tasks.analysis.ontology import TRUSTED_YAML_LOADER, Ontology, default_path, parse_ontology

# Predicates every node carries, whatever its type. Values are Dgraph scalar types + indexes.
# ``xid`` keeps the ``exact`` index the shared ARCHITECTURE fixes (and the smoke test re-applies):
# Dgraph refuses exact-index tokens over ~64 KB, so the writer hashes longer ids (see STORED_XID).
CORE_NODE_PREDICATES: dict[str, str] = {
    "xid": "string @index(exact) @upsert",
    "ntype": "string @index(exact)",
    "name": "string @index(hash, trigram)",
    "path": "string @index(hash)",
    "scope": "string @index(hash)",
    "key": "string",
    "span_start": "int",
    "span_end": "int",
    "repo": "string @index(exact)",
    "vf": "int @index(int)",
    "vt": "int @index(int)",
    "vs": "string",
    # A node removed once and back later: its one hole [vhf, vht) in µs, which queries test
    # beside the envelope (graph.queries._present), so as-of and diff stay exact in DQL.
    "vhf": "int @index(int)",
    "vht": "int @index(int)",
    # True on a node with more than one hole (rare): the questions read these apart and decide
    # them from ``vs``; ``vb`` holds their run boundaries, so a diff reads only those that
    # changed in its window (a range of this index).
    "vg": "bool @index(bool)",
    "vb": "[int] @index(int)",
    "h": "string",
    "xprops": "string",
}

# Facets every edge carries (never predicates: listed here so the export and queries agree).
CORE_EDGE_FACETS: tuple[str, ...] = ("vf", "vt", "vs", "vg", "h", "conf")

# Bookkeeping predicates of the writer's own nodes (repository timelines, applied ontologies).
INTERNAL_PREDICATES: dict[str, str] = {
    "fp_timeline": "string",
    "fp_version": "string @index(exact)",
    "fp_schema_sha": "string",
    "fp_applied_at": "string",
    "fp_gaps_marked": "bool",  # on an applied ontology: its nodes' holes (vhf/vht, vg/vb) were set
    # Aggregates per (repository, commit), see graph.aggregates: one summary record and its pages.
    "fp_repo": "string @index(exact)",
    "fp_commit": "string",
    "fp_at": "int @index(int)",
    "fp_digest": "string",
    "fp_aggregates": "string",
    "fp_items": "string",
}
STATE_TYPE = "FreshpocState"
ONTOLOGY_TYPE = "FreshpocOntology"
AGGREGATES_TYPE = "FreshpocAggregates"

# Index tokenizers the ontology's ``indexes:`` section may ask for, by scalar type. ``exact`` is
# the sortable string index (``orderasc``, ``between``, ``ge``/``lt`` ranges: path prefixes and
# cursors); ``hash`` answers only equality.
TOKENIZERS: dict[str, frozenset[str]] = {
    "string": frozenset({"exact", "hash", "term", "fulltext", "trigram"}),
    "int": frozenset({"int"}), "float": frozenset({"float"}), "bool": frozenset({"bool"}),
}

_SCALARS = {"string": "string", "int": "int", "float": "float", "bool": "bool",
            "list[string]": "string", "json": "string"}
# list[string] is stored as JSON text: Dgraph lists are unordered sets, and base classes,
# decorators and column lists must round-trip in order and with duplicates.
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class GraphOntology:
    """The parsed ontology plus what only the graph stage needs."""

    base: Ontology
    lifecycles: dict[str, str]  # node or edge type -> "state" | "history"
    field_predicates: dict[str, str]  # ontology field name -> Dgraph scalar type
    source: str  # the YAML text, for the version ledger
    indexes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # predicate -> tokenizers

    def predicate_spec(self, name: str) -> str:
        """``<type> [@index(...)]`` of a core or field predicate, with the ontology's indexes
        replacing the core default's (so an index is asked for in one place, the YAML)."""
        base = CORE_NODE_PREDICATES.get(name) or self.field_predicates[name]
        scalar, *rest = base.split()
        if name not in self.indexes:
            return base
        rest = [r for r in rest if not r.startswith("@index")]
        tokens = ", ".join(self.indexes[name])
        return " ".join([scalar, f"@index({tokens})", *rest]) if tokens else " ".join([scalar, *rest])

    @property
    def version(self) -> str:
        return self.base.version

    def lifecycle(self, type_name: str) -> str:
        return self.lifecycles.get(type_name, "state")

    def field_kind(self, node_or_edge_type: str, field: str) -> str | None:
        nt = self.base.node_types.get(node_or_edge_type)
        if nt is not None:
            return nt.fields.get(field)
        et = self.base.edge_types.get(node_or_edge_type)
        return et.fields.get(field) if et is not None else None


def parse_graph_ontology(text: str) -> GraphOntology:
    doc: dict[str, Any] = yaml.load(text, Loader=TRUSTED_YAML_LOADER)
    base = parse_ontology(doc)
    lifecycles: dict[str, str] = {}
    for section in ("node_types", "edge_types"):
        for name, spec in (doc.get(section) or {}).items():
            life = (spec or {}).get("lifecycle", "state")
            if life not in {"state", "history"}:
                raise ValueError(f"{name}: lifecycle must be 'state' or 'history', got {life!r}")
            lifecycles[name] = life
    fields: dict[str, str] = {}
    for nt in base.node_types.values():
        for fname, kind in nt.fields.items():
            if kind not in _SCALARS:
                raise ValueError(f"{nt.name}.{fname}: unknown field type {kind!r}")
            scalar = _SCALARS[kind]
            if fname in CORE_NODE_PREDICATES:
                if CORE_NODE_PREDICATES[fname].split()[0] != scalar:
                    raise ValueError(f"{nt.name}.{fname} clashes with the core predicate {fname}")
                continue
            if fields.setdefault(fname, scalar) != scalar:
                raise ValueError(f"field {fname!r} is {fields[fname]} in one node type and {scalar} in "
                                 f"{nt.name}; one predicate cannot hold both")
    for et in base.edge_types.values():
        for fname, kind in et.fields.items():
            if kind not in _SCALARS:
                raise ValueError(f"edge {et.name}.{fname}: unknown field type {kind!r}")
            if fname in CORE_EDGE_FACETS:
                raise ValueError(f"edge {et.name}.{fname} clashes with a core facet")
    clash = set(base.edge_types) & (set(fields) | set(CORE_NODE_PREDICATES) | set(INTERNAL_PREDICATES))
    if clash:
        raise ValueError(f"edge types named like node predicates: {sorted(clash)}")
    for name in [*base.node_types, *base.edge_types, *fields]:
        if not _IDENT.match(name):
            raise ValueError(f"{name!r} cannot be a Dgraph name")
    indexes = _parse_indexes(doc.get("indexes") or {}, fields)
    return GraphOntology(base=base, lifecycles=lifecycles, field_predicates=fields, source=text,
                         indexes=indexes)


def _parse_indexes(spec: dict[str, Any], fields: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """``indexes:`` maps a node predicate (core or field) to the tokenizers queries need."""
    out: dict[str, tuple[str, ...]] = {}
    for name, tokens in spec.items():
        if name in CORE_NODE_PREDICATES:
            scalar = CORE_NODE_PREDICATES[name].split()[0]
        elif name in fields:
            scalar = fields[name]
        else:
            raise ValueError(f"indexes: {name!r} is neither a core predicate nor a node field")
        tokens = list(tokens or [])
        bad = [t for t in tokens if t not in TOKENIZERS[scalar]]
        if bad:
            raise ValueError(f"indexes: {name} is {scalar}; cannot index it with {bad}")
        if name == "xid" and "exact" not in tokens:
            raise ValueError("indexes: xid must keep its exact index (writers upsert on it)")
        out[name] = tuple(sorted(set(tokens)))
    return out


def load_graph_ontology(path: str | Path | None = None) -> GraphOntology:
    return parse_graph_ontology(Path(path or default_path()).read_text(encoding="utf-8"))


def dgraph_type_name(node_type: str) -> str:
    """``py.function`` -> ``PyFunction``: Dgraph type names cannot hold dots."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[._]", node_type))


def generate_schema(onto: GraphOntology) -> str:
    """The full DQL schema, deterministic for a given ontology (so re-applying is a no-op).

    Every edge type is ``[uid] @reverse``: dependency and lineage queries walk edges upstream.
    """
    lines = [f"# generated from ontology {onto.version}; do not edit"]
    for name, spec in sorted({**CORE_NODE_PREDICATES, **INTERNAL_PREDICATES}.items()):
        lines.append(f"<{name}>: {onto.predicate_spec(name) if name in CORE_NODE_PREDICATES else spec} .")
    for name in sorted(onto.field_predicates):
        lines.append(f"<{name}>: {onto.predicate_spec(name)} .")
    for name in sorted(onto.base.edge_types):
        lines.append(f"<{name}>: [uid] @reverse .")
    for nt in sorted(onto.base.node_types.values(), key=lambda t: t.name):
        preds = list(CORE_NODE_PREDICATES) + sorted(f for f in nt.fields if f not in CORE_NODE_PREDICATES)
        preds += sorted(et.name for et in onto.base.edge_types.values() if nt.name in et.from_types)
        lines.append(f"type {dgraph_type_name(nt.name)} {{")
        lines += [f"  <{p}>" for p in preds]
        lines.append("}")
    for tname, preds in ((STATE_TYPE, ["xid", "repo", "fp_timeline"]),
                         (ONTOLOGY_TYPE, ["xid", "fp_version", "fp_schema_sha", "fp_applied_at"]),
                         (AGGREGATES_TYPE, ["xid", "fp_repo", "fp_commit", "fp_at", "fp_digest",
                                            "fp_aggregates", "fp_items"])):
        lines.append(f"type {tname} {{")
        lines += [f"  <{p}>" for p in preds]
        lines.append("}")
    return "\n".join(lines) + "\n"


def schema_sha(schema: str) -> str:
    return hashlib.sha256(schema.encode()).hexdigest()
