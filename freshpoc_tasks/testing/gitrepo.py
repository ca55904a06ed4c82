"""Build git repositories with scripted histories, so tests can assert exact numbers.

Each :meth:`RepoBuilder.commit` is one ``git fast-import`` run: authors, dates, modes,
symlinks, binary bytes and non-UTF-8 paths are written exactly as given, with no working tree,
no hooks and no clock involved.  The result is a bare repository.

    repo = RepoBuilder(tmp_path / "demo.git")
    first = repo.commit(write={"a.py": "print(1)\\n"}, author="Ann <ann@example.com>",
                        date="2024-01-01T10:00:00+00:00")
    repo.commit(rename={"a.py": "b.py"}, write={"b.py": "print(2)\\n"})
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

Content = str | bytes
PathLike = str | bytes

_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "LC_ALL": "C",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}


@dataclass(frozen=True)
class Signature:
    name: str
    email: str

    @classmethod
    def parse(cls, value: str | Signature) -> Signature:
        if isinstance(value, Signature):
            return value
        name, _, rest = value.partition("<")
        return cls(name.strip(), rest.rstrip(">").strip())


def _quote(path: PathLike) -> bytes:
    """C-style quoting as fast-import reads it, so any byte (but NUL) can be in a path."""
    raw = path.encode("utf-8") if isinstance(path, str) else path
    out = bytearray(b'"')
    for b in raw:
        if b in (0x22, 0x5C):
            out += b"\\" + bytes([b])
        elif b < 0x20 or b >= 0x7F:
            out += b"\\%03o" % b
        else:
            out.append(b)
    return bytes(out + b'"')


def _to_bytes(content: Content) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def _git_date(when: datetime | str) -> str:
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    offset = when.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{int(when.timestamp())} {sign}{minutes // 60:02d}{minutes % 60:02d}"


class RepoBuilder:
    """A bare repository grown one scripted commit at a time.

    Dates default to one day after the previous commit (starting 2024-01-01 UTC), the author
    to ``A U Thor <author@example.com>``; both are explicit in the commits tests care about.
    """

    DEFAULT_AUTHOR = Signature("A U Thor", "author@example.com")

    def __init__(self, path: str | Path, branch: str = "main") -> None:
        self.path = Path(path)
        self.default_branch = branch
        self.commits: list[str] = []
        self._clock = datetime(2024, 1, 1, tzinfo=UTC)
        subprocess.run(
            ["git", "init", "--quiet", "--bare", f"--initial-branch={branch}", str(self.path)],
            check=True,
            env=_ENV,
        )

    def git(self, *args: str) -> str:
        """Run git in the repository (for test assertions), returning stdout as text."""
        return subprocess.run(
            ["git", f"--git-dir={self.path}", *args], check=True, capture_output=True, env=_ENV
        ).stdout.decode("utf-8", "replace")

    def tip(self, branch: str | None = None) -> str | None:
        ref = f"refs/heads/{branch or self.default_branch}"
        proc = subprocess.run(
            ["git", f"--git-dir={self.path}", "rev-parse", "--verify", "--quiet", ref],
            capture_output=True,
            env=_ENV,
        )
        return proc.stdout.decode().strip() or None

    def commit(
        self,
        message: str = "change",
        *,
        author: str | Signature | None = None,
        date: datetime | str | None = None,
        committer: str | Signature | None = None,
        committer_date: datetime | str | None = None,
        write: Mapping[PathLike, Content] | None = None,
        delete: Iterable[PathLike] = (),
        rename: Mapping[PathLike, PathLike] | None = None,
        symlinks: Mapping[PathLike, str] | None = None,
        executable: Iterable[PathLike] = (),
        mailmap: Iterable[str] | None = None,
        branch: str | None = None,
        parent: str | None = None,
        merge: Iterable[str] = (),
    ) -> str:
        """Add one commit and return its sha.

        Operations apply in this order: renames, deletions, writes (so a rename can be
        followed by an edit of the new path), symlinks, then ``.mailmap`` (lines given).
        ``parent`` starts the branch from a given commit; ``merge`` adds more parents but
        does not merge trees: write the merged result explicitly, as a real merge would.
        """
        branch = branch or self.default_branch
        if date is None:
            self._clock += timedelta(days=1)
            when: datetime | str = self._clock
        else:
            when = date
            parsed = datetime.fromisoformat(date) if isinstance(date, str) else date
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            self._clock = max(self._clock, parsed)
        who = Signature.parse(author or self.DEFAULT_AUTHOR)
        by = Signature.parse(committer or who)
        executable = {_to_bytes(p) for p in executable}
        body = _to_bytes(message)

        out = bytearray()
        out += f"commit refs/heads/{branch}\n".encode()
        out += f"author {who.name} <{who.email}> {_git_date(when)}\n".encode()
        out += f"committer {by.name} <{by.email}> {_git_date(committer_date or when)}\n".encode()
        out += b"data %d\n%s\n" % (len(body), body)
        start = parent or self.tip(branch)
        if start:
            out += f"from {start}\n".encode()
        for extra in merge:
            out += f"merge {extra}\n".encode()
        for old, new in (rename or {}).items():
            out += b"R " + _quote(old) + b" " + _quote(new) + b"\n"
        for path in delete:
            out += b"D " + _quote(path) + b"\n"
        for path, content in (write or {}).items():
            data = _to_bytes(content)
            mode = b"100755" if _to_bytes(path) in executable else b"100644"
            out += b"M " + mode + b" inline " + _quote(path) + b"\n"
            out += b"data %d\n" % len(data) + data + b"\n"
        for path, target in (symlinks or {}).items():
            data = _to_bytes(target)
            out += b"M 120000 inline " + _quote(path) + b"\n" + b"data %d\n" % len(data) + data + b"\n"
        if mailmap is not None:
            data = "".join(line + "\n" for line in mailmap).encode()
            out += b'M 100644 inline ".mailmap"\n' + b"data %d\n" % len(data) + data + b"\n"
        out += b"\n"
        subprocess.run(
            ["git", f"--git-dir={self.path}", "fast-import", "--quiet", "--done"],
            input=bytes(out) + b"done\n",
            check=True,
            capture_output=True,
            env=_ENV,
        )
        sha = self.tip(branch)
        assert sha is not None
        self.commits.append(sha)
        return sha
