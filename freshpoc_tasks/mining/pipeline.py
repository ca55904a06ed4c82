"""The mining stage end to end: one repository at one commit to one JSONL stage file.

Used by ``freshpoc mine`` and by the Airflow operator: both pass plain values and get back a
small :class:`MineResult` (the counts go into the stage's event), never the records themselves.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

from freshpoc_tasks import __version__
from freshpoc_tasks.contracts.base import Contract, write_jsonl
from freshpoc_tasks.contracts.mining import (
    AuthorContribution,
    CoChange,
    FileHistory,
    MiningOptions,
    RepoSnapshot,
)
from freshpoc_tasks.mining._git import printable
from freshpoc_tasks.mining.access import Credentials, Repository, open_repository
from freshpoc_tasks.mining.history import HistoryAggregates, HistoryMiner, split_across
from freshpoc_tasks.mining.inventory import DEFAULT_MAX_BYTES, iter_inventory

log = logging.getLogger(__name__)

STAGE_FILE = "mine.jsonl.gz"


@dataclass
class MineResult:
    repo_id: str
    commit: str
    artifact: Path
    base_commit: str | None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Previous:
    snapshot: RepoSnapshot
    aggregates: HistoryAggregates


def load_previous(path: str | Path) -> _Previous:
    """The snapshot and aggregate state of an earlier stage file (other records are skipped)."""
    snapshot: RepoSnapshot | None = None

    wanted = {m.KIND: m for m in (RepoSnapshot, FileHistory, AuthorContribution, CoChange)}

    def state() -> Iterator[Contract]:
        nonlocal snapshot
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                obj = json.loads(line) if line.strip() else {}
                model = wanted.get(obj.get("kind", ""))
                if model is None:
                    continue  # inventory and commits: not needed to resume, not validated
                rec = model.from_json_obj(obj)
                if isinstance(rec, RepoSnapshot):
                    snapshot = rec
                else:
                    yield rec

    aggregates = HistoryAggregates.from_records(state())
    if snapshot is None:
        raise ValueError(f"{path} has no repo_snapshot record")
    return _Previous(snapshot, aggregates)


def _usable_previous(
    previous: _Previous, repo: Repository, head: str, options: MiningOptions
) -> tuple[str | None, str]:
    """(base commit, reason) — base is None when a full run is needed, with the reason why."""
    snap = previous.snapshot
    if snap.repo_id != repo.repo_id:
        return None, f"earlier run is for {snap.repo_id}"
    if snap.options.aggregate_key() != options.aggregate_key():
        return None, "mining options changed"
    if snap.mailmap_blob != repo.mailmap_blob(head):
        return None, ".mailmap changed, so identities may have changed"
    try:
        repo.resolve(snap.commit)
    except LookupError:
        return None, f"earlier commit {snap.commit[:12]} is no longer in the repository"
    if not repo.is_ancestor(snap.commit, head):
        return None, f"earlier commit {snap.commit[:12]} is not an ancestor (history rewritten?)"
    split = split_across(repo, snap.commit, head, options)
    if split:
        return None, split
    return snap.commit, "incremental"


def mine_repository(
    location: str,
    out_dir: str | Path,
    *,
    cache_dir: str | Path,
    ref: str | None = None,
    as_of: datetime | None = None,
    credentials: Credentials | None = None,
    options: MiningOptions | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    previous: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 1000,
    fetch: bool = True,
    keep: list[Contract] | None = None,
    write: bool = True,
) -> MineResult:
    """Mine ``location`` at ``ref`` (or the commit current at ``as_of``) into ``out_dir``.

    With ``previous`` (an earlier ``mine.jsonl.gz`` of the same repository) only the commits
    after its commit are read and its aggregates are carried over; when that is not sound
    (options or ``.mailmap`` changed, history rewritten) a full run is made and logged.
    The commit stream in the output holds only the commits read by this run.

    ``keep``, when given, receives every record as it is written, for a caller that needs them
    right away (``freshpoc report``): reading the stage file back costs a JSON parse and a
    model validation per record, seconds on a long history.

    ``write=False`` (only with ``keep``) leaves the stage file to the caller
    (:func:`write_stage`, e.g. from a background process): encoding and compressing every
    record was a third of mining flask's history, and a caller holding the records need not
    wait for it. ``artifact`` is then where :func:`write_stage` will put it.
    """
    if not write and keep is None:
        raise ValueError("write=False needs keep: the records would be lost")
    options = options or MiningOptions()
    repo = open_repository(location, cache_dir, credentials, fetch=fetch)
    head = repo.resolve(ref or "HEAD") if as_of is None else repo.resolve_as_of(as_of, ref or "HEAD")
    committed_at = repo.commit_time(head)

    base: str | None = None
    prior: HistoryAggregates | None = None
    if previous is not None:
        loaded = load_previous(previous)
        base, reason = _usable_previous(loaded, repo, head, options)
        if base is None:
            log.warning("full run instead of incremental: %s", reason)
        else:
            prior = loaded.aggregates

    snapshot = RepoSnapshot(
        repo_id=repo.repo_id,
        location=repo.location,
        commit=head,
        ref=ref,
        as_of=as_of,
        committed_at=committed_at,
        mined_at=datetime.now(UTC),
        base_commit=base,
        mailmap_blob=repo.mailmap_blob(head),
        options=options,
        tool_version=__version__,
    )
    counts: dict[str, int] = dict.fromkeys(
        ("files", "files_skipped", "gitattr_skipped", "commits", "dates_clamped", "splits",
         "file_histories", "folders", "hotspots", "couplings"), 0,
    )  # fmt: skip
    lines_code: dict[str, int] = {}

    notes: list[str] = []

    def files() -> Iterator[Contract]:
        for rec in iter_inventory(repo, head, max_bytes=max_bytes, notes=notes):
            counts["files"] += 1
            if rec.skipped_reason is not None:
                counts["files_skipped"] += 1
            lines_code[rec.path] = rec.lines_code
            yield rec
        counts["gitattr_skipped"] = len(notes)
        for note in notes[:20]:
            log.warning("%s", printable(note))
        if len(notes) > 20:
            log.warning("... and %d more gitattributes rules skipped", len(notes) - 20)

    miner = HistoryMiner(repo, head, options, base=base, previous=prior)

    def commits() -> Iterator[Contract]:
        for rec in miner.commits():
            counts["commits"] += 1
            if progress is not None and counts["commits"] % progress_every == 0:
                progress(counts["commits"])
            yield rec

    def aggregates() -> Iterator[Contract]:
        agg = miner.aggregates
        counts["dates_clamped"] = miner.dates_clamped
        counts["splits"] = miner.splits
        agg.mark_present(lines_code)
        for rec in agg.state_records(committed_at):
            if isinstance(rec, FileHistory):
                counts["file_histories"] += 1
            yield rec
        for folder in agg.folder_stats():
            counts["folders"] += 1
            yield folder
        for hot in agg.hotspots(lines_code):
            counts["hotspots"] += 1
            yield hot
        for coupling in agg.couplings(options):
            counts["couplings"] += 1
            yield coupling

    records: Iterable[Contract] = chain([snapshot], files(), commits(), aggregates())
    if keep is not None:
        records = _kept(records, keep)
    if write:
        out = write_stage(records, out_dir)
    else:
        out = Path(out_dir) / STAGE_FILE
        for _ in records:  # into ``keep``
            pass
    if progress is not None and counts["commits"] % progress_every:
        progress(counts["commits"])  # the final count, unless just reported
    return MineResult(repo_id=repo.repo_id, commit=head, artifact=out, base_commit=base, counts=counts)


def write_stage(records: Iterable[Contract], out_dir: str | Path) -> Path:
    """``out_dir/mine.jsonl.gz`` (whole or not at all: :func:`write_jsonl`)."""
    out = Path(out_dir) / STAGE_FILE
    write_jsonl(out, records)
    return out


def _kept(records: Iterable[Contract], into: list[Contract]) -> Iterator[Contract]:
    for rec in records:
        into.append(rec)
        yield rec
