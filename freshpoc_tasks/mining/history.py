"""Git history in one streamed ``git log`` pass: the commit stream and behavioural aggregates.

Why one pass: tools that start a git process per commit (PyDriller) spend most of their time
in process start-up.  Here git computes every diff in a single process and we parse its NUL
separated output as it arrives, so the cost is close to git's own.

Renames (``MiningOptions.detect_renames``, ``freshpoc mine --renames follow|off``) are
followed by walking history newest first: when a commit renames ``old`` to ``new``, every older
change of ``old`` is credited to the file's latest name.  In a branchy history, edits of ``old``
made on another branch after the rename keep their own name (git's ``--follow`` has the same
limit).  A *split* is not followed: when ``old`` is added again by the renaming commit itself or
by a child of it (flask 2023: ``src/flask/app.py`` moved to ``src/flask/sansio/app.py``, and the
next commit adds a new ``src/flask/app.py``), git reports a rename, but the file people keep
working on is the one at the old path; so ``old`` keeps its past and ``new`` starts at the
rename.  With ``--renames off`` every path keeps exactly its own changes, as
``git log --numstat --no-renames`` counts them.

Commit dates git cannot give as a sane number (an ident without a date, year 33658, a
timestamp past 64 bits) are clamped into 1970..9999 and counted, never fatal.

Every aggregate is a sum, a min or a max, so an incremental run (the commits after an earlier
head, credited through the renames they contain) merged with the earlier aggregates gives the
same numbers as a full run.  The derived metrics (owner, bus factor, age, coupling degree,
hotspots) are computed from those sums at output time.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from pydantic import ValidationError

from freshpoc_tasks.contracts.base import Contract
from freshpoc_tasks.contracts.mining import (
    AuthorContribution,
    CoChange,
    CommitRecord,
    Coupling,
    FileChange,
    FileHistory,
    FolderStats,
    Hotspot,
    MiningOptions,
)
from freshpoc_tasks.mining._git import GitError, popen_git, read_stderr
from freshpoc_tasks.mining.access import Repository
from freshpoc_tasks.mining.inventory import decode_path

log = logging.getLogger(__name__)

_FORMAT = "%x01%H%x00%P%x00%aN%x00%aE%x00%at%x00%cN%x00%cE%x00%ct%x00%s"
_HEADER_FIELDS = 9
_READ_CHUNK = 1 << 20

# Dates are stored as epoch seconds and turned into datetimes on output; Python's datetime
# stops at year 9999, and git prints what the commit object says (or nothing at all).
MIN_EPOCH = 0
MAX_EPOCH = 253402214400  # 9999-12-31T00:00:00Z: a day of margin for any time-zone shift


def clamp_epoch(raw: bytes | str) -> tuple[int, bool]:
    """(epoch seconds within MIN_EPOCH..MAX_EPOCH, whether the raw value had to be changed)."""
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
    try:
        value = int(text.strip())
    except ValueError:
        return MIN_EPOCH, True
    if value < MIN_EPOCH:
        return MIN_EPOCH, True
    if value > MAX_EPOCH:
        return MAX_EPOCH, True
    return value, False


def epoch_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(min(max(value, MIN_EPOCH), MAX_EPOCH), UTC)


class IncrementalMismatchError(ValueError):
    """Earlier aggregates cannot be extended to this commit; run a full pass instead."""


def git_log_args(options: MiningOptions, head: str, base: str | None = None) -> list[str]:
    """The one ``git log`` invocation; exposed so tests and the benchmark use the same options."""
    args = [
        "log", "--no-color", "--no-ext-diff", "--no-textconv", "-z", "--raw", "--numstat",
        "--no-abbrev", f"--format={_FORMAT}",
    ]  # fmt: skip
    args.append("-M" if options.detect_renames else "--no-renames")
    if options.merges == "exclude":
        args.append("--no-merges")
    elif options.merges == "first_parent":
        args += ["--first-parent", "--diff-merges=first-parent"]
    args.append(head)
    if base:
        args.append(f"^{base}")
    args.append("--")
    return args


def _widen_pipe(fd: int) -> None:
    """Ask Linux for a 1 MiB pipe: fewer, larger reads means fewer wake-ups and re-parses."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _READ_CHUNK)


