"""The local graph as GraphML, the one format networkx, Gephi, yEd and Cytoscape all load directly.

The JSON Lines files of :mod:`freshpoc_tasks.graph.local_store` are the complete record (every
version); GraphML gets one picture: the nodes and edges valid at one time (now by default), with
their scalar properties as typed attributes. Names come from analysed code and may hold any
character, so every value is XML-escaped and characters XML 1.0 cannot carry (NUL, most control
characters, lone surrogates) are replaced — a hostile file name must not make the file unreadable.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from freshpoc_tasks.graph.local_store import LocalGraph, _valid
from freshpoc_tasks.graph.queries import _t

GRAPHML_FILE = "graph.graphml"
# Characters outside XML 1.0's Char production.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_STATE = {"vs", "h", "dgraph.type"}  # change-tracking predicates: no meaning in a picture


def clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


_KINDS: dict[type, str] = {bool: "boolean", int: "long", float: "double", str: "string",
                           list: "string", dict: "string"}  # lists and objects as JSON text


def _keys(records: Iterable[dict[str, Any]], skip: set[str]) -> dict[str, str]:
    """Attribute name -> GraphML type; a name seen with two types becomes a string (or a double,
    for ints and floats). ``None`` values are left out."""
    seen: dict[str, set[type]] = defaultdict(set)
    # The distinct (name, type) pairs first, in one comprehension: a set insert per value in
    # C, not a dictionary lookup and an insert in Python (millions of values on a large graph).
    for k, cls in {(k, val.__class__) for rec in records for k, val in rec.items()}:
        seen[k].add(cls)
    kinds: dict[str, str] = {}
    for k, types in seen.items():
        found = {_KINDS[t] for t in types if t in _KINDS}
        if k in skip or not found:
            continue
        kinds[k] = found.pop() if len(found) == 1 else "double" if found == {"long", "double"} else "string"
    return dict(sorted(kinds.items()))


def _text(key: str, value: Any, booleans: set[str]) -> str:
    if value.__class__ is str:
        return escape(value) if ("&" in value or "<" in value or ">" in value) else value
    if key in booleans:
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return escape(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return str(value)


def _data(rec: dict[str, Any], tags: dict[str, str], booleans: set[str]) -> str:
    """A record's ``<data>`` elements, in the order of its keys (the columns' order: both
    sorted). Walks the record's own fields, not every column of the graph: a node has a dozen
    of the graph's forty-odd attributes, and asking it for each was most of the GraphML time."""
    parts = []
    for k in sorted(rec):
        tag = tags.get(k)
        if tag is None:
            continue
        val = rec[k]
        if val is None:
            continue
        cls = val.__class__
        if cls is str:
            text = escape(val) if ("&" in val or "<" in val or ">" in val) else val
        elif cls is int or cls is float:  # never under a boolean column: those hold only bools
            text = str(val)
        else:
            text = _text(k, val, booleans)
        parts.append(f"{tag}{text}</data>")
    return "".join(parts)


def _attr(value: str) -> str:
    """``quoteattr`` for ids, with a fast path: ids rarely hold a character that needs escaping."""
    if "&" in value or "<" in value or ">" in value or '"' in value or "\n" in value or "\t" in value:
        return quoteattr(value)
    return f'"{value}"'


def write_graphml(graph: LocalGraph, path: str | Path, at_us: int | None = None) -> dict[str, int]:
    """Write the graph as of ``at_us`` to ``path``; returns ``{"nodes": n, "edges": m}``."""
    t = _t(at_us)
    nodes = {x: rec for x, rec in graph.nodes.items() if _valid(rec, t)}
    edges = [(etype, src, dst, f) for etype, src, dst, f in graph.iter_edges()
             if src in nodes and dst in nodes and _valid(f, t)]
    node_keys = _keys(nodes.values(), _STATE | {"xid"})
    edge_keys = _keys((f for *_, f in edges), _STATE | {"type"})
    ids = {k: f"n_{k}" for k in node_keys}
    eids = {k: f"e_{k}" for k in edge_keys}
    lines = ['<?xml version="1.0" encoding="UTF-8"?>\n'
             '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
             'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">']
    lines += [f'<key id="{ids[k]}" for="node" attr.name={quoteattr(k)} attr.type="{kind}"/>'
              for k, kind in node_keys.items()]
    lines.append('<key id="e_type" for="edge" attr.name="type" attr.type="string"/>')
    lines += [f'<key id="{eids[k]}" for="edge" attr.name={quoteattr(k)} attr.type="{kind}"/>'
              for k, kind in edge_keys.items()]
    lines.append('<graph id="freshpoc" edgedefault="directed">')
    booleans = {k for k, kind in {**node_keys, **edge_keys}.items() if kind == "boolean"}
    node_tags = {k: f'<data key="{ids[k]}">' for k in node_keys}
    edge_tags = {k: f'<data key="{eids[k]}">' for k in edge_keys}
    for xid in sorted(nodes):
        lines.append(f"<node id={_attr(xid)}>{_data(nodes[xid], node_tags, booleans)}</node>")
    for n, (etype, src, dst, facets) in enumerate(sorted(edges, key=lambda e: e[:3])):
        data = _data(facets, edge_tags, booleans)
        lines.append(f'<edge id="e{n}" source={_attr(src)} target={_attr(dst)}>'
                     f'<data key="e_type">{escape(etype)}</data>{data}</edge>')
    lines.append("</graph>\n</graphml>\n")
    # Markup is plain ASCII, so cleaning the finished text once cleans every value in it.
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(clean("\n".join(lines)), encoding="utf-8")
    tmp.replace(path)
    return {"nodes": len(nodes), "edges": len(edges)}
