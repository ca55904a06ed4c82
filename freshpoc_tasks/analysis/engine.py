"""The analysis engine: files in, one ontology-checked ``GraphDelta`` out.

Per file, every analyzer that accepts it runs (a DAG file is both Python and Airflow), behind a
content-addressed cache keyed by blob sha, analyzer name and version and the few pieces of
context that change the result. Cross-file resolution always runs afterwards over all per-file
results, cached or fresh, which is what keeps reruns cheap without making links stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from freshpoc_tasks.analysis.base import Analyzer
from freshpoc_tasks.analysis.linker import link_refs, unify_tables
from freshpoc_tasks.analysis.model import AnalysisConfig, FileResult, LinkResult, RepoContext, SourceFile
from freshpoc_tasks.analysis.ontology import Ontology, load_ontology
from freshpoc_tasks.contracts.graph import Diagnostic, Edge, GraphDelta, Node, ProposedType

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "freshpoc.analyzers"


def builtin_analyzers() -> list[Analyzer]:
    from freshpoc_tasks.analysis.airflow import AirflowAnalyzer
    from freshpoc_tasks.analysis.dbt import DbtAnalyzer
    from freshpoc_tasks.analysis.pulumi import PulumiAnalyzer
    from freshpoc_tasks.analysis.python import PythonAnalyzer
    from freshpoc_tasks.analysis.sql import SqlAnalyzer

    return [PythonAnalyzer(), SqlAnalyzer(), DbtAnalyzer(), PulumiAnalyzer(), AirflowAnalyzer()]


def discover_analyzers() -> list[Analyzer]:
    """Analyzers registered under the ``freshpoc.analyzers`` entry point (built-ins included
    when the package is installed), falling back to the built-ins in a plain checkout."""
    found: dict[str, Analyzer] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            analyzer = obj() if isinstance(obj, type) else obj
        except Exception:
            log.warning("analyzer entry point %s failed to load", ep.name, exc_info=True)
            continue
        found.setdefault(analyzer.name, analyzer)
    for analyzer in builtin_analyzers():
        found.setdefault(analyzer.name, analyzer)
    return list(found.values())


class ResultCache:
    """Per-file results on disk, one JSON file per content-addressed key."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(file: SourceFile, analyzer: Analyzer, fingerprint: str) -> str:
        raw = "\0".join((file.blob_sha, analyzer.name, analyzer.version, file.path, fingerprint))
        return hashlib.sha256(raw.encode()).hexdigest()

    def _path(self, analyzer: Analyzer, key: str) -> Path:
        return self.root / analyzer.name / analyzer.version / key[:2] / f"{key}.json"

    def get(self, analyzer: Analyzer, key: str) -> FileResult | None:
        path = self._path(analyzer, key)
        try:
            return FileResult.model_validate_json(path.read_bytes())
        except (OSError, ValueError):
            return None

    def put(self, analyzer: Analyzer, key: str, result: FileResult) -> None:
        path = self._path(analyzer, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(result.model_dump_json())
        os.replace(tmp, path)


@dataclass
class RunStats:
    files: int = 0
    analysed: int = 0
    cached: int = 0
    failed: int = 0
    by_analyzer: dict[str, int] = field(default_factory=lambda: defaultdict(int))


ProgressFn = Callable[[int, int, str], None]


def analyse_repository(
    files: Iterable[SourceFile],
    repo_id: str,
    commit: str | None = None,
    config: AnalysisConfig | None = None,
    analyzers: Sequence[Analyzer] | None = None,
    cache: ResultCache | None = None,
    ontology: Ontology | None = None,
    progress: ProgressFn | None = None,
    stats: RunStats | None = None,
) -> GraphDelta:
    """Analyse one repository snapshot into a graph delta."""
    ontology = ontology or load_ontology()
    analyzers = list(analyzers) if analyzers is not None else discover_analyzers()
    stats = stats if stats is not None else RunStats()
    by_path = {f.path: f for f in files}
    ctx = RepoContext(repo_id=repo_id, files=by_path, config=config or AnalysisConfig(), commit=commit)
    results: dict[str, list[FileResult]] = {a.name: [] for a in analyzers}
    total = len(by_path)
    for n, path in enumerate(sorted(by_path), 1):
        file = by_path[path]
        stats.files += 1
        for analyzer in analyzers:
            if not analyzer.accepts(file, ctx):
                continue
            result = None
            key = ""
            if cache is not None:
                # Node ids carry the repository's id, so results are cached per repository.
                key = cache.key(file, analyzer,
                                f"{repo_id}\0{analyzer.context_fingerprint(file, ctx)}")
                result = cache.get(analyzer, key)
            if result is not None:
                stats.cached += 1
            else:
                result = analyzer.analyze_file(file, ctx)
                stats.analysed += 1
                if cache is not None:
                    cache.put(analyzer, key, result)
            if any(d.severity == "error" for d in result.diagnostics):
                stats.failed += 1
            stats.by_analyzer[analyzer.name] += 1
            results[analyzer.name].append(result)
        if progress is not None:
            progress(n, total, path)

    nodes: list[Node] = []
    edges: list[Edge] = []
    diagnostics: list[Diagnostic] = []
    refs = []
    for analyzer in analyzers:
        own = results[analyzer.name]
        for r in own:
            nodes += r.nodes
            edges += r.edges
            refs += r.refs
            diagnostics += r.diagnostics
        try:
            linked = analyzer.link(own, ctx)
        except Exception as exc:  # a plugin's link bug must not lose everyone's results
            log.warning("link step of %s failed", analyzer.name, exc_info=True)
            failure = Diagnostic(path="", analyzer=analyzer.name, code="internal_error",
                                 message=f"link failed: {type(exc).__name__}: {exc}")
            linked = LinkResult(diagnostics=[failure])
        nodes += linked.nodes
        edges += linked.edges
        refs += linked.refs
        diagnostics += linked.diagnostics
    linked = link_refs(refs, results, nodes, ctx)
    nodes += linked.nodes
    edges += linked.edges
    diagnostics += linked.diagnostics
    nodes, edges = unify_tables(nodes, edges, ctx)
    return build_delta(repo_id, commit, ontology, {a.name: a.version for a in analyzers}, nodes, edges,
                       diagnostics)


def _type_of(node_id: str) -> str:
    return node_id.split(":", 1)[0]


def build_delta(repo_id: str, commit: str | None, ontology: Ontology, analyzers: dict[str, str],
                nodes: list[Node], edges: list[Edge], diagnostics: list[Diagnostic]) -> GraphDelta:
    """Deduplicate, gate on the ontology and sort, so the same input always gives the same delta."""
    proposed: dict[tuple[str, str], ProposedType] = {}

    def propose(category: str, type_: str, example: str) -> None:
        k = (category, type_)
        if k in proposed:
            proposed[k] = proposed[k].model_copy(update={"count": proposed[k].count + 1})
        else:
            proposed[k] = ProposedType(category=category, type=type_, analyzer="", example=example[:200])

    merged: dict[str, Node] = {}
    for node in nodes:
        if not ontology.has_node(node.type):
            propose("node", node.type, node.id)
            continue
        prev = merged.get(node.id)
        if prev is None:
            merged[node.id] = node
        elif prev.props != node.props or (node.path and not prev.path):
            props = {**node.props, **{k: v for k, v in prev.props.items() if v not in ("", None, [], {})}}
            merged[node.id] = prev.model_copy(update={"props": props, "path": prev.path or node.path,
                                                      "span": prev.span or node.span})
    kept_edges: dict[tuple[str, str, str], Edge] = {}
    for edge in edges:
        if not ontology.allows_edge(edge.type, _type_of(edge.src), _type_of(edge.dst)):
            propose("edge", f"{edge.type}({_type_of(edge.src)}->{_type_of(edge.dst)})",
                    f"{edge.src} -> {edge.dst}")
            continue
        k = (edge.type, edge.src, edge.dst)
        prev_edge = kept_edges.get(k)
        if prev_edge is None or edge.confidence > prev_edge.confidence:
            kept_edges[k] = edge
    diags = sorted({d.to_json_line(): d for d in diagnostics}.values(),
                   key=lambda d: (d.path, d.line or 0, d.code, d.message))
    return GraphDelta(
        repo_id=repo_id, commit=commit, ontology_version=ontology.version, analyzers=analyzers,
        nodes=sorted(merged.values(), key=lambda n: n.id),
        edges=sorted(kept_edges.values(), key=lambda e: (e.type, e.src, e.dst)),
        diagnostics=diags,
        proposed=sorted(proposed.values(), key=lambda p: (p.category, p.type)),
    )


def stats_json(stats: RunStats) -> str:
    return json.dumps({**stats.__dict__, "by_analyzer": dict(stats.by_analyzer)}, sort_keys=True)
