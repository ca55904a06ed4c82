"""Load ``include/ontology/ontology.yaml`` and check analyzer output against it.

The ontology is the one list of node and edge types every stage agrees on; the analysis engine
uses it as a gate so a plugin cannot silently widen the graph schema.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

# The ontology is our own file (include/ontology), parsed on every report and task start: libyaml's
# safe loader when the wheel has it (pure-Python safe_load was 0.3-0.8 s of a small report).
TRUSTED_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ONTOLOGY_ENV = "FRESHPOC_ONTOLOGY"


@dataclass(frozen=True)
class NodeType:
    name: str
    fields: dict[str, str]
    produced_by: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class EdgeType:
    name: str
    from_types: frozenset[str]
    to_types: frozenset[str]
    produced_by: tuple[str, ...]
    fields: dict[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Ontology:
    version: str
    node_types: dict[str, NodeType]
    edge_types: dict[str, EdgeType]

    def has_node(self, name: str) -> bool:
        return name in self.node_types

    def allows_edge(self, name: str, src_type: str | None, dst_type: str | None) -> bool:
        et = self.edge_types.get(name)
        if et is None:
            return False
        if src_type is not None and src_type not in et.from_types:
            return False
        return dst_type is None or dst_type in et.to_types


def default_path() -> Path:
    """Env override first, then the repository checkout this package lives in."""
    env = os.environ.get(ONTOLOGY_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "include" / "ontology" / "ontology.yaml"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"ontology.yaml not found; set {ONTOLOGY_ENV}")


def parse_ontology(doc: dict[str, Any]) -> Ontology:
    version = str(doc["version"])
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"ontology version {version!r} is not semver MAJOR.MINOR.PATCH")
    nodes = {
        name: NodeType(
            name=name,
            fields={k: str(v) for k, v in (spec.get("fields") or {}).items()},
            produced_by=tuple(spec.get("produced_by") or ()),
            description=spec.get("description", ""),
        )
        for name, spec in (doc.get("node_types") or {}).items()
    }
    edges = {}
    for name, spec in (doc.get("edge_types") or {}).items():
        for end in ("from", "to"):
            unknown = set(spec.get(end) or ()) - nodes.keys()
            if unknown:
                raise ValueError(f"edge type {name!r} {end} undeclared node types {sorted(unknown)}")
        edges[name] = EdgeType(
            name=name,
            from_types=frozenset(spec.get("from") or ()),
            to_types=frozenset(spec.get("to") or ()),
            produced_by=tuple(spec.get("produced_by") or ()),
            fields={k: str(v) for k, v in (spec.get("fields") or {}).items()},
            description=spec.get("description", ""),
        )
    return Ontology(version=version, node_types=nodes, edge_types=edges)


@lru_cache(maxsize=8)
def _load(path: str) -> Ontology:
    with open(path, encoding="utf-8") as fh:
        return parse_ontology(yaml.load(fh, Loader=TRUSTED_YAML_LOADER))


def load_ontology(path: str | Path | None = None) -> Ontology:
    return _load(str(path or default_path()))
