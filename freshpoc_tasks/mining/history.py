"""Git history in one streamed ``git log`` pass: the commit stream and behavioural aggregates.

Why one pass: tools that start a git process per commit (PyDriller) spend most of their time
in process start-up.  Here git computes every diff in a single process and we parse its NUL
separated output as it arrives, so the cost is close to git's own.

Renames are followed by walking history newest first: when a commit renames ``old`` to
``new``, every older change of ``old`` is credited to the file's latest name.  In a branchy
history, edits of ``old`` made on another branch after the rename keep their own name (git's
``--follow`` has the same limit).

Every aggregate is a sum, a min or a max, so an incremental run (the commits after an earlier
head, credited through the renames they contain) merged with the earlier aggregates gives the
same numbers as a full run.  The derived metrics (owner, bus factor, age, coupling degree,
hotspots) are computed from those sums at output time.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

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

_FORMAT = "%x01%H%x00%P%x00%aN%x00%aE%x00%at%x00%cN%x00%cE%x00%ct%x00%s"
_HEADER_FIELDS = 9
_READ_CHUNK = 1 << 20


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


def _tokens(stream) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    """NUL-separated tokens from a pipe, read in large chunks."""
    rest = b""
    while True:
        chunk = stream.read(_READ_CHUNK)
        if not chunk:
            break
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _ts(value: bytes) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def parse_log(tokens: Iterable[bytes]) -> Iterator[CommitRecord]:
    """Commits from ``git log`` output made with :func:`git_log_args` (bot flag left False)."""
    it = iter(tokens)
    pending: bytes | None = None

    def nxt() -> bytes | None:
        nonlocal pending
        if pending is not None:
            tok, pending = pending, None
            return tok
        return next(it, None)

    tok = nxt()
    while tok is not None:
        if not tok.startswith(b"\x01"):
            raise GitError(f"unexpected git log output near {tok[:80]!r}")
        header = [tok[1:]]
        for _ in range(_HEADER_FIELDS - 1):
            field_ = nxt()
            if field_ is None:
                raise GitError("git log output ended inside a commit header")
            header.append(field_)
        sha, parents, an, ae, at, cn, ce, ct, subject = header
        raws: list[tuple[str, str, str, str | None, str]] = []  # status, old mode, new mode, old, new
        stats: list[tuple[int, int, bool]] = []
        tok = nxt()
        while tok is not None and not tok.startswith(b"\x01"):
            if tok.startswith(b"\n"):
                tok = tok[1:]
            if not tok:
                tok = nxt()
                continue
            if tok.startswith(b"::"):  # combined diff of a merge: not ours to count
                tok = nxt()
                continue
            if tok.startswith(b":"):
                meta = tok[1:].split(b" ")
                status = meta[4][:1].decode()
                first = decode_path(nxt() or b"")[0]
                if status in ("R", "C"):
                    second = decode_path(nxt() or b"")[0]
                    raws.append((status, meta[0].decode(), meta[1].decode(), first, second))
                else:
                    raws.append((status, meta[0].decode(), meta[1].decode(), None, first))
            else:
                added, deleted, path = tok.split(b"\t", 2)
                if not path:  # rename: the two paths follow as their own tokens
                    nxt()
                    nxt()
                binary = added == b"-"
                stats.append((0 if binary else int(added), 0 if binary else int(deleted), binary))
            tok = nxt()
        changes = []
        for i, (status, old_mode, new_mode, old, new) in enumerate(raws):
            added, deleted, binary = stats[i] if i < len(stats) else (0, 0, False)
            changes.append(
                FileChange.model_construct(
                    path=new,
                    old_path=old,
                    change_type=status,
                    added=added,
                    deleted=deleted,
                    is_binary=binary,
                    old_mode=None if old_mode == "000000" else old_mode,
                    new_mode=None if new_mode == "000000" else new_mode,
                )
            )
        parent_list = parents.decode().split()
        yield CommitRecord.model_construct(
            sha=sha.decode(),
            parents=parent_list,
            author_name=an.decode("utf-8", "replace"),
            author_email=ae.decode("utf-8", "replace").lower(),
            authored_at=_ts(at),
            committer_name=cn.decode("utf-8", "replace"),
            committer_email=ce.decode("utf-8", "replace").lower(),
            committed_at=_ts(ct),
            summary=subject.decode("utf-8", "replace"),
            is_merge=len(parent_list) > 1,
            is_bot=False,
            changes=changes,
        )


# --- aggregates -------------------------------------------------------------------------------


@dataclass
class FileSums:
    revisions: int = 0
    added: int = 0
    deleted: int = 0
    coupling_revisions: int = 0
    first_commit: str = ""
    first_at: datetime | None = None
    last_commit: str = ""
    last_at: datetime | None = None
    exists: bool = True
    authors: dict[str, list[int]] = field(default_factory=dict)  # email -> [revisions, added, deleted]

    def see_last(self, commit: str, when: datetime, exists: bool) -> None:
        """Changes arrive newest first: on equal dates the one seen first is the last change."""
        if self.last_at is None or when > self.last_at:
            self.last_at, self.last_commit, self.exists = when, commit, exists

    def see_first(self, commit: str, when: datetime) -> None:
        """...and on equal dates the one seen last is the first change."""
        if self.first_at is None or when <= self.first_at:
            self.first_at, self.first_commit = when, commit


class RenameMap:
    """Latest name of every path renamed in the commits seen so far (newest first)."""

    def __init__(self) -> None:
        self._alias: dict[str, str] = {}

    def resolve(self, path: str) -> str:
        return self._alias.get(path, path)

    def rename(self, old: str, new: str) -> None:
        if old != new:
            self._alias[old] = self.resolve(new)

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

    def add_commit(self, commit: CommitRecord, renames: RenameMap, max_changeset_size: int) -> None:
        """Credit one commit (seen newest first) to the files' latest names."""
        self.commits += 1
        email = commit.author_email
        self.names.setdefault(email, commit.author_name)
        when = commit.committed_at
        touched: list[str] = []
        for change in commit.changes:
            if change.old_path is not None and change.change_type == "R":
                renames.rename(change.old_path, change.path)
            path = renames.resolve(change.path)
            touched.append(path)
            sums = self.files.get(path)
            if sums is None:
                sums = self.files[path] = FileSums()
            sums.revisions += 1
            sums.added += change.added
            sums.deleted += change.deleted
            sums.see_last(commit.sha, when, change.change_type != "D")
            sums.see_first(commit.sha, when)
            per = sums.authors.get(email)
            if per is None:
                sums.authors[email] = [1, change.added, change.deleted]
            else:
                per[0] += 1
                per[1] += change.added
                per[2] += change.deleted
        if len(touched) <= max_changeset_size:
            for path in touched:
                self.files[path].coupling_revisions += 1
            if len(touched) > 1:
                ordered = sorted(touched)
                for i, a in enumerate(ordered):
                    for b in ordered[i + 1 :]:
                        if a != b:
                            self.pairs[(a, b)] += 1

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
                    first_at=rec.first_changed_at,
                    last_commit=rec.last_commit,
                    last_at=rec.last_changed_at,
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
                first_changed_at=s.first_at,
                last_commit=s.last_commit,
                last_changed_at=s.last_at,
                age_days=round(max(0.0, (reference - s.last_at).total_seconds() / 86400), 4),
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
        self.repo = repo
        self.head = head
        self.base = base
        self.options = options or MiningOptions()
        self._previous = previous
        self._bots = [re.compile(p, re.IGNORECASE) for p in self.options.bot_patterns]
        self._renames = RenameMap()
        self._aggregates = HistoryAggregates()
        self._done = False

    def is_bot(self, name: str, email: str) -> bool:
        return any(p.search(name) or p.search(email) for p in self._bots)

    def commits(self) -> Iterator[CommitRecord]:
        config = []
        mailmap = self.repo.mailmap_blob(self.head)
        config.append(f"mailmap.blob={mailmap}" if mailmap else "mailmap.file=/dev/null")
        proc = popen_git(git_log_args(self.options, self.head, self.base), self.repo.git_dir, config=config)
        assert proc.stdout is not None
        bot_cache: dict[tuple[str, str], bool] = {}
        exclude_bots = self.options.bots == "exclude"
        size_cap = self.options.max_changeset_size
        try:
            for commit in parse_log(_tokens(proc.stdout)):
                key = (commit.author_name, commit.author_email)
                bot = bot_cache.get(key)
                if bot is None:
                    bot = bot_cache[key] = self.is_bot(*key)
                if bot:
                    commit = commit.model_copy(update={"is_bot": True})
                if bot and exclude_bots:
                    # Not counted, but its renames still tell us where older changes went.
                    for change in commit.changes:
                        if change.change_type == "R" and change.old_path is not None:
                            self._renames.rename(change.old_path, change.path)
                else:
                    self._aggregates.add_commit(commit, self._renames, size_cap)
                yield commit
        finally:
            proc.stdout.close()
            code = proc.wait()
            err = read_stderr(proc)
        if code != 0:
            raise GitError(f"git log failed ({code}): {err}")
        self._done = True

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
    for _ in miner.commits():
        pass
    return miner.aggregates
