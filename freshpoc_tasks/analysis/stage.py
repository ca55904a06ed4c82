"""The analysis stage end to end: one repository at one commit to one JSONL stage file.

Shared by ``freshpoc analyse``-style callers and the Airflow operator: plain values in, a small
:class:`AnalyseResult` out (its counts go into the stage's event), the delta itself on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from freshpoc_tasks.analysis.engine import ResultCache, RunStats, analyse_repository, discover_analyzers
from freshpoc_tasks.analysis.gitsource import iter_source_files
from freshpoc_tasks.analysis.model import AnalysisConfig
from freshpoc_tasks.analysis.ontology import load_ontology
from freshpoc_tasks.contracts.base import canonical_json, write_jsonl
from freshpoc_tasks.contracts.graph import Diagnostic, Edge, GraphDelta, Node, ProposedType

if TYPE_CHECKING:
    from freshpoc_tasks.mining.access import Repository

log = logging.getLogger(__name__)
STAGE_FILE = "analysis.jsonl.gz"


@dataclass
class AnalyseResult:
    repo_id: str
    commit: str
    artifact: Path
    counts: dict[str, int] = field(default_factory=dict)
    # {analyzer: {"files": n, "failed": n, "seconds": s}}: the stage's per-analyzer metrics
    # (seconds measured in the workers; cached results count 0 s). Not part of the delta.
    by_analyzer: dict[str, dict[str, float]] = field(default_factory=dict)


def versions() -> dict[str, str]:
    """Analyzer, shared-core and ontology versions: the fingerprint that decides reprocessing."""
    from freshpoc_tasks.analysis.sqlcore import VERSION as SQLCORE_VERSION

    found = {f"analyzer:{a.name}": a.version for a in discover_analyzers()}
    return {**found, "core:sqlcore": SQLCORE_VERSION, "ontology": load_ontology().version}


def analyse_commit(repo: Repository, commit: str, out_dir: str | Path, *,
                   result_cache: str | Path | None = None, config: AnalysisConfig | None = None,
                   repo_id: str | None = None,
                   progress: Callable[[int, int, str], None] | None = None) -> AnalyseResult:
    """Analyse ``commit`` of an opened repository into ``out_dir/analysis.jsonl.gz``.

    ``repo_id`` overrides the repository's own id, for a mirror restored from a snapshot.
    """
    stats = RunStats()
    delta, counts = analyse_delta(repo, commit, result_cache=result_cache, config=config, repo_id=repo_id,
                                  progress=progress, stats=stats)
    return AnalyseResult(repo_id=delta.repo_id, commit=commit, artifact=write_stage(delta, out_dir),
                         counts=counts, by_analyzer=stats.analyzer_figures())


def analyse_delta(repo: Repository, commit: str, *, result_cache: str | Path | None = None,
                  config: AnalysisConfig | None = None, repo_id: str | None = None,
                  progress: Callable[[int, int, str], None] | None = None,
                  stats: RunStats | None = None) -> tuple[GraphDelta, dict[str, int]]:
    """The analysis of :func:`analyse_commit` without writing it: (delta, counts); ``stats``
    (when given) receives the engine's run statistics.

    For a caller that uses the delta right away and writes the stage file off its critical path
    (``freshpoc report`` hands the delta over first and writes the file after).
    """
    repo_id = repo_id or repo.repo_id
    stats = stats if stats is not None else RunStats()
    files = list(iter_source_files(repo, commit))
    delta = analyse_repository(files, repo_id, commit=commit, config=config,
                               cache=ResultCache(result_cache) if result_cache else None,
                               progress=progress, stats=stats)
    # "limited": (file, analyzer) pairs and link steps stopped by a hard limit (time, memory,
    # output); each also sits in the delta as a diagnostic naming the limit.
    counts = {**delta.counts(), "files": stats.files, "analysed": stats.analysed,
              "cached": stats.cached, "failed": stats.failed, "limited": sum(stats.limited.values())}
    return delta, counts


def write_stage(delta: GraphDelta, out_dir: str | Path) -> Path:
    """``out_dir/analysis.jsonl.gz`` (whole or not at all: :func:`write_jsonl`)."""
    out = Path(out_dir) / STAGE_FILE
    write_jsonl(out, _encoded_records(delta))
    return out


class _Encoded:
    """A record already in its line form: all :func:`write_jsonl` asks of a record."""

    __slots__ = ("line",)

    def __init__(self, line: str) -> None:
        self.line = line

    def to_json_line(self) -> str:
        return self.line


_CHUNK = 4096


@cache
def _list_adapter(model: type) -> TypeAdapter[Any]:
    """A serializer for lists of ``model``, built once per process (a schema build per stage
    write would cost more than a small repository's lines)."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _encoded_records(delta: GraphDelta) -> Iterator[Any]:
    """``delta.iter_records()`` as the lines ``Contract.to_json_line`` gives, made in bulk.

    Each kind's records are dumped a chunk at a time by one serializer call, and every line is
    encoded by the process's one canonical encoder (``contracts.base.canonical_json``): a dump
    and a fresh encoder per record took twice as long on the 208k records of a 10,000-file
    repository. Same bytes (sorted keys, compact, kind and
    schema version in the object), checked against ``to_json_line`` by the tests.
    """
    yield delta.header()
    for model, records in ((Node, delta.nodes), (Edge, delta.edges), (Diagnostic, delta.diagnostics),
                           (ProposedType, delta.proposed)):
        adapter = _list_adapter(model)
        head = {"kind": model.KIND, "schema_version": model.SCHEMA_VERSION}
        for start in range(0, len(records), _CHUNK):
            for body in adapter.dump_python(records[start:start + _CHUNK], mode="json"):
                yield _Encoded(canonical_json({**head, **body}))