class _NeedMore(Exception):
    """The token buffer ends inside a commit: read more and parse that commit again."""


# A parsed change, as a plain tuple because the hot loop must not build models:
# (status, old_path or None, path, added, deleted, is_binary, old_mode, new_mode)
RawChange = tuple[str, "str | None", str, int, int, bool, str, str]
# (sha, parents, author name, author email, author time, committer name, committer email,
#  committer time, subject, changes, notes): notes say what had to be repaired (dates clamped)
RawCommit = tuple[str, list[str], str, str, int, str, str, int, str, list[RawChange], tuple[str, ...]]


def _parse_one(toks: list[bytes], i: int, eof: bool) -> tuple[RawCommit, int]:
    n = len(toks)
    if i + _HEADER_FIELDS > n:
        raise _NeedMore
    tok = toks[i]
    if not tok.startswith(b"\x01"):
        raise GitError(f"unexpected git log output near {tok[:80]!r}")
    sha, parents, an, ae, at, cn, ce, ct, subject = toks[i : i + _HEADER_FIELDS]
    i += _HEADER_FIELDS
    raws: list[tuple[str, str, str, str | None, str]] = []
    stats: list[tuple[int, int, bool]] = []
    while True:
        if i >= n:
            if eof:
                break
            raise _NeedMore
        tok = toks[i]
        if tok[:1] == b"\x01":
            break
        if tok[:1] == b"\n":
            tok = tok[1:]
        i += 1
        if not tok or tok[:2] == b"::":  # a merge's combined diff is not counted
            continue
        if tok[:1] == b":":
            meta = tok.split(b" ", 4)
            status = meta[4][:1].decode()
            if status == "R" or status == "C":
                if i + 2 > n:
                    raise _NeedMore
                old, new = toks[i], toks[i + 1]
                i += 2
                raws.append((status, meta[0][1:].decode(), meta[1].decode(), decode_path(old)[0],
                             decode_path(new)[0]))  # fmt: skip
            else:
                if i >= n:
                    raise _NeedMore
                path = toks[i]
                i += 1
                raws.append((status, meta[0][1:].decode(), meta[1].decode(), None, decode_path(path)[0]))
        else:
            added, deleted, path = tok.split(b"\t", 2)
            if not path:  # a rename: the two paths follow as tokens of their own
                if i + 2 > n:
                    raise _NeedMore
                i += 2
            if added == b"-" or not added.isdigit() or not deleted.isdigit():
                stats.append((0, 0, True))  # git's "-": binary, no line counts
            else:
                stats.append((int(added), int(deleted), False))
    changes: list[RawChange] = []
    for k, (status, old_mode, new_mode, old, new) in enumerate(raws):
        added_n, deleted_n, binary = stats[k] if k < len(stats) else (0, 0, False)
        changes.append((status, old, new, added_n, deleted_n, binary, old_mode, new_mode))
    author_at, bad_at = clamp_epoch(at)
    commit_at, bad_ct = clamp_epoch(ct)
    notes: tuple[str, ...] = ()
    if bad_at or bad_ct:
        dates = (("author", at, author_at, bad_at), ("committer", ct, commit_at, bad_ct))
        notes = tuple(
            f"{who} date {raw[:40].decode('ascii', 'replace')!r} out of range, clamped to {value}"
            for who, raw, value, bad in dates
            if bad
        )
    commit: RawCommit = (
        sha[1:].decode(),
        parents.decode().split(),
        an.decode("utf-8", "replace"),
        ae.decode("utf-8", "replace").lower(),
        author_at,
        cn.decode("utf-8", "replace"),
        ce.decode("utf-8", "replace").lower(),
        commit_at,
        subject.decode("utf-8", "replace"),
        changes,
        notes,
    )
    return commit, i


