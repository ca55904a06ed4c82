"""The repository report and the per-commit impact report, from plain values.

Callers (the report operator, the query API) gather the numbers from Dgraph or the staged mining
records and pass them in; this module only decides what a reader sees: which tables, which
pictures, how much of a large repository fits on one screen. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from freshpoc_tasks.reporting import mermaid
from freshpoc_tasks.reporting.document import (
    Bullets,
    Diagram,
    Document,
    Heading,
    Para,
    Table,
    to_html,
    to_markdown,
)
from freshpoc_tasks.reporting.metrics import CouplingPair, Ownership


@dataclass(frozen=True)
class Hotspot:
    """A file's change frequency against its size (bytes or lines) and optional complexity."""

    path: str
    revisions: int
    size: int
    complexity: int | None = None


@dataclass(frozen=True)
class ParseFailure:
    path: str
    analyzer: str
    code: str
    message: str


@dataclass(frozen=True)
class TrendPoint:
    """One processed commit of the repository's history (from backfills)."""

    commit: str
    date: str
    size: int
    churn: int
    fan_in: int


@dataclass(frozen=True)
class RepositoryReport:
    """Everything the repository report shows; edges are (from, to) names."""

    repo_id: str
    commit: str | None
    counts: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)
    module_edges: Sequence[tuple[str, str]] = ()
    lineage_edges: Sequence[tuple[str, str]] = ()
    # Lineage nodes already left out of ``lineage_edges`` where the figures were stored
    # (``reporting.mermaid.top_connected``): the diagram's caption counts them too.
    lineage_left_out: int = 0
    hotspots: Sequence[Hotspot] = ()
    coupling: Sequence[CouplingPair] = ()
    owners: Sequence[Ownership] = ()
    parse_failures: Sequence[ParseFailure] = ()
    trends: Sequence[TrendPoint] = ()


@dataclass(frozen=True)
class Affected:
    """A downstream node a commit's change reaches, with whoever owns its file."""

    xid: str
    type: str
    name: str
    owners: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImpactReport:
    """What one commit changed in the graph and what that reaches downstream."""

    repo_id: str
    commit: str
    parent: str | None
    added: Sequence[tuple[str, str]] = ()  # (type, name)
    removed: Sequence[tuple[str, str]] = ()
    changed: Sequence[tuple[str, str]] = ()
    impact_edges: Sequence[tuple[str, str]] = ()  # changed name -> downstream name
    affected: Sequence[Affected] = ()


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "(working tree)"


def _hotspot_points(hotspots: Sequence[Hotspot], top_n: int) -> list[tuple[str, float, float]]:
    """Scale revisions (x) and size or complexity (y) to [0, 1] against the largest shown."""
    shown = list(hotspots)[:top_n]
    if not shown:
        return []
    max_rev = max(h.revisions for h in shown) or 1
    measure = [h.complexity if h.complexity is not None else h.size for h in shown]
    max_size = max(measure) or 1
    return [(h.path.rsplit("/", 1)[-1], h.revisions / max_rev, m / max_size)
            for h, m in zip(shown, measure, strict=True)]


