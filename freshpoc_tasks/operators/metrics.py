"""FreshPoC's own metrics, sent through Airflow's ``Stats`` from the operators.

Every metric the pipeline emits is named and tagged here and nowhere else, so the statsd_exporter
mapping (``include/monitoring/statsd_mapping.yml``), the recording and alerting rules and the
dashboards have one list to agree with (:data:`CATALOGUE`). The operators pass the counts the
pure core already returns (``MineResult.counts``, ``AnalyseResult``, ``WriteResult``, the embed
counts); nothing here reads a server or an artifact.

How the values travel: Airflow's statsd logger sends ``airflow.<name>``; with
``[metrics] statsd_influxdb_enabled`` (set by the local stack and compose) the tags ride along as
InfluxDB-style ``,key=value`` pairs, which statsd_exporter turns into Prometheus labels. Tag
values are reduced to the characters Airflow's name validator accepts (``A-Za-z0-9_.-/``) and a
bounded length, since an invalid name makes Airflow drop the whole sample. Airflow's ``Stats``
has no histogram call: distributions of counts (nodes per input file) are sent as timers whose
value is the count, and the mapping multiplies them back by 1000 (``scale``), which undoes the
exporter's millisecond-to-second conversion exactly for the integers involved.

Emission never fails a task: a metric that cannot be sent is logged and dropped.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from airflow.sdk.observability.stats import Stats

log = logging.getLogger(__name__)

PREFIX = "freshpoc"
MAX_TAG_LENGTH = 96
# Per-file observations are many small UDP datagrams; pausing briefly every batch keeps the
# kernel's receive buffer of statsd_exporter from overflowing (a lost datagram is a lost sample).
BURST = 200
BURST_PAUSE_S = 0.002

CHANGES = ("created", "updated", "closed")
EMBED_OUTCOMES = ("embedded", "unchanged", "deleted")
ANALYSIS_OUTCOMES = ("analysed", "cached", "failed", "limited")

# statsd name (after Airflow's ``airflow.`` prefix) -> (kind, tag names). Kinds: counter, timer
# (seconds), distribution (a count per item, sent as a timer and scaled back by the mapping).
CATALOGUE: dict[str, tuple[str, tuple[str, ...]]] = {
    f"{PREFIX}.stage.duration": ("timer", ("repo", "stage")),
    f"{PREFIX}.mine.files_mined": ("counter", ("repo",)),
    f"{PREFIX}.mine.files_skipped": ("counter", ("repo", "reason")),
    f"{PREFIX}.mine.commits": ("counter", ("repo",)),
    f"{PREFIX}.analysis.results": ("counter", ("repo", "outcome")),
    f"{PREFIX}.analysis.files": ("counter", ("repo", "analyzer")),
    f"{PREFIX}.analysis.parse_failures": ("counter", ("repo", "analyzer")),
    f"{PREFIX}.analysis.duration": ("timer", ("repo", "analyzer")),
    f"{PREFIX}.graph.nodes": ("counter", ("repo", "change")),
    f"{PREFIX}.graph.edges": ("counter", ("repo", "change")),
    f"{PREFIX}.graph.file_nodes": ("distribution", ("repo", "language")),
    f"{PREFIX}.graph.file_edges": ("distribution", ("repo", "language")),
    f"{PREFIX}.graph.writer_retries": ("counter", ("repo",)),
    f"{PREFIX}.graph.transactions": ("counter", ("repo",)),
    f"{PREFIX}.graph.phase_duration": ("timer", ("repo", "phase")),
    f"{PREFIX}.events.produced": ("counter", ("repo", "stage", "topic")),
    f"{PREFIX}.dlq.messages": ("counter", ("stage", "reason")),
    f"{PREFIX}.embed.chunks": ("counter", ("repo", "outcome")),
    f"{PREFIX}.report.build_duration": ("timer", ("repo",)),
}

_UNSAFE = re.compile(r"[^A-Za-z0-9_./-]")
F = TypeVar("F", bound=Callable[..., Any])


def tag_value(value: Any) -> str:
    """A tag value Airflow's validator and the InfluxDB tag syntax both accept."""
    text = _UNSAFE.sub("_", str(value if value is not None else "none"))[:MAX_TAG_LENGTH]
    return text or "none"


def reason_of(exc: BaseException | str) -> str:
    """A bounded DLQ reason label: the exception's class, never its message (which holds URLs,
    paths and free text: a new label value per failure)."""
    if isinstance(exc, BaseException):
        return type(exc).__name__
    head = str(exc).split(":", 1)[0].strip()
    return head if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", head or "-") else "other"


def _tags(name: str, **tags: Any) -> dict[str, str]:
    expected = CATALOGUE[name][1]
    if set(tags) != set(expected):  # a programming error, caught by the unit tests
        raise ValueError(f"{name} takes tags {expected}, got {sorted(tags)}")
    return {k: tag_value(v) for k, v in tags.items()}


def _count(name: str, n: float, **tags: Any) -> None:
    # Zero is sent too: the series then exists from the first run on, so a panel or a ratio
    # shows 0 instead of "no data".
    Stats.incr(name, count=int(n), tags=_tags(name, **tags))


def _seconds(name: str, seconds: float, **tags: Any) -> None:
    Stats.timing(name, timedelta(seconds=max(0.0, float(seconds))), tags=_tags(name, **tags))


def _distribution(name: str, values: Iterable[tuple[float, dict[str, Any]]]) -> int:
    sent = 0
    for value, tags in values:
        Stats.timing(name, float(value), tags=_tags(name, **tags))
        sent += 1
        if sent % BURST == 0:
            time.sleep(BURST_PAUSE_S)
    return sent