def parse_log_raw(stream: BinaryIO) -> Iterator[RawCommit]:
    """Commits as tuples from ``git log`` output made with :func:`git_log_args`.

    Tokens are split per megabyte chunk and walked by index; a commit cut by a chunk
    boundary is parsed again once the next chunk is in.  Paths are consumed by position, so
    a file name that looks like a header or a stat line cannot confuse the parser.
    """
    toks: list[bytes] = []
    tail = b""
    i = 0
    eof = False
    while True:
        if i >= len(toks) and eof:
            return
        try:
            commit, i = _parse_one(toks, i, eof)
        except _NeedMore:
            if eof:
                raise GitError("git log output ended inside a commit") from None
            chunk = stream.read(_READ_CHUNK)
            if chunk:
                parts = (tail + chunk).split(b"\0")
                tail = parts.pop()
            else:
                eof = True
                parts = [tail] if tail else []
            toks = toks[i:] + parts
            i = 0
            continue
        yield commit


def to_record(raw: RawCommit, is_bot: bool = False) -> CommitRecord:
    """The contract form of a parsed commit.

    One validating call for the commit and its changes: pydantic's own (compiled) validator
    builds the nested models about five times faster than ``model_construct``, which is plain
    Python per field. Values it would refuse (a path with a byte that is not UTF-8, carried as
    a surrogate; a status git invented after this was written) are built without validation
    instead, as they always were: we made them, and mining never fails on a hostile name.
    """
    sha, parents, an, ae, at, cn, ce, ct, subject, changes, _ = raw
    fields = {
        "sha": sha,
        "parents": parents,
        "author_name": an,
        "author_email": ae,
        "authored_at": epoch_to_datetime(at),
        "committer_name": cn,
        "committer_email": ce,
        "committed_at": epoch_to_datetime(ct),
        "summary": subject,
        "is_merge": len(parents) > 1,
        "is_bot": is_bot,
    }
    files = [
        {
            "path": path,
            "old_path": old,
            "change_type": status,
            "added": added,
            "deleted": deleted,
            "is_binary": binary,
            "old_mode": None if old_mode == "000000" else old_mode,
            "new_mode": None if new_mode == "000000" else new_mode,
        }
        for status, old, path, added, deleted, binary, old_mode, new_mode in changes
    ]
    try:
        return CommitRecord.model_validate({**fields, "changes": files})
    except ValidationError:
        changed = [FileChange.model_construct(**f) for f in files]
        return CommitRecord.model_construct(**fields, changes=changed)


def parse_log(stream: BinaryIO) -> Iterator[CommitRecord]:
    """Commit records (bot flag left False) from ``git log`` output of :func:`git_log_args`."""
    for raw in parse_log_raw(stream):
        yield to_record(raw)


# --- aggregates -------------------------------------------------------------------------------


@dataclass
class FileSums:
    revisions: int = 0
    added: int = 0
    deleted: int = 0
    coupling_revisions: int = 0
    first_commit: str = ""
    first_at: int | None = None  # epoch seconds (committer date): cheap to compare in the hot loop
    last_commit: str = ""
    last_at: int | None = None
    exists: bool = True
    authors: dict[str, list[int]] = field(default_factory=dict)  # email -> [revisions, added, deleted]

    def see_last(self, commit: str, when: int, exists: bool) -> None:
        """Changes arrive newest first: on equal dates the one seen first is the last change."""
        if self.last_at is None or when > self.last_at:
            self.last_at, self.last_commit, self.exists = when, commit, exists

    def see_first(self, commit: str, when: int) -> None:
        """...and on equal dates the one seen last is the first change."""
        if self.first_at is None or when <= self.first_at:
            self.first_at, self.first_commit = when, commit


