"""Assemble the repository report's values from the staged mining records and graph delta.

The report operator has both artifacts at hand after the pipeline ran; reading them instead of
querying Dgraph keeps the first report independent of the graph's query layer and cheap to
rerun for any staged commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from freshpoc_tasks.contracts.base import Contract
from freshpoc_tasks.contracts.graph import GraphDelta
from freshpoc_tasks.contracts.mining import (
    AuthorContribution,
    CommitRecord,
    Coupling,
    FileHistory,
    FileRecord,
    FolderStats,
    RepoSnapshot,
)
from freshpoc_tasks.contracts.mining import Hotspot as MinedHotspot
from freshpoc_tasks.reporting.metrics import CouplingPair, Ownership
from freshpoc_tasks.reporting.reports import (
    Affected,
    Hotspot,
    ImpactReport,
    ParseFailure,
    RepositoryReport,
    TrendPoint,
)

LINEAGE_TYPES = ("dbt.model", "dbt.source", "dbt.seed", "dbt.snapshot")


def _package(module: str, depth: int = 2) -> str:
    return ".".join(module.split(".")[:depth])


REPORT_TOP = 15  # hotspots and coupled pairs a report lists


def aggregate_figures(agg: Any, top: int = REPORT_TOP) -> dict[str, Any]:
    """The report's figures from a commit's stored aggregates (``graph.aggregates.Aggregates``):
    the same numbers the API's overview and as-of give for that commit. Counts are the
    repository's own nodes present at the commit, by type."""
    return {
        "counts": dict(agg.counts_by_type),
        "languages": dict(sorted(agg.files_by_language.items(), key=lambda kv: (-kv[1], kv[0]))),
        "hotspots": [Hotspot(path=h["path"], revisions=int(h["revisions"]),
                             size=int(h.get("lines_code") or 0)) for h in agg.hotspots[:top]],
        "coupling": [CouplingPair(a=c["a"], b=c["b"], shared=int(c["shared_revisions"]),
                                  degree=float(c["degree"])) for c in agg.coupling[:top]],
        "owners": [Ownership(path=f["path"], owner=f.get("main_author"),
                             share=float(f.get("main_author_share") or 0),
                             bus_factor=int(f.get("bus_factor") or 0), authors=int(f.get("authors") or 0),
                             lines=int(f.get("revisions") or 0))
                   for f in agg.folders if f.get("main_author")],
    }


def repository_report(mining: Iterable[Contract], delta: GraphDelta, *,
                      package_depth: int = 2, trends: Sequence[TrendPoint] = (),
                      aggregates: Any = None) -> RepositoryReport:
    """Build the report values; module dependencies are collapsed to packages of ``package_depth``.

    With the commit's ``aggregates`` (what the graph writer or the local store computed when it
    wrote the delta) the counts, languages, hotspots, coupling and folder owners are theirs, so
    the report says what the API's overview and as-of say."""
    snapshot: RepoSnapshot | None = None
    languages: Counter[str] = Counter()
    hotspots: list[Hotspot] = []
    couplings: list[CouplingPair] = []
    owners: list[Ownership] = []
    files = 0
    for rec in mining:
        if isinstance(rec, RepoSnapshot):
            snapshot = rec
        elif isinstance(rec, FileRecord):
            files += 1
            if rec.language and not rec.is_binary:
                languages[rec.language] += 1  # files, as the report says and the API counts
        elif isinstance(rec, MinedHotspot):
            hotspots.append(Hotspot(path=rec.path, revisions=rec.revisions, size=rec.lines_code))
        elif isinstance(rec, Coupling):
            couplings.append(CouplingPair(a=rec.path_a, b=rec.path_b, shared=rec.shared_revisions,
                                          degree=rec.degree))
        elif isinstance(rec, FolderStats):
            owners.append(Ownership(path=rec.folder or "/", owner=rec.main_author,
                                    share=rec.main_author_share, bus_factor=rec.bus_factor,
                                    authors=rec.authors, lines=rec.added))
        elif isinstance(rec, AuthorContribution):
            continue
    names = {n.id: n for n in delta.nodes}
    module_edges: set[tuple[str, str]] = set()
    lineage_edges: set[tuple[str, str]] = set()
    for edge in delta.edges:
        src, dst = names.get(edge.src), names.get(edge.dst)
        if src is None or dst is None:
            continue
        if edge.type == "imports" and src.type == "py.module" and dst.type == "py.module":
            a, b = _package(src.key, package_depth), _package(dst.key, package_depth)
            if a != b:
                module_edges.add((a, b))
        elif edge.type == "depends_on" and src.type in LINEAGE_TYPES and dst.type in LINEAGE_TYPES:
            lineage_edges.add((dst.name, src.name))  # upstream -> downstream
    by_type = Counter(n.type for n in delta.nodes)
    counts = {"files": files, "nodes": len(delta.nodes), "edges": len(delta.edges),
              **{f"nodes.{t}": c for t, c in sorted(by_type.items())}}
    failures = [ParseFailure(path=d.path, analyzer=d.analyzer, code=d.code, message=d.message)
                for d in delta.diagnostics if d.severity == "error"]
    if aggregates is not None:
        return RepositoryReport(
            repo_id=delta.repo_id, commit=snapshot.commit if snapshot else delta.commit,
            module_edges=sorted(module_edges), lineage_edges=sorted(lineage_edges),
            parse_failures=failures, trends=tuple(trends), **aggregate_figures(aggregates))
    return RepositoryReport(
        repo_id=delta.repo_id,
        commit=snapshot.commit if snapshot else delta.commit,
        counts=counts,
        languages=dict(languages.most_common()),
        module_edges=sorted(module_edges),
        lineage_edges=sorted(lineage_edges),
        hotspots=sorted(hotspots, key=lambda h: (-h.revisions * h.size, h.path)),
        coupling=sorted(couplings, key=lambda c: (-c.degree, c.a, c.b)),
        owners=sorted(owners, key=lambda o: o.path),
        parse_failures=failures,
        trends=tuple(trends),
    )