def repository_document(r: RepositoryReport, *, top_n: int = 15, max_nodes: int = 40) -> Document:
    doc = Document(f"Repository report: {r.repo_id}")
    doc.add(Para(f"Commit {_short(r.commit)}."))

    doc.add(Heading(2, "Overview"))
    if r.counts:
        counts = sorted(r.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        doc.add(Table(("node type", "count"), tuple(counts)))
    else:
        doc.add(Para("The graph holds nothing for this repository yet."))

    doc.add(Heading(2, "Languages"))
    if r.languages:
        langs = sorted(r.languages.items(), key=lambda kv: (-kv[1], kv[0]))
        total = sum(r.languages.values()) or 1
        doc.add(Table(("language", "files", "share"),
                      tuple((lang, n, f"{100 * n / total:.0f}%") for lang, n in langs)))
        pie = ["pie showData", "  title Files by language"]
        pie += [f"  {mermaid.label(lang)} : {n}" for lang, n in langs[:top_n]]
        doc.add(Diagram("\n".join(pie) + "\n", "Language mix (files)"))
    else:
        doc.add(Para("No files recorded."))

    doc.add(Heading(2, "Module dependencies"))
    if r.module_edges:
        view = mermaid.flowchart(r.module_edges, max_nodes=max_nodes, sep=".")
        note = []
        if view.collapsed_levels:
            note.append(f"collapsed {view.collapsed_levels} level(s) to packages")
        if view.omitted_nodes:
            note.append(f"{view.omitted_nodes} least connected nodes left out")
        doc.add(Diagram(view.source, "Imports between modules" + (f" ({'; '.join(note)})" if note else "")))
    else:
        doc.add(Para("No imports between modules of this repository."))

    doc.add(Heading(2, "dbt lineage"))
    if r.lineage_edges:
        drawn, left_out = mermaid.top_connected(r.lineage_edges, max_nodes)
        view = mermaid.flowchart(drawn, max_nodes=max_nodes, sep=None)
        cap = "Models and sources, upstream to downstream"
        left_out += r.lineage_left_out + view.omitted_nodes
        if left_out:
            cap += f" ({left_out} least connected nodes left out)"
        doc.add(Diagram(view.source, cap))
    else:
        doc.add(Para("No dbt models."))

    doc.add(Heading(2, "Hotspots"))
    if r.hotspots:
        hs = sorted(r.hotspots, key=lambda h: (-h.revisions, -h.size, h.path))
        doc.add(Table(("file", "revisions", "size", "complexity"),
                      tuple((h.path, h.revisions, h.size, h.complexity if h.complexity is not None else "")
                            for h in hs[:top_n])))
        y_name = "complexity" if all(h.complexity is not None for h in hs[:top_n]) else "size"
        doc.add(Diagram(mermaid.quadrant(
            _hotspot_points(hs, top_n), title="Hotspots", x_axis=("rarely changed", "often changed"),
            y_axis=(f"small {y_name}", f"large {y_name}"),
            quadrants=("refactor first", "stable and large", "calm", "busy but small")),
            "Change frequency against size: the top-right corner is where work pays off"))
    else:
        doc.add(Para("No change history yet."))

    doc.add(Heading(2, "Temporal coupling"))
    if r.coupling:
        doc.add(Table(("file", "changes with", "shared commits", "degree"),
                      tuple((p.a, p.b, p.shared, f"{p.degree:g}%") for p in list(r.coupling)[:top_n])))
    else:
        doc.add(Para("No files change together often enough to report."))

    doc.add(Heading(2, "Owners and bus factor"))
    if r.owners:
        owners = list(r.owners)[:top_n]
        doc.add(Table(("folder", "main author", "share", "bus factor", "authors"),
                      tuple((o.path, o.owner or "", f"{100 * o.share:.0f}%", o.bus_factor, o.authors)
                            for o in owners)))
        edges = [(o.path + "/", o.owner) for o in owners if o.owner]
        labels = {(o.path + "/", o.owner): f"{100 * o.share:.0f}%" for o in owners if o.owner}
        view = mermaid.flowchart(edges, sep=None, max_nodes=max_nodes, edge_labels=labels)
        doc.add(Diagram(view.source, "Main author per folder (share of added lines)"))
    else:
        doc.add(Para("No authorship recorded."))

    doc.add(Heading(2, "Parse failures"))
    if r.parse_failures:
        doc.add(Table(("file", "analyzer", "code", "message"),
                      tuple((f.path, f.analyzer, f.code, f.message[:200]) for f in r.parse_failures)))
    else:
        doc.add(Para("Every file parsed."))

    if len(r.trends) >= 2:
        doc.add(Heading(2, "Trends"))
        points = list(r.trends)[-24:]
        xs = [p.date[:10] or p.commit[:7] for p in points]
        doc.add(Diagram(mermaid.line_chart("Size", xs, [p.size for p in points], "size"), "Size over time"))
        doc.add(Diagram(mermaid.line_chart("Churn", xs, [p.churn for p in points], "lines changed"),
                        "Churn per processed commit"))
        doc.add(Diagram(mermaid.line_chart("Lineage fan-in", xs, [p.fan_in for p in points], "edges"),
                        "Lineage fan-in over time"))
    return doc


def impact_document(r: ImpactReport, *, top_n: int = 25, max_nodes: int = 40) -> Document:
    doc = Document(f"Impact of {_short(r.commit)} on {r.repo_id}")
    doc.add(Para(f"Compared with {_short(r.parent) if r.parent else 'an empty graph'}: "
                 f"{len(r.added)} added, {len(r.removed)} removed, {len(r.changed)} changed; "
                 f"{len(r.affected)} downstream nodes affected."))
    for title, items in (("Added", r.added), ("Removed", r.removed), ("Changed", r.changed)):
        if items:
            doc.add(Heading(2, title), Table(("type", "name"), tuple(sorted(items))[:top_n * 4]))
    doc.add(Heading(2, "Downstream impact"))
    if r.impact_edges:
        changed = {name for _, name in (*r.added, *r.removed, *r.changed)}
        view = mermaid.flowchart(r.impact_edges, sep=None, max_nodes=max_nodes, highlight=changed)
        doc.add(Diagram(view.source, "Changed nodes (highlighted) and what depends on them"))
    if r.affected:
        rows = sorted(r.affected, key=lambda a: (a.type, a.name))[:top_n * 4]
        doc.add(Table(("type", "name", "owners"), tuple((a.type, a.name, ", ".join(a.owners)) for a in rows)))
        doc.add(Bullets(tuple(sorted({o for a in r.affected for o in a.owners}))) if any(
            a.owners for a in r.affected) else Para("No owners recorded for the affected nodes."))
    else:
        doc.add(Para("Nothing downstream is affected."))
    return doc


def render_repository_report(report: RepositoryReport, *, mermaid_src: str = "mermaid.min.js",
                             top_n: int = 15, mermaid_note: str = "") -> tuple[str, str]:
    """Return ``(markdown, html)`` of the repository report; both show the same diagrams."""
    doc = repository_document(report, top_n=top_n)
    return to_markdown(doc), to_html(doc, mermaid_src=mermaid_src, mermaid_note=mermaid_note)


def render_impact_report(report: ImpactReport, *, mermaid_src: str = "mermaid.min.js",
                         top_n: int = 25, mermaid_note: str = "") -> tuple[str, str]:
    """Return ``(markdown, html)`` of the per-commit impact report."""
    doc = impact_document(report, top_n=top_n)
    return to_markdown(doc), to_html(doc, mermaid_src=mermaid_src, mermaid_note=mermaid_note)