class RenameMap:
    """Latest name of every path renamed in the commits seen so far (newest first).

    It also remembers, for every path added by a commit, that commit and its first parent:
    a rename of that path made by one of them is a split (the path lives on under its own
    name), which :meth:`see_commit` does not follow.  Only the oldest add seen so far is kept
    per path: walking newest first, that is the add right after any older rename of it.
    """

    def __init__(self) -> None:
        self._alias: dict[str, str] = {}
        self._reborn: dict[str, tuple[str, str]] = {}
        self.splits = 0

    def resolve(self, path: str) -> str:
        return self._alias.get(path, path)

    def rename(self, old: str, new: str) -> None:
        if old != new:
            self._alias[old] = self.resolve(new)

    def see_commit(self, sha: str, parents: list[str], changes: list[RawChange]) -> None:
        """Record one commit's adds and follow its renames, except splits (newest first)."""
        stamp = (sha, parents[0] if parents else sha)
        reborn = self._reborn
        for status, _, new, *_ in changes:
            if status == "A":
                reborn[new] = stamp
        for status, old, new, *_ in changes:
            if status == "R" and old is not None:
                if sha in reborn.get(old, ()):
                    self.splits += 1
                else:
                    self.rename(old, new)

    def __len__(self) -> int:
        return len(self._alias)


def _shares(authors: Mapping[str, list[int]]) -> tuple[str | None, float, int, int]:
    """(main author, share, bus factor, author count) by added lines, else by revisions."""
    if not authors:
        return None, 0.0, 0, 0
    column = 1 if any(v[1] for v in authors.values()) else 0
    ranked = sorted(authors.items(), key=lambda kv: (-kv[1][column], kv[0]))
    total = sum(v[column] for v in authors.values())
    if total == 0:
        return ranked[0][0], 0.0, 0, len(authors)
    covered, bus = 0, 0
    for _, values in ranked:
        covered += values[column]
        bus += 1
        if covered * 2 > total:
            break
    return ranked[0][0], round(ranked[0][1][column] / total, 6), bus, len(authors)


