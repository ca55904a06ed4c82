"""The analysis engine: files in, one ontology-checked ``GraphDelta`` out.

Per file, every analyzer that accepts it runs (a DAG file is both Python and Airflow), behind a
content-addressed cache keyed by blob sha, analyzer name and version and the few pieces of
context that change the result. Cross-file resolution always runs afterwards over all per-file
results, cached or fresh, which is what keeps reruns cheap without making links stale.

Everything that reads repository content runs in forked workers under hard limits (see
``limits.py``): each (file, analyzer) pair, its cache key, each analyzer's ``link`` and the
shared reference resolution. A pair that runs out of time, memory or output is recorded on its
file with the limit as the diagnostic code (``time_budget``, ``memory_budget``,
``output_budget``); a link step that fails is re-run without the input that breaks it. A
worker stores what it analysed in the cache; the parent only validates the bounded JSON the
workers send back and builds the delta.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from freshpoc_tasks.analysis.base import Analyzer
from freshpoc_tasks.analysis.limits import (
    OUTPUT_BUDGET,
    TASK_ERROR,
    Limits,
    Outcome,
    run_contained,
)
from freshpoc_tasks.analysis.linker import link_refs, unify_tables
from freshpoc_tasks.analysis.model import (
    AnalysisConfig,
    Budget,
    FileResult,
    LinkResult,
    Ref,
    RepoContext,
    SourceFile,
    decode_source,
    paused_gc,
)
from freshpoc_tasks.analysis.ontology import Ontology, load_ontology
from freshpoc_tasks.analysis.sqlcore import VERSION as SQLCORE_VERSION
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
        self._root = str(self.root)
        self._made: set[str] = set()  # folders this object has created (or found) already

    @staticmethod
    def key(file: SourceFile, analyzer: Analyzer, fingerprint: str) -> str:
        raw = "\0".join((file.blob_sha, analyzer.name, analyzer.version, f"sqlcore {SQLCORE_VERSION}",
                          file.path, fingerprint))
        return hashlib.sha256(raw.encode()).hexdigest()

    def _path(self, analyzer: Analyzer, key: str) -> Path:
        return Path(self._file(analyzer, key))

    def _file(self, analyzer: Analyzer, key: str) -> str:
        # Plain strings: pathlib's joins were a third of a cold run's cache-write time.
        return os.path.join(self._root, analyzer.name, analyzer.version, key[:2], f"{key}.json")

    def get(self, analyzer: Analyzer, key: str) -> FileResult | None:
        data = self.get_json(analyzer, key)
        return None if data is None else FileResult.model_validate_json(data)

    def get_json(self, analyzer: Analyzer, key: str, max_bytes: int | None = None,
                 validate: bool = True) -> bytes | None:
        """The stored JSON if present, valid and (when given) at most ``max_bytes`` long.

        ``validate=False`` leaves the parse to a caller that parses the bytes anyway (the
        engine's parent does, and re-analyses an entry that fails): parsing every hit twice was
        the largest cost of a fully cached run.
        """
        path = self._file(analyzer, key)
        try:
            with open(path, "rb") as fh:
                if max_bytes is not None and os.fstat(fh.fileno()).st_size > max_bytes:
                    return None
                data = fh.read()
            if validate:
                FileResult.model_validate_json(data)
        except (OSError, ValueError):
            return None
        return data

    def put(self, analyzer: Analyzer, key: str, result: FileResult) -> None:
        self.put_json(analyzer, key, result.model_dump_json().encode())

    def put_json(self, analyzer: Analyzer, key: str, data: bytes) -> None:
        """Store already-serialised (and already size-capped) JSON, atomically.

        The temporary name is unique per process and entry (``O_EXCL`` guards against a stale
        one), which costs one ``open`` instead of ``mkstemp``'s random probing; folders already
        made by this cache object are not made again. A cold run writes one entry per file, so
        these per-entry costs add up to seconds on a large repository.
        """
        path = self._file(analyzer, key)
        folder = os.path.dirname(path)
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        tmp = os.path.join(folder, f".{key}.{os.getpid()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileExistsError:  # left by a run killed mid-write with the same pid: start over
            os.unlink(tmp)
            fd = os.open(tmp, flags, 0o644)
        except FileNotFoundError:  # the folder was removed behind our back
            os.makedirs(folder, exist_ok=True)
            fd = os.open(tmp, flags, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)


@dataclass
class RunStats:
    files: int = 0
    analysed: int = 0
    cached: int = 0
    failed: int = 0
    by_analyzer: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # files (or link steps) stopped by a hard limit, by reason: time_budget, memory_budget...
    limited: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # per analyzer: results with an error diagnostic, and seconds of analysis measured in the
    # workers (a cached result costs 0 s; a pair killed at a limit is not measured)
    failed_by_analyzer: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds_by_analyzer: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def analyzer_figures(self) -> dict[str, dict[str, float]]:
        """``{analyzer: {"files": n, "failed": n, "seconds": s}}`` for the stage's metrics."""
        return {name: {"files": n, "failed": self.failed_by_analyzer.get(name, 0),
                       "seconds": round(self.seconds_by_analyzer.get(name, 0.0), 6)}
                for name, n in sorted(self.by_analyzer.items())}


ProgressFn = Callable[[int, int, str], None]

# Payload tags of a per-file task: not accepted, from the cache, analysed (cached if there is a
# key), or replaced by a budget diagnostic in the worker (never cached: a budget is not the
# file's fault, and may be raised).
_SKIP, _CACHED, _ANALYSED, _LIMITED = b"N", b"C", b"A", b"F"
_SECONDS = struct.Struct("<d")  # after the tag: the analysis time measured in the worker
_KEY_LEN = 64
_HEAD_LEN = 1 + _SECONDS.size + _KEY_LEN  # tag, seconds, key: what comes before a payload's JSON
LINK_ITEMS_PER_INPUT = 1_000
LINK_BYTES_PER_INPUT = 256 * 1024
MAX_LINK_PROBES = 40
MAX_LINK_CULPRITS = 3


def _grace(time_s: float) -> float:
    """How long past its budget a task may run before the kill: enough for the analyzer's own
    alarm to end it cleanly (and be cached as a timeout), short against the budget itself."""
    return min(2.0, max(0.2, time_s / 4))


def file_limits(config: AnalysisConfig) -> Limits:
    return Limits(time_s=config.time_budget_s, memory_mb=config.memory_budget_mb,
                  max_output_bytes=config.max_output_bytes, grace_s=_grace(config.time_budget_s))


def _budget_diag(path: str, analyzer: str, reason: str, message: str) -> Diagnostic:
    return Diagnostic(path=path, analyzer=analyzer, code=reason, message=message[:500])


def _cap(result: FileResult, max_items: int, what: str) -> FileResult:
    """Drop an output over the item cap whole: a silently truncated graph would look complete."""
    count = len(result.nodes) + len(result.edges) + len(result.refs) + len(result.diagnostics)
    if count <= max_items:
        return result
    capped = FileResult(path=result.path, analyzer=result.analyzer,
                        diagnostics=list(result.diagnostics[:100]))
    capped.diagnostics.append(_budget_diag(
        result.path, result.analyzer, OUTPUT_BUDGET,
        f"{what} produced {len(result.nodes)} nodes, {len(result.edges)} edges, {len(result.refs)} refs "
        f"and {len(result.diagnostics)} diagnostics, over the budget of {max_items}; output dropped"))
    return capped


def _to_json(result: FileResult) -> tuple[bytes, bool]:
    """Serialise in the worker, under its limits: shared or cyclic structures (YAML anchors) and
    values JSON cannot hold become a diagnostic here instead of blowing up a later writer."""
    try:
        return result.model_dump_json().encode(), True
    except (ValueError, TypeError) as exc:
        bad = FileResult(path=result.path, analyzer=result.analyzer, diagnostics=[_budget_diag(
            result.path, result.analyzer, "invalid_output",
            f"result cannot be serialised: {type(exc).__name__}: {str(exc)[:200]}")])
        return bad.model_dump_json().encode(), False


def _failed_result(path: str, analyzer: str, reason: str, message: str) -> FileResult:
    return FileResult(path=path, analyzer=analyzer,
                      diagnostics=[_budget_diag(path, analyzer, reason, message)])


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
    """Analyse one repository snapshot into a graph delta.

    Every (file, analyzer) pair and every cross-file step runs in a forked worker under the
    config's hard limits (:mod:`freshpoc_tasks.analysis.limits`); a pair that overruns a budget
    is recorded on its file with the budget as the diagnostic code, and the rest go on. The
    cache key (which may read project files) is computed in the worker too, and the worker
    stores the bytes it serialised under its limits. The collector is paused meanwhile
    (:func:`paused_gc`).
    """
    with paused_gc():
        return _analyse_repository(files, repo_id, commit, config, analyzers, cache, ontology, progress,
                                   stats)


def _analyse_repository(files: Iterable[SourceFile], repo_id: str, commit: str | None,
                        config: AnalysisConfig | None, analyzers: Sequence[Analyzer] | None,
                        cache: ResultCache | None, ontology: Ontology | None, progress: ProgressFn | None,
                        stats: RunStats | None) -> GraphDelta:
    ontology = ontology or load_ontology()
    analyzers = list(analyzers) if analyzers is not None else discover_analyzers()
    stats = stats if stats is not None else RunStats()
    cfg = config or AnalysisConfig()
    by_path = {f.path: f for f in files}
    ctx = RepoContext(repo_id=repo_id, files=by_path, config=cfg, commit=commit)
    paths = sorted(by_path)
    results = _analyse_files(paths, analyzers, ctx, cache, stats, progress)

    nodes: list[Node] = []
    edges: list[Edge] = []
    diagnostics: list[Diagnostic] = []
    refs = []
    for analyzer in analyzers:
        for r in results[analyzer.name]:
            nodes += r.nodes
            edges += r.edges
            refs += r.refs
            diagnostics += r.diagnostics
    for linked in _link_all(analyzers, results, ctx, stats):
        nodes += linked.nodes
        edges += linked.edges
        refs += linked.refs
        diagnostics += linked.diagnostics
    linked = _link_refs_contained(refs, results, nodes, ctx, stats)
    nodes += linked.nodes
    edges += linked.edges
    diagnostics += linked.diagnostics
    nodes, edges = unify_tables(nodes, edges, ctx)
    return build_delta(repo_id, commit, ontology, {a.name: a.version for a in analyzers}, nodes, edges,
                       diagnostics)


# A tiny repository of our own that touches every built-in analyzer's lazy set-up (SQL
# dialects, Jinja, the installed-distribution map...). Analysed once per process, inline, before
# the first fork, so workers inherit warm caches instead of each rebuilding them: that is most of
# a small repository's cost. Trusted constant content, so no limits are needed for it.
_WARM_UP = {
    "w/pkg/__init__.py": "import os\nimport yaml\nfrom .mod import f\n",
    "w/pkg/mod.py": "import json\n\nclass A:\n    def f(self):\n        return json.dumps({})\n\n"
                    "def f():\n    return A().f()\n",
    "w/etl/q.sql": "insert into s.t (a) select a from s.u where a > 1;\n",
    "w/dags/d.py": "from airflow import DAG\nfrom airflow.providers.common.sql.operators.sql import "
                   "SQLExecuteQueryOperator\n\nwith DAG('d', schedule=None):\n"
                   "    a = SQLExecuteQueryOperator(task_id='a', sql='select x from s.t')\n"
                   "    b = SQLExecuteQueryOperator(task_id='b', sql='select {{ ds }}')\n    a >> b\n",
    "w/dbt/dbt_project.yml": "name: w\nversion: '1.0'\nprofile: w\n",
    "w/dbt/profiles.yml": "w:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n",
    "w/dbt/macros/m.sql": "{% macro cents(c) %}({{ c }} / 100){% endmacro %}\n",
    "w/dbt/models/a.sql": "select id, {{ cents('amount') }} as amount from {{ source('raw', 'orders') }}\n",
    "w/dbt/models/b.sql": "{{ config(materialized='table') }}\nselect id from {{ ref('a') }}\n",
    "w/dbt/models/schema.yml": "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: orders\n"
                               "models:\n  - name: b\n    columns:\n      - name: id\n",
    "w/infra/Pulumi.yaml": "name: w\nruntime: python\n",
    "w/infra/__main__.py": "import pulumi\nimport pulumi_aws as aws\nb = aws.s3.Bucket('b')\n",
}
_warmed: set[str] = set()


def _warm_up(analyzers: list[Analyzer]) -> None:
    builtin = [a for a in analyzers if type(a).__module__.startswith("freshpoc_tasks.analysis.")
               and type(a).__name__ not in _warmed]
    if not builtin:
        return
    _warmed.update(type(a).__name__ for a in builtin)
    files = {p: SourceFile.from_text(p, t) for p, t in _WARM_UP.items()}
    ctx = RepoContext(repo_id="local/warm-up", files=files, config=AnalysisConfig(workers=0))
    try:
        # ``_analyze`` rather than ``analyze_file``: no interval timer in the caller's process
        # (it would cancel a timer the caller set, e.g. a test runner's timeout).
        results = {a.name: [a._analyze(f, decode_source(f.content), ctx, Budget(60.0))
                            for f in files.values() if a.accepts(f, ctx)]
                   for a in builtin}
        for a in builtin:
            a.link(results[a.name], ctx)
        link_refs([r for rs in results.values() for res in rs for r in res.refs], results, [], ctx)
    except Exception:  # a warm-up is an optimisation; never a reason to fail
        log.debug("analysis warm-up failed", exc_info=True)


def _analyse_files(paths: list[str], analyzers: list[Analyzer], ctx: RepoContext,
                   cache: ResultCache | None, stats: RunStats,
                   progress: ProgressFn | None) -> dict[str, list[FileResult]]:
    cfg = ctx.config
    if cfg.workers != 0:
        _warm_up(analyzers)
    units = _accepted_units(paths, analyzers, ctx)

    def task(unit: tuple[int, int]) -> bytes:  # runs in a worker
        file, analyzer = ctx.files[paths[unit[0]]], analyzers[unit[1]]
        if not analyzer.accepts(file, ctx):
            return _SKIP
        key = ""
        if cache is not None:
            try:
                # Node ids carry the repository's id, so results are cached per repository.
                key = cache.key(file, analyzer, f"{ctx.repo_id}\0{analyzer.context_fingerprint(file, ctx)}")
            except MemoryError:
                raise  # the worker's memory budget: reported as such
            except Exception:  # a bad project file (RecursionError too): analyse, just don't cache
                key = ""
            # Not validated here: the parent parses every payload anyway, and sends a cached
            # entry it cannot parse back here (``fresh``) to be analysed again.
            hit = (cache.get_json(analyzer, key, cfg.max_output_bytes, validate=False)
                   if key and unit not in fresh else None)
            if hit is not None:
                return _CACHED + _SECONDS.pack(0.0) + key.encode() + hit
        started = time.perf_counter()
        result = analyzer.analyze_file(file, ctx)
        capped = _cap(result, cfg.max_output_items, "analysis of this file")
        data, ok = _to_json(capped)
        own = ok and capped is result  # the analyzer's own result, not a budget's stand-in
        seconds = time.perf_counter() - started
        # Only what will be sent back (under the output budget) is stored.
        if own and cache is not None and key and _HEAD_LEN + len(data) <= cfg.max_output_bytes:
            # Stored here, by the worker that made it: the writes (a file each) run on every
            # worker at once, not one after another in the parent, where they were a third of
            # its time on a cold run. A cache that cannot be written is not the file's fault.
            try:
                cache.put_json(analyzer, key, data)
            except OSError:
                log.debug("could not store the cached result of %s", file.path, exc_info=True)
        return ((_ANALYSED if own else _LIMITED) + _SECONDS.pack(seconds)
                + key.encode().ljust(_KEY_LEN) + data)

    slots: dict[tuple[int, int], FileResult] = {}
    left = [0] * len(paths)
    for p, _a in units:
        left[p] += 1
    done_files = 0
    total_bytes = 0
    stats.files += len(paths)
    for p, n in enumerate(left):  # files no analyzer takes are done already
        if n == 0:
            done_files += 1
            if progress is not None:
                progress(done_files, len(paths), paths[p])
    fresh: set[tuple[int, int]] = set()  # pairs whose cache entry did not parse: analyse again

    def take(out: Outcome[tuple[int, int]]) -> bool:
        """Record one outcome; False for a cached entry that does not parse (retried fresh)."""
        nonlocal done_files, total_bytes
        p, a = out.item
        path, analyzer = paths[p], analyzers[a]
        result: FileResult | None = None
        if not out.ok:
            result = _failed_result(path, analyzer.name, out.reason or TASK_ERROR, out.message)
            stats.analysed += 1
            stats.limited[out.reason or TASK_ERROR] += 1
        elif out.payload != _SKIP:
            payload = out.payload or b""
            head = 1 + _SECONDS.size
            tag, body = payload[:1], payload[head + _KEY_LEN:]
            stats.seconds_by_analyzer[analyzer.name] += _SECONDS.unpack_from(payload, 1)[0]
            parsed: FileResult | None = None
            if tag == _CACHED:
                try:
                    parsed = FileResult.model_validate_json(body)
                except ValueError:
                    fresh.add((p, a))
                    return False
                stats.cached += 1
            else:
                stats.analysed += 1  # an analysed result was stored by its worker (``task``)
            total_bytes += len(body)
            if total_bytes > cfg.max_total_output_bytes:
                result = _failed_result(path, analyzer.name, OUTPUT_BUDGET,
                                        f"the repository's results passed the "
                                        f"{cfg.max_total_output_bytes // (1024 * 1024)} MiB budget")
                stats.limited[OUTPUT_BUDGET] += 1
            else:
                result = parsed or FileResult.model_validate_json(body)
                if tag == _LIMITED:
                    for d in result.diagnostics:
                        if d.code in (OUTPUT_BUDGET, "invalid_output"):
                            stats.limited[d.code] += 1
        if result is not None:
            if any(d.severity == "error" for d in result.diagnostics):
                stats.failed += 1
                stats.failed_by_analyzer[analyzer.name] += 1
            stats.by_analyzer[analyzer.name] += 1
            slots[(p, a)] = result
        left[p] -= 1
        if left[p] == 0:
            done_files += 1
            if progress is not None:
                progress(done_files, len(paths), path)
        return True

    todo = units
    while todo:  # a second round only when cache entries did not parse (a damaged cache)
        todo = [out.item for out in run_contained(task, todo, file_limits(cfg), workers=cfg.workers)
                if not take(out)]
    # Results in path order per analyzer, as a sequential run would give them to ``link``.
    return {analyzer.name: [slots[(p, a)] for p in range(len(paths)) if (p, a) in slots]
            for a, analyzer in enumerate(analyzers)}


ACCEPT_CHUNK = 64  # files per task of the pre-pass that asks every analyzer whether it takes them


def _accepted_units(paths: list[str], analyzers: list[Analyzer], ctx: RepoContext) -> list[tuple[int, int]]:
    """The (file, analyzer) pairs worth a task: those whose analyzer accepts the file.

    ``accepts`` reads file content (is this Python importing airflow? is there a dbt project
    around it?), so it is asked in workers under the same limits, a chunk of files per task:
    most pairs are refusals that take microseconds, and one message per pair cost more than
    the analysis on a large repository. A pair whose answer is unknown (its ``accepts``
    raised, or its chunk's worker hit a limit) stays in, so the per-pair task decides and
    records a failure on the same pair as it always did.
    """
    everything = [(p, a) for p in range(len(paths)) for a in range(len(analyzers))]
    if len(analyzers) <= 1 or not paths:
        return everything
    chunks = [range(i, min(i + ACCEPT_CHUNK, len(paths))) for i in range(0, len(paths), ACCEPT_CHUNK)]

    def task(chunk: range) -> bytes:  # runs in a worker: one byte per pair, b"0" / b"1"
        answers = bytearray()
        for p in chunk:
            file = ctx.files[paths[p]]
            for analyzer in analyzers:
                try:
                    answers += b"1" if analyzer.accepts(file, ctx) else b"0"
                except MemoryError:
                    raise  # the chunk's memory budget: all its pairs stay in
                except Exception:
                    answers += b"1"  # let the pair's own task meet (and record) the failure
        return bytes(answers)

    cfg = ctx.config
    limits = Limits(time_s=cfg.time_budget_s, memory_mb=cfg.memory_budget_mb, max_output_bytes=1024 * 1024,
                    grace_s=_grace(cfg.time_budget_s))
    keep = [True] * len(everything)
    for out in run_contained(task, chunks, limits, workers=cfg.workers):
        answers = out.payload or b""
        if not out.ok or len(answers) != len(out.item) * len(analyzers):
            continue
        first = out.item.start * len(analyzers)
        for j, answer in enumerate(answers):
            keep[first + j] = answer == ord("1")
    return [u for u, k in zip(everything, keep, strict=True) if k]


def _has_link(analyzer: Analyzer) -> bool:
    return getattr(type(analyzer), "link", None) is not Analyzer.link


def _link_limits(config: AnalysisConfig, inputs: int) -> Limits:
    time_s = config.time_budget_s + config.link_time_per_input_s * inputs
    memory_mb = config.memory_budget_mb + config.link_memory_per_input_kb * inputs // 1024
    return Limits(time_s=time_s, memory_mb=memory_mb, grace_s=_grace(time_s),
                  max_output_bytes=config.max_output_bytes + LINK_BYTES_PER_INPUT * inputs)


def _link_all(analyzers: list[Analyzer], results: dict[str, list[FileResult]], ctx: RepoContext,
              stats: RunStats) -> list[LinkResult]:
    """Every analyzer's ``link`` in workers, in parallel; a failing one is retried without the
    input that makes it fail (found by bisection) so one bad file costs only itself."""
    cfg = ctx.config
    steps = [(a, results[a.name]) for a in analyzers if _has_link(a)]
    if not steps:
        return []
    first = _run_links(steps, ctx, workers=cfg.workers)
    out: list[LinkResult] = []
    for (analyzer, own), outcome in zip(steps, first, strict=True):
        if isinstance(outcome, LinkResult):
            out.append(outcome)
            continue
        log.warning("link step of %s failed (%s); isolating the input that breaks it",
                    analyzer.name, outcome[1])
        out.append(_isolate(analyzer, own, outcome, ctx, stats))
    return out


_Failure = tuple[str, str]  # (reason, message)


def _run_links(steps: list[tuple[Analyzer, list[FileResult]]], ctx: RepoContext,
               workers: int | None) -> list[LinkResult | _Failure]:
    cfg = ctx.config

    def task(step: tuple[Analyzer, list[FileResult]]) -> bytes:  # runs in a worker
        analyzer, own = step
        linked = analyzer.link(own, ctx)
        as_result = FileResult(path="", analyzer=analyzer.name, nodes=linked.nodes, edges=linked.edges,
                               refs=linked.refs, diagnostics=linked.diagnostics)
        max_items = cfg.max_output_items + LINK_ITEMS_PER_INPUT * len(own)
        capped = _cap(as_result, max_items, f"the link step of {analyzer.name}")
        if capped is not as_result:
            raise _OutputOverBudget(capped.diagnostics[-1].message)
        data, ok = _to_json(capped)
        if not ok:
            raise _InvalidOutput(FileResult.model_validate_json(data).diagnostics[0].message)
        return data

    biggest = max(len(own) for _a, own in steps)
    limits = _link_limits(cfg, biggest)
    found: dict[int, LinkResult | _Failure] = {}
    for outcome in run_contained(task, steps, limits, workers=workers,
                                 time_for=lambda step: _link_limits(cfg, len(step[1])).time_s):
        if outcome.ok:
            r = FileResult.model_validate_json(outcome.payload or b"")
            found[outcome.index] = LinkResult(nodes=r.nodes, edges=r.edges, refs=r.refs,
                                              diagnostics=r.diagnostics)
        else:
            reason = outcome.reason or TASK_ERROR
            if reason == TASK_ERROR:  # the worker reports an exception by its class name
                for exc_type, code in _LINK_FAILURES:
                    if outcome.message.startswith(exc_type.__name__ + ":"):
                        reason = code
            found[outcome.index] = (reason, outcome.message)
    return [found[i] for i in range(len(steps))]


class _OutputOverBudget(Exception):
    """A link step's output passed its cap (raised in the worker, reported as output_budget)."""


class _InvalidOutput(Exception):
    """A link step's output cannot be serialised (raised in the worker, reported as such)."""


_LINK_FAILURES = ((_OutputOverBudget, OUTPUT_BUDGET), (_InvalidOutput, "invalid_output"))


def _isolate(analyzer: Analyzer, own: list[FileResult], failure: _Failure, ctx: RepoContext,
             stats: RunStats) -> LinkResult:
    """Find the inputs that make ``analyzer.link`` fail and link the rest.

    Bisection, assuming one input is at fault: probe each half; follow the half that fails.
    Found culprits are dropped (their per-file results stay in the graph) with a diagnostic on
    their file; if no single input is at fault, the step is recorded as failed as a whole.
    """
    probes = 0

    def probe(subset: list[FileResult]) -> LinkResult | _Failure:
        nonlocal probes
        probes += 1
        return _run_links([(analyzer, subset)], ctx, workers=0 if ctx.config.workers == 0 else 1)[0]

    def find_one(inputs: list[FileResult], why: _Failure) -> tuple[FileResult, _Failure] | None:
        while len(inputs) > 1 and probes < MAX_LINK_PROBES:
            half = len(inputs) // 2
            for part in (inputs[:half], inputs[half:]):
                got = probe(part)
                if not isinstance(got, LinkResult):
                    inputs, why = part, got
                    break
            else:
                return None  # each half links alone: the failure needs inputs together
        return (inputs[0], why) if len(inputs) == 1 else None

    remaining = list(own)
    culprits: list[tuple[FileResult, _Failure]] = []
    why = failure
    linked: LinkResult | None = None
    while len(culprits) < MAX_LINK_CULPRITS and probes < MAX_LINK_PROBES:
        bad = find_one(remaining, why)
        if bad is None:
            break
        culprits.append(bad)
        remaining = [r for r in remaining if r is not bad[0]]
        got = probe(remaining)
        if isinstance(got, LinkResult):
            linked = got
            break
        why = got
    diags = [_budget_diag(r.path, analyzer.name, reason,
                          f"left out of the {analyzer.name} link step: {message}")
             for r, (reason, message) in culprits]
    for _r, (reason, _m) in culprits:
        stats.limited[reason] += 1
    if linked is None:
        reason, message = failure
        stats.limited[reason] += 1
        diags.append(_budget_diag("", analyzer.name, reason,
                                  f"link step failed and no single input could be blamed: {message}"))
        return LinkResult(diagnostics=diags)
    linked.diagnostics.extend(diags)
    return linked


def _link_refs_contained(refs: list[Ref], results: dict[str, list[FileResult]], nodes: list[Node],
                         ctx: RepoContext, stats: RunStats) -> LinkResult:
    """The shared resolver of references across analyzers, under the same limits."""
    cfg = ctx.config

    inputs = sum(len(v) for v in results.values())

    def task(_item: int) -> bytes:  # runs in a worker
        linked = link_refs(refs, results, nodes, ctx)
        as_result = FileResult(path="", analyzer="linker", nodes=linked.nodes, edges=linked.edges,
                               diagnostics=linked.diagnostics)
        capped = _cap(as_result, cfg.max_output_items + LINK_ITEMS_PER_INPUT * inputs,
                      "cross-file reference resolution")
        return _to_json(capped)[0]

    limits = _link_limits(cfg, inputs)
    for outcome in run_contained(task, [0], limits, workers=1 if cfg.workers != 0 else 0):
        if outcome.ok:
            r = FileResult.model_validate_json(outcome.payload or b"")
            return LinkResult(nodes=r.nodes, edges=r.edges, diagnostics=r.diagnostics)
        reason = outcome.reason or TASK_ERROR
        stats.limited[reason] += 1
        return LinkResult(diagnostics=[_budget_diag("", "linker", reason,
                                                    f"cross-file reference resolution failed: "
                                                    f"{outcome.message}")])
    return LinkResult()


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
    # Asked once per (edge type, source type, target type): a repository has a few dozen of
    # them and hundreds of thousands of edges.
    allowed: dict[tuple[str, str, str], bool] = {}
    for edge in edges:
        kind = (edge.type, edge.src.partition(":")[0], edge.dst.partition(":")[0])  # ends' types
        ok = allowed.get(kind)
        if ok is None:
            ok = allowed[kind] = ontology.allows_edge(*kind)
        if not ok:
            propose("edge", f"{kind[0]}({kind[1]}->{kind[2]})", f"{edge.src} -> {edge.dst}")
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
    """The counts (not the measured seconds, which differ run to run) as JSON."""
    counts = {k: val for k, val in stats.__dict__.items() if k != "seconds_by_analyzer"}
    return json.dumps({**counts, "by_analyzer": dict(stats.by_analyzer)}, sort_keys=True)