def _display(xid: str) -> str:
    """A readable name from a node id: the last dotted/slashed part of its natural key."""
    key = xid.split(":", 2)[-1]
    return key.rsplit("/", 1)[-1] if "/" in key and "." not in key.rsplit("/", 1)[-1] else key


def impact_report(diff: Any, dependents: dict[str, list[dict[str, Any]]],
                  owners_by_path: dict[str, str]) -> ImpactReport:
    """The per-commit impact report: what the commit changed and what depends on it.

    ``dependents`` maps a changed node's xid to the nodes that depend on it (from the graph,
    each ``{xid, ntype, path}``); owners come from the mined history of the dependents' files.
    """
    changed_ids = {c.id for c in (*diff.nodes_added, *diff.nodes_removed, *diff.nodes_changed)}
    edges: set[tuple[str, str]] = set()
    affected: dict[str, Affected] = {}
    for xid, deps in dependents.items():
        for dep in deps:
            if dep["xid"] in changed_ids:
                continue
            edges.add((_display(xid), _display(dep["xid"])))
            owner = owners_by_path.get(dep.get("path") or "")
            affected[dep["xid"]] = Affected(xid=dep["xid"], type=dep.get("ntype", ""),
                                            name=_display(dep["xid"]),
                                            owners=(owner,) if owner else ())
    return ImpactReport(
        repo_id=diff.repo_id, commit=diff.commit, parent=diff.previous_commit,
        added=sorted((c.type, _display(c.id)) for c in diff.nodes_added),
        removed=sorted((c.type, _display(c.id)) for c in diff.nodes_removed),
        changed=sorted((c.type, _display(c.id)) for c in diff.nodes_changed),
        impact_edges=sorted(edges),
        affected=sorted(affected.values(), key=lambda a: a.xid),
    )


@dataclass
class ReportInputs:
    """What the report stage needs from the mining records, read in one pass."""

    records: list[Contract]  # everything but commit records, the bulk of a long history
    owners: dict[str, str]  # path -> main author
    figures: dict[str, int]  # this commit's trend point


def report_inputs(mining: Iterable[Contract], delta: GraphDelta, since: Any = None) -> ReportInputs:
    """One pass over the mining records: keep what the report reads, total the trend figures
    (lines of code, churn after ``since`` — the previously processed commit's time, all history
    when None — and lineage fan-in), and the owner of each file."""
    kept: list[Contract] = []
    owners: dict[str, str] = {}
    size = churn = 0
    for rec in mining:
        if isinstance(rec, CommitRecord):
            if since is None or rec.committed_at > since:
                churn += sum(c.added + c.deleted for c in rec.changes)
            continue
        kept.append(rec)
        if isinstance(rec, FileRecord) and not rec.is_binary:
            size += rec.lines_code
        elif isinstance(rec, FileHistory) and rec.main_author:
            owners[rec.path] = rec.main_author
    fan_in = sum(1 for e in delta.edges if e.type in ("depends_on", "derives_from"))
    return ReportInputs(kept, owners, {"trend_size": size, "trend_churn": churn, "trend_fan_in": fan_in})


def trend_figures(mining: Iterable[Contract], delta: GraphDelta, since: Any = None) -> dict[str, int]:
    """This commit's point on the trend charts (see :func:`report_inputs`)."""
    return report_inputs(mining, delta, since).figures


def trend_points(history: Iterable[dict[str, Any]]) -> list[TrendPoint]:
    """Trend points from the registry's processed commits (oldest first) that carry figures."""
    points = []
    for h in history:
        counts = h.get("counts") or {}
        if "trend_size" not in counts:
            continue
        when = h.get("committed_at")
        points.append(TrendPoint(commit=h["commit"], date=when.date().isoformat() if when else "",
                                 size=counts["trend_size"], churn=counts["trend_churn"],
                                 fan_in=counts["trend_fan_in"]))
    return points