class HistoryAggregates:
    """Merge-friendly sums over a set of commits, keyed by each file's latest path."""

    def __init__(self) -> None:
        self.files: dict[str, FileSums] = {}
        self.pairs: dict[tuple[str, str], int] = defaultdict(int)
        self.names: dict[str, str] = {}
        self.commits = 0

    def add_commit(self, commit: RawCommit, renames: RenameMap, max_changeset_size: int) -> None:
        """Credit one commit (seen newest first) to the files' latest names."""
        sha, parents, name, email, _, _, _, when, _, changes, _ = commit
        self.commits += 1
        if email not in self.names:
            self.names[email] = name
        files = self.files
        renames.see_commit(sha, parents, changes)
        resolve = renames.resolve
        touched: list[str] = []
        for status, _, new, added, deleted, _, _, _ in changes:
            path = resolve(new)
            touched.append(path)
            sums = files.get(path)
            if sums is None:
                sums = files[path] = FileSums()
            sums.revisions += 1
            sums.added += added
            sums.deleted += deleted
            if sums.last_at is None or when > sums.last_at:
                sums.last_at, sums.last_commit, sums.exists = when, sha, status != "D"
            if sums.first_at is None or when <= sums.first_at:
                sums.first_at, sums.first_commit = when, sha
            per = sums.authors.get(email)
            if per is None:
                sums.authors[email] = [1, added, deleted]
            else:
                per[0] += 1
                per[1] += added
                per[2] += deleted
        if len(touched) <= max_changeset_size:
            for path in touched:
                files[path].coupling_revisions += 1
            if len(touched) > 1:
                pairs = self.pairs
                ordered = sorted(touched)
                for k, a in enumerate(ordered):
                    for b in ordered[k + 1 :]:
                        if a != b:
                            pairs[(a, b)] += 1

    def merge_older(self, older: HistoryAggregates, renames: RenameMap) -> None:
        """Fold in aggregates of the commits before ours, re-keyed through our renames."""
        self.commits += older.commits
        for email, name in older.names.items():
            self.names.setdefault(email, name)
        for old_path, o in older.files.items():
            path = renames.resolve(old_path)
            mine = self.files.get(path)
            if mine is None:
                mine = self.files[path] = FileSums()
            mine.revisions += o.revisions
            mine.added += o.added
            mine.deleted += o.deleted
            mine.coupling_revisions += o.coupling_revisions
            assert o.last_at is not None and o.first_at is not None
            mine.see_last(o.last_commit, o.last_at, o.exists)
            mine.see_first(o.first_commit, o.first_at)
            for email, values in o.authors.items():
                per = mine.authors.setdefault(email, [0, 0, 0])
                for i in range(3):
                    per[i] += values[i]
        for (a, b), shared in older.pairs.items():
            ra, rb = renames.resolve(a), renames.resolve(b)
            if ra != rb:
                self.pairs[(ra, rb) if ra < rb else (rb, ra)] += shared

    def mark_present(self, paths: Iterable[str]) -> None:
        """Set ``exists`` from the tree at the mined commit.

        The newest counted change says whether a file was deleted, but a change we do not
        count (a bot's, a side branch's under ``first_parent``) can delete it too; the tree
        is the truth.  Full and incremental runs at the same commit see the same tree, so
        they still agree.
        """
        present = set(paths)
        for path, sums in self.files.items():
            sums.exists = path in present

    # -- state records (what an incremental run resumes from) -------------------------------

    def state_records(self, reference: datetime) -> Iterator[Contract]:
        yield from self.file_histories(reference)
        for path in sorted(self.files):
            for email, (revs, added, deleted) in sorted(self.files[path].authors.items()):
                yield AuthorContribution(
                    path=path,
                    author_email=email,
                    author_name=self.names.get(email, email),
                    revisions=revs,
                    added=added,
                    deleted=deleted,
                )
        for (a, b), shared in sorted(self.pairs.items()):
            yield CoChange(path_a=a, path_b=b, shared_revisions=shared)

    @classmethod
    def from_records(cls, records: Iterable[Contract]) -> HistoryAggregates:
        agg = cls()
        for rec in records:
            if isinstance(rec, FileHistory):
                agg.files[rec.path] = FileSums(
                    revisions=rec.revisions,
                    added=rec.added,
                    deleted=rec.deleted,
                    coupling_revisions=rec.coupling_revisions,
                    first_commit=rec.first_commit,
                    first_at=int(rec.first_changed_at.timestamp()),
                    last_commit=rec.last_commit,
                    last_at=int(rec.last_changed_at.timestamp()),
                    exists=rec.exists,
                )
            elif isinstance(rec, AuthorContribution):
                agg.files[rec.path].authors[rec.author_email] = [rec.revisions, rec.added, rec.deleted]
                agg.names.setdefault(rec.author_email, rec.author_name)
            elif isinstance(rec, CoChange):
                agg.pairs[(rec.path_a, rec.path_b)] = rec.shared_revisions
        return agg

    # -- derived metrics --------------------------------------------------------------------

    def file_histories(self, reference: datetime) -> Iterator[FileHistory]:
        for path in sorted(self.files):
            s = self.files[path]
            assert s.first_at is not None and s.last_at is not None
            main, share, bus, count = _shares(s.authors)
            yield FileHistory(
                path=path,
                exists=s.exists,
                revisions=s.revisions,
                added=s.added,
                deleted=s.deleted,
                churn=s.added + s.deleted,
                authors=count,
                main_author=main,
                main_author_share=share,
                bus_factor=bus,
                first_commit=s.first_commit,
                first_changed_at=epoch_to_datetime(s.first_at),
                last_commit=s.last_commit,
                last_changed_at=epoch_to_datetime(s.last_at),
                age_days=round(max(0.0, (reference.timestamp() - s.last_at) / 86400), 4),
                coupling_revisions=s.coupling_revisions,
            )

    def folder_stats(self) -> Iterator[FolderStats]:
        """Per folder (recursive, ``""`` = root), over files that still exist."""
        folders: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # files, revs, added, deleted
        owners: dict[str, dict[str, list[int]]] = defaultdict(dict)
        for path, s in self.files.items():
            if not s.exists:
                continue
            parts = path.split("/")[:-1]
            for depth in range(len(parts) + 1):
                folder = "/".join(parts[:depth])
                totals = folders[folder]
                totals[0] += 1
                totals[1] += s.revisions
                totals[2] += s.added
                totals[3] += s.deleted
                acc = owners[folder]
                for email, values in s.authors.items():
                    per = acc.setdefault(email, [0, 0, 0])
                    for i in range(3):
                        per[i] += values[i]
        for folder in sorted(folders):
            files, revs, added, deleted = folders[folder]
            main, share, bus, count = _shares(owners[folder])
            yield FolderStats(
                folder=folder,
                files=files,
                revisions=revs,
                added=added,
                deleted=deleted,
                authors=count,
                main_author=main,
                main_author_share=share,
                bus_factor=bus,
            )

    def couplings(self, options: MiningOptions) -> Iterator[Coupling]:
        """code-maat's coupling: degree = shared / average revisions, between existing files."""
        for (a, b), shared in sorted(self.pairs.items()):
            fa, fb = self.files.get(a), self.files.get(b)
            if fa is None or fb is None or not (fa.exists and fb.exists):
                continue
            average = (fa.coupling_revisions + fb.coupling_revisions) / 2
            if average < options.min_revisions or shared < options.min_shared_revisions:
                continue
            degree = round(100.0 * shared / average, 4)
            if options.min_coupling <= degree <= options.max_coupling:
                yield Coupling(
                    path_a=a, path_b=b, shared_revisions=shared, average_revisions=average, degree=degree
                )

    def hotspots(self, lines_code: Mapping[str, int], limit: int | None = None) -> list[Hotspot]:
        """Existing files ranked by revisions x lines of code (the inventory's size)."""
        scored = []
        for path, s in self.files.items():
            loc = lines_code.get(path)
            if s.exists and loc:
                scored.append((s.revisions * loc, path, s.revisions, loc))
        scored.sort(key=lambda t: (-t[0], t[1]))
        if limit is not None:
            scored = scored[:limit]
        return [
            Hotspot(path=path, revisions=revs, lines_code=loc, score=score, rank=i + 1)
            for i, (score, path, revs, loc) in enumerate(scored)
        ]


