"""Records produced by the mining stage (``mine.jsonl.gz``).

One stage file holds, in order: a :class:`RepoSnapshot`, the inventory (:class:`FileRecord`),
the commit stream (:class:`CommitRecord`), then the aggregates (:class:`FileHistory`,
:class:`AuthorContribution`, :class:`FolderStats`, :class:`Hotspot`, :class:`CoChange`,
:class:`Coupling`).  ``AuthorContribution`` and ``CoChange`` are the raw sums every derived
metric is computed from; a later incremental run reads them back and adds the new commits.

Paths are repository-relative with ``/`` separators.  Bytes that are not UTF-8 are shown as
``\\xNN`` escapes and the record says so (``path_is_utf8``), so a record is always valid JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from freshpoc_tasks.contracts.base import Contract

SkipReason = Literal["symlink", "submodule", "too_large", "binary", "not_utf8"]
ChangeType = Literal["A", "M", "D", "R", "C", "T", "U", "X"]


class MiningOptions(Contract):
    """Choices that change the numbers; recorded so an incremental run can refuse a mismatch.

    ``merges``: ``exclude`` (default, as code-maat's ``git log --no-merges``) drops merge
    commits; ``include`` keeps them in the commit stream without file changes (git's default:
    a merge has no diff of its own); ``first_parent`` walks the main line only and diffs each
    merge against its first parent, so a merged branch counts as one change.
    ``bots``: ``exclude`` (default) keeps bot commits in the commit stream, flagged, but out of
    every aggregate; ``include`` counts them like people.  A bot is an author whose name or
    e-mail matches one of ``bot_patterns`` (case-insensitive regular expressions).
    Coupling follows code-maat: change sets larger than ``max_changeset_size`` are ignored
    for coupling, and pairs are reported when the average revisions of the two files is at
    least ``min_revisions``, they changed together at least ``min_shared_revisions`` times and
    the degree is between ``min_coupling`` and ``max_coupling`` percent.
    """

    KIND = "mining_options"

    merges: Literal["exclude", "include", "first_parent"] = "exclude"
    bots: Literal["exclude", "include"] = "exclude"
    bot_patterns: tuple[str, ...] = (
        r"\[bot\]",
        r"^dependabot",
        r"^renovate",
        r"^github-actions",
        r"^snyk-bot",
        r"^greenkeeper",
        r"noreply@dependabot\.com",
    )
    detect_renames: bool = True
    max_changeset_size: int = Field(30, ge=2)
    min_revisions: int = Field(5, ge=1)
    min_shared_revisions: int = Field(5, ge=1)
    min_coupling: float = Field(30.0, ge=0, le=100)
    max_coupling: float = Field(100.0, ge=0, le=100)

    def aggregate_key(self) -> tuple[object, ...]:
        """Options that shape the stored sums; the coupling thresholds only filter output."""
        return (self.merges, self.bots, self.bot_patterns, self.detect_renames, self.max_changeset_size)


class RepoSnapshot(Contract):
    KIND = "repo_snapshot"

    repo_id: str
    location: str  # as validated; never carries a credential
    commit: str
    ref: str | None = None
    as_of: datetime | None = None
    committed_at: datetime
    mined_at: datetime
    base_commit: str | None = None  # set on an incremental run: aggregates include history up to it
    mailmap_blob: str | None = None
    options: MiningOptions
    tool_version: str


class FileRecord(Contract):
    KIND = "file"

    path: str
    path_is_utf8: bool = True
    blob_sha: str
    size: int
    mode: str
    is_symlink: bool = False
    symlink_target: str | None = None  # recorded as text, never followed
    language: str | None = None
    is_binary: bool = False
    is_generated: bool = False
    is_vendored: bool = False
    skipped_reason: SkipReason | None = None
    lines_code: int = 0
    lines_comment: int = 0
    lines_blank: int = 0


class FileChange(Contract):
    KIND = "file_change"

    path: str
    old_path: str | None = None  # rename/copy source
    change_type: ChangeType
    added: int = 0
    deleted: int = 0
    is_binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None


class CommitRecord(Contract):
    KIND = "commit"

    sha: str
    parents: list[str]
    author_name: str
    author_email: str  # after .mailmap, lower-cased
    authored_at: datetime
    committer_name: str
    committer_email: str
    committed_at: datetime
    summary: str
    is_merge: bool = False
    is_bot: bool = False
    changes: list[FileChange] = Field(default_factory=list)


class FileHistory(Contract):
    """Per-file behaviour over history, keyed by the file's latest path (renames followed)."""

    KIND = "file_history"

    path: str
    exists: bool  # False when the newest change deleted it
    revisions: int
    added: int
    deleted: int
    churn: int
    authors: int
    main_author: str | None
    main_author_share: float  # of added lines (of revisions when no lines were added)
    bus_factor: int
    first_commit: str
    first_changed_at: datetime
    last_commit: str
    last_changed_at: datetime
    age_days: float  # from the last change to the mined commit's date
    coupling_revisions: int  # revisions in change sets small enough to count for coupling


class AuthorContribution(Contract):
    """Raw per-file, per-author sums: the state an incremental run resumes from."""

    KIND = "author_contribution"

    path: str
    author_email: str
    author_name: str
    revisions: int
    added: int
    deleted: int


class FolderStats(Contract):
    KIND = "folder_stats"

    folder: str  # "" is the repository root
    files: int
    revisions: int
    added: int
    deleted: int
    authors: int
    main_author: str | None
    main_author_share: float
    bus_factor: int


class Hotspot(Contract):
    KIND = "hotspot"

    path: str
    revisions: int
    lines_code: int
    score: int  # revisions x lines of code
    rank: int


class CoChange(Contract):
    """Raw count of commits changing both files (within the change-set size cap)."""

    KIND = "co_change"

    path_a: str
    path_b: str
    shared_revisions: int


class Coupling(Contract):
    KIND = "coupling"

    path_a: str
    path_b: str
    shared_revisions: int
    average_revisions: float
    degree: float  # percent


MINING_RECORDS: dict[str, type[Contract]] = {
    m.KIND: m
    for m in (
        RepoSnapshot,
        FileRecord,
        CommitRecord,
        FileHistory,
        AuthorContribution,
        FolderStats,
        Hotspot,
        CoChange,
        Coupling,
    )
}
