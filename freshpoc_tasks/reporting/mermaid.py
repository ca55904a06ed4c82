"""Mermaid diagram text from plain values, readable on large repositories.

Graph names come from analysed code and may hold any character, so node ids are generated
(``n0``, ``n1`` ...) and labels are quoted with Mermaid's entity escapes; the diagram grammar
never sees a raw name. Large graphs are first collapsed (modules to their packages, one level at
a time) and then cut to the top-N nodes by degree, with a note saying how much was left out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

_UNSAFE_LABEL = re.compile(r'["#<>`\\\[\]{}|;]')


def label(text: str, max_len: int = 60) -> str:
    """Quote a label for a flowchart node or edge; entity-escape what Mermaid would parse."""
    if len(text) > max_len:
        text = text[: max_len - 1] + "…"
    escaped = _UNSAFE_LABEL.sub(lambda m: f"#{ord(m.group())};", text.replace("\n", " "))
    return f'"{escaped}"'


def plain(text: str, max_len: int = 40) -> str:
    """Text for grammars without quoting (quadrant points, axis labels): a safe subset only."""
    cleaned = re.sub(r"[^A-Za-z0-9_./ -]", "_", text)[:max_len].strip()
    return cleaned or "_"


@dataclass(frozen=True)
class GraphView:
    """What a flowchart ended up drawing, for captions and tests."""

    source: str
    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]
    collapsed_levels: int
    omitted_nodes: int


def package_of(name: str, sep: str = ".") -> str:
    """Parent of a dotted (or slashed) name; a top-level name is its own package."""
    return name.rsplit(sep, 1)[0] if sep in name else name


def collapse(edges: Iterable[tuple[str, str]], group: Callable[[str], str]) -> list[tuple[str, str]]:
    """Map both ends through ``group``; drop self-loops and duplicates, keep first-seen order."""
    seen: dict[tuple[str, str], None] = {}
    for a, b in edges:
        ga, gb = group(a), group(b)
        if ga != gb:
            seen.setdefault((ga, gb), None)
    return list(seen)


def _nodes(edges: Sequence[tuple[str, str]], extra: Iterable[str] = ()) -> list[str]:
    out: dict[str, None] = {}
    for a, b in edges:
        out.setdefault(a, None)
        out.setdefault(b, None)
    for n in extra:
        out.setdefault(n, None)
    return list(out)


def _best_connected(edges: Sequence[tuple[str, str]], nodes: Iterable[str], max_nodes: int) -> set[str]:
    """The ``max_nodes`` of ``nodes`` with the most edges, then by name: the one ranking of a
    flowchart that is cut (:func:`flowchart`, :func:`top_connected`)."""
    degree = Counter(n for e in edges for n in e)
    return set(sorted(nodes, key=lambda n: (-degree[n], n))[:max_nodes])


def top_connected(edges: Iterable[tuple[str, str]], max_nodes: int = 40) -> tuple[list[tuple[str, str]], int]:
    """The edges among the ``max_nodes`` best-connected nodes (degree over all ``edges``, then
    name), in order, and how many nodes are not drawn from them (the rest, and any kept node with
    no edge to another kept one). Idempotent: its own result comes back with 0 left out.

    What a flat flowchart (no packages to collapse to, e.g. dbt lineage) draws of a large graph;
    done once where the figures are stored, so a report reads a few dozen edges, not every edge
    of the repository (48,750 lineage edges at 1.1M nodes: 250 ms read and 100 ms drawn a report)."""
    edge_list = list(dict.fromkeys(edges))
    nodes = _nodes(edge_list)
    if len(nodes) <= max_nodes:
        return edge_list, 0
    keep = _best_connected(edge_list, nodes, max_nodes)
    drawn = [(a, b) for a, b in edge_list if a in keep and b in keep]
    return drawn, len(nodes) - len({n for e in drawn for n in e})


def flowchart(edges: Iterable[tuple[str, str]], *, direction: str = "LR", max_nodes: int = 40,
              sep: str | None = ".", isolated: Iterable[str] = (), highlight: Iterable[str] = (),
              edge_labels: dict[tuple[str, str], str] | None = None) -> GraphView:
    """A flowchart of ``edges`` (a -> b) that stays under ``max_nodes``.

    With ``sep`` set, names are collapsed to their parent package level by level while too many
    nodes remain; whatever is still too many is cut to the best-connected ``max_nodes``.
    """
    edge_list = list(dict.fromkeys(edges))
    extra = list(isolated)
    levels = 0
    while sep and len(_nodes(edge_list, extra)) > max_nodes:
        collapsed = collapse(edge_list, lambda n: package_of(n, sep))
        collapsed_extra = list(dict.fromkeys(package_of(n, sep) for n in extra))
        if collapsed == edge_list and collapsed_extra == extra:
            break
        edge_list, extra, levels = collapsed, collapsed_extra, levels + 1
        edge_labels = None  # labels belonged to the uncollapsed edges
    nodes = _nodes(edge_list, extra)
    omitted = 0
    if len(nodes) > max_nodes:
        keep = _best_connected(edge_list, nodes, max_nodes)
        omitted = len(nodes) - len(keep)
        nodes = [n for n in nodes if n in keep]
        edge_list = [(a, b) for a, b in edge_list if a in keep and b in keep]
    ids = {n: f"n{i}" for i, n in enumerate(nodes)}
    lines = [f"flowchart {direction}"]
    lines += [f"  {ids[n]}[{label(n)}]" for n in nodes]
    for a, b in edge_list:
        text = (edge_labels or {}).get((a, b))
        arrow = f"-->|{label(text, 20)}|" if text else "-->"
        lines.append(f"  {ids[a]} {arrow} {ids[b]}")
    marked = [ids[n] for n in highlight if n in ids]
    if marked:
        lines.append("  classDef focus fill:#ffe8a3,stroke:#b08800")
        lines.append(f"  class {','.join(marked)} focus")
    return GraphView("\n".join(lines) + "\n", tuple(nodes), tuple(edge_list), levels, omitted)


def quadrant(points: Sequence[tuple[str, float, float]], *, title: str, x_axis: tuple[str, str],
             y_axis: tuple[str, str], quadrants: tuple[str, str, str, str]) -> str:
    """A quadrant chart; ``points`` are (name, x, y) with x, y already scaled to [0, 1].

    ``quadrants`` are in Mermaid's order: top-right, top-left, bottom-left, bottom-right.
    """
    lines = ["quadrantChart", f"  title {plain(title, 80)}",
             f"  x-axis {plain(x_axis[0])} --> {plain(x_axis[1])}",
             f"  y-axis {plain(y_axis[0])} --> {plain(y_axis[1])}"]
    lines += [f"  quadrant-{i} {plain(q)}" for i, q in enumerate(quadrants, 1)]
    used: set[str] = set()
    for name, x, y in points:
        text = plain(name)
        while text in used:  # the chart keys points by text; keep each one visible
            text += "_"
        used.add(text)
        lines.append(f"  {text}: [{_unit(x)}, {_unit(y)}]")
    return "\n".join(lines) + "\n"


def _unit(v: float) -> str:
    """A coordinate in [0, 1]; Mermaid's quadrant grammar rejects ``1.0``/``1.000`` but takes ``1``."""
    v = min(max(v, 0.0), 1.0)
    return "1" if v >= 0.9995 else f"{v:.3f}"


def line_chart(title: str, x_labels: Sequence[str], series: Sequence[float], y_label: str) -> str:
    """A one-series ``xychart-beta`` line (one chart per metric keeps each scale readable)."""
    xs = ", ".join(f'"{plain(x, 16)}"' for x in x_labels)
    ys = ", ".join(f"{v:g}" for v in series)
    return (f'xychart-beta\n  title "{plain(title, 60)}"\n  x-axis [{xs}]\n'
            f'  y-axis "{plain(y_label)}"\n  line [{ys}]\n')