def split_across(repo: Repository, base: str, head: str, options: MiningOptions) -> str | None:
    """Why aggregates at ``base`` cannot be extended to ``head``, if a split straddles them.

    A split is decided by the child of the renaming commit (it adds the old path again).  When
    the rename is at or before ``base`` and the re-adding child after it, the earlier run has
    already credited the old path's past to the new one and sums cannot be taken apart again.
    Only the commits just after the boundary need checking: one ``rev-list`` and two small
    ``diff-tree`` calls per boundary commit.
    """
    if not options.detect_renames:
        return None
    listing = repo.git("rev-list", "--parents", head, f"^{base}", "--").decode().split("\n")
    rows = [line.split() for line in listing if line.strip()]
    inside = {row[0] for row in rows}
    for row in rows:
        child, parents = row[0], row[1:]
        if not parents or parents[0] in inside:
            continue
        parent = parents[0]
        added = set(
            repo.git("diff-tree", "-r", "-z", "--no-renames", "--diff-filter=A", "--name-only",
                     parent, child, "--").split(b"\0")
        ) - {b""}  # fmt: skip
        if not added:
            continue
        renamed = repo.git(
            "diff-tree", "-r", "-z", "-M", "--diff-filter=R", "--name-status", "--no-commit-id",
            "--root", parent, "--",
        ).split(b"\0")  # fmt: skip
        # name-status -z with only renames: "R<score>", old, new, "R<score>", old, new, ...
        for k in range(0, len(renamed) - 2, 3):
            if renamed[k + 1] in added:
                old = renamed[k + 1].decode("utf-8", "replace")
                return f"{child[:12]} adds {old!r} again after {parent[:12]} renamed it (a split)"
    return None