def never_raises(fn: F) -> F:
    """Metrics are best effort: a broken metric must not fail the stage that did the work."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:
            log.warning("metrics: %s failed", fn.__name__, exc_info=True)
            return None

    return wrapper  # type: ignore[return-value]


class StageTimer:
    """Wall time of a stage's work, from construction: ``StageTimer()`` first in ``execute``."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.start


# Per stage -----------------------------------------------------------------------------------
@never_raises
def stage_done(repo: str, stage: str, seconds: float) -> None:
    _seconds(f"{PREFIX}.stage.duration", seconds, repo=repo, stage=stage)


@never_raises
def emit_mine(repo: str, seconds: float, counts: Mapping[str, int],
              skipped_by_reason: Mapping[str, int] | None = None) -> None:
    """Files mined, files skipped by reason, commits walked. ``skipped_by_reason`` comes from the
    inventory records; without it the skipped files are counted under reason ``unknown``."""
    stage_done(repo, "mine", seconds)
    files, skipped = int(counts.get("files", 0)), int(counts.get("files_skipped", 0))
    _count(f"{PREFIX}.mine.files_mined", files - skipped, repo=repo)
    by_reason = dict(skipped_by_reason or {})
    rest = skipped - sum(by_reason.values())
    if rest > 0:
        by_reason["unknown"] = by_reason.get("unknown", 0) + rest
    for reason, n in sorted(by_reason.items()):
        _count(f"{PREFIX}.mine.files_skipped", n, repo=repo, reason=reason)
    _count(f"{PREFIX}.mine.commits", counts.get("commits", 0), repo=repo)


@never_raises
def emit_analyse(repo: str, seconds: float, counts: Mapping[str, int],
                 by_analyzer: Mapping[str, Mapping[str, float]] | None = None) -> None:
    """(file, analyzer) results by outcome, and per analyzer: files, parse failures, seconds.

    ``by_analyzer`` is ``{name: {"files": n, "failed": n, "seconds": s}}`` when the core gives it.
    """
    stage_done(repo, "analyse", seconds)
    for outcome in ANALYSIS_OUTCOMES:
        _count(f"{PREFIX}.analysis.results", counts.get(outcome, 0), repo=repo, outcome=outcome)
    for analyzer, figures in sorted((by_analyzer or {}).items()):
        _count(f"{PREFIX}.analysis.files", figures.get("files", 0), repo=repo, analyzer=analyzer)
        _count(f"{PREFIX}.analysis.parse_failures", figures.get("failed", 0), repo=repo,
               analyzer=analyzer)
        if "seconds" in figures:
            _seconds(f"{PREFIX}.analysis.duration", figures["seconds"], repo=repo, analyzer=analyzer)


def _per_file(counts_by_file: Mapping[str, Mapping[str, int]], kind: str,
              languages: Mapping[str, str | None], repo: str) -> Iterable[tuple[int, dict[str, Any]]]:
    for path, figures in sorted(counts_by_file.items()):
        if not path:  # nodes with no input file (commits, people, packages): totals only
            continue
        yield (sum(int(figures.get(f"{kind}_{c}", 0)) for c in CHANGES),
               {"repo": repo, "language": languages.get(path) or "other"})


@never_raises
def emit_graph(repo: str, seconds: float, counts: Mapping[str, int],
               counts_by_file: Mapping[str, Mapping[str, int]] | None = None,
               languages: Mapping[str, str | None] | None = None, retries: int = 0,
               transactions: int = 0, timings: Mapping[str, float] | None = None) -> int:
    """Nodes and edges created/updated/closed (the counts the ``graph.applied`` event carries),
    per input file as a distribution by language, writer retries and phase timings.

    Returns how many per-file samples were sent."""
    stage_done(repo, "write_graph", seconds)
    for kind in ("nodes", "edges"):
        for change in CHANGES:
            _count(f"{PREFIX}.graph.{kind}", counts.get(f"{kind}_{change}", 0), repo=repo, change=change)
    _count(f"{PREFIX}.graph.writer_retries", retries, repo=repo)
    _count(f"{PREFIX}.graph.transactions", transactions, repo=repo)
    for phase, secs in sorted((timings or {}).items()):
        _seconds(f"{PREFIX}.graph.phase_duration", secs, repo=repo, phase=phase.removesuffix("_s"))
    sent = 0
    if counts_by_file:
        langs = languages or {}
        for kind in ("nodes", "edges"):
            sent += _distribution(f"{PREFIX}.graph.file_{kind}",
                                  _per_file(counts_by_file, kind, langs, repo))
    return sent


@never_raises
def emit_embed(repo: str, counts: Mapping[str, int], seconds: float | None = None) -> None:
    """Chunks embedded (new or changed content) against unchanged ones, and deletions."""
    if seconds is not None:
        stage_done(repo, "embed", seconds)
    for outcome in EMBED_OUTCOMES:
        _count(f"{PREFIX}.embed.chunks", counts.get(outcome, 0), repo=repo, outcome=outcome)


@never_raises
def emit_report(repo: str, seconds: float, build_seconds: float) -> None:
    stage_done(repo, "report", seconds)
    _seconds(f"{PREFIX}.report.build_duration", build_seconds, repo=repo)


@never_raises
def event_produced(repo: str, stage: str, topic: str) -> None:
    _count(f"{PREFIX}.events.produced", 1, repo=repo, stage=stage, topic=topic)


@never_raises
def dead_lettered(stage: str, reason: BaseException | str) -> None:
    _count(f"{PREFIX}.dlq.messages", 1, stage=stage, reason=reason_of(reason))


def language_by_path(nodes: Iterable[Any]) -> dict[str, str | None]:
    """``path -> language`` from a delta's file nodes (the mining delta sets ``language``)."""
    return {n.path: n.props.get("language") for n in nodes if n.type == "file" and n.path}