class HistoryMiner:
    """Streams the commits of ``head`` (after ``base`` when given) and builds aggregates.

    Iterate :meth:`commits` to the end (even if you discard the records), then read
    :attr:`aggregates`.  With ``previous`` (the aggregates of a run at ``base``) the result
    covers the whole history, as if mined in full.
    """

    def __init__(
        self,
        repo: Repository,
        head: str,
        options: MiningOptions | None = None,
        *,
        base: str | None = None,
        previous: HistoryAggregates | None = None,
    ) -> None:
        if (base is None) != (previous is None):
            raise ValueError("an incremental run needs both the earlier aggregates and their commit")
        if base is not None and not repo.is_ancestor(base, head):
            raise IncrementalMismatchError(
                f"{base[:12]} is not an ancestor of {head[:12]} (history rewritten?); run a full pass"
            )
        if base is not None and (why := split_across(repo, base, head, options or MiningOptions())):
            raise IncrementalMismatchError(f"{why}; run a full pass")
        self.repo = repo
        self.head = head
        self.base = base
        self.options = options or MiningOptions()
        self._previous = previous
        self._bots = [re.compile(p, re.IGNORECASE) for p in self.options.bot_patterns]
        self._renames = RenameMap()
        self._aggregates = HistoryAggregates()
        self._done = False
        self.dates_clamped = 0

    def is_bot(self, name: str, email: str) -> bool:
        return any(p.search(name) or p.search(email) for p in self._bots)

    def raw_commits(self) -> Iterator[tuple[RawCommit, bool]]:
        """(parsed commit, is bot) pairs, newest first, feeding the aggregates as they pass."""
        config = []
        mailmap = self.repo.mailmap_blob(self.head)
        config.append(f"mailmap.blob={mailmap}" if mailmap else "mailmap.file=/dev/null")
        proc = popen_git(git_log_args(self.options, self.head, self.base), self.repo.git_dir, config=config)
        assert proc.stdout is not None
        _widen_pipe(proc.stdout.fileno())
        bot_cache: dict[tuple[str, str], bool] = {}
        exclude_bots = self.options.bots == "exclude"
        size_cap = self.options.max_changeset_size
        add, renames = self._aggregates.add_commit, self._renames
        try:
            for commit in parse_log_raw(proc.stdout):
                key = (commit[2], commit[3])
                bot = bot_cache.get(key)
                if bot is None:
                    bot = bot_cache[key] = self.is_bot(*key)
                if commit[10]:
                    self.dates_clamped += 1
                    log.warning("commit %s: %s", commit[0][:12], "; ".join(commit[10]))
                if bot and exclude_bots:
                    # Not counted, but its renames still tell us where older changes went.
                    renames.see_commit(commit[0], commit[1], commit[9])
                else:
                    add(commit, renames, size_cap)
                yield commit, bot
        finally:
            proc.stdout.close()
            code = proc.wait()
            err = read_stderr(proc)
        if code != 0:
            raise GitError(f"git log failed ({code}): {err}")
        self._done = True

    def commits(self) -> Iterator[CommitRecord]:
        """The commit stream as contract records."""
        for raw, bot in self.raw_commits():
            yield to_record(raw, bot)

    @property
    def splits(self) -> int:
        """Renames not followed because the old path was added again (see the module doc)."""
        return self._renames.splits

    @property
    def aggregates(self) -> HistoryAggregates:
        if not self._done:
            raise RuntimeError("iterate commits() to the end before reading the aggregates")
        if self._previous is not None:
            self._aggregates.merge_older(self._previous, self._renames)
            self._previous = None
        return self._aggregates


def mine_history(
    repo: Repository,
    head: str,
    options: MiningOptions | None = None,
    *,
    base: str | None = None,
    previous: HistoryAggregates | None = None,
) -> HistoryAggregates:
    """Aggregates only (the commit stream is parsed and dropped)."""
    miner = HistoryMiner(repo, head, options, base=base, previous=previous)
    for _ in miner.raw_commits():
        pass
    return miner.aggregates
