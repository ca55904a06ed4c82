"""Safe access to untrusted repositories: location checks, a bare mirror cache, ref resolution.

Git accepts many location forms that run programs (``ext::sh -c …``, ``--upload-pack=…``
smuggled in as a URL, ``ssh://-oProxyCommand=…``).  We accept only https, ssh (URL or scp
form), git:// and explicit local paths, and we never give git a location that could be read
as an option.  The mirror is a bare repository: nothing is checked out, so no filter, hook or
attribute-driven program ever runs, and reading is done from git objects only.

A local path is the other way to be fooled: git follows a ``gitdir:`` file, a ``.git``
symlink, ``commondir``, ``objects/info/alternates`` and symlinked object folders without a
word, so the mirror labelled with one repository could hold another's history (a private
mirror in the cache, say).  git has no switch that refuses these (``--no-local`` only stops
hard-linking; ``safe.directory``, which we keep, only checks ownership), so :func:`local_source`
checks the git directory itself and git is handed that directory, never the working copy.
A partial clone (``extensions.partialClone``, a ``promisor`` remote) is refused too: its
missing objects would come from the remote its config names.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from freshpoc_tasks.mining._git import GitError, popen_git, read_stderr, run_git

log = logging.getLogger(__name__)

_SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_SCP_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._~-]+)@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/].*|/.*)$")
_HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_ALLOWED_SCHEMES = ("https", "ssh", "git")


class UnsafeLocationError(ValueError):
    """The repository location is not one we are willing to hand to git."""


class RefNotFoundError(LookupError):
    """A ref or date did not resolve to a commit."""


def _reject(location: str, why: str) -> UnsafeLocationError:
    shown = redact(location)
    return UnsafeLocationError(f"refusing repository location {shown!r}: {why}")


def redact(location: str) -> str:
    """The location with any user-info password removed, fit for logs."""
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", location)


def validate_location(url_or_path: str) -> str:
    """Return the location in the form we will pass to git, or raise :class:`UnsafeLocationError`.

    Local paths must be explicit (absolute, ``./`` or ``../``) so that ``host:path`` and
    ``name`` are never guessed; they come back absolute and must be directories.
    """
    if not isinstance(url_or_path, str) or not url_or_path.strip():
        raise UnsafeLocationError("refusing an empty repository location")
    loc = url_or_path.strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in loc):
        raise _reject(loc, "it contains control characters")
    if loc.startswith("-"):
        raise _reject(loc, "it looks like a command-line option")
    if "::" in loc.split("/", 1)[0] or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*::", loc):
        raise _reject(loc, "remote-helper syntax (transport::address, e.g. ext::) is not allowed")

    if loc.startswith(("/", "./", "../", "~/")) or loc in (".", ".."):
        path = Path(os.path.expanduser(loc)).resolve()
        if not path.is_dir() and not _is_bundle(path):
            raise UnsafeLocationError(f"local repository path {str(path)!r} is not a directory")
        local_source(str(path))  # refuses indirections before anyone hands the path to git
        return str(path)

    scheme_match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", loc)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        if scheme not in _ALLOWED_SCHEMES:
            raise _reject(loc, f"scheme {scheme!r} is not allowed (use https, ssh, git or a local path)")
        parts = urlsplit(loc)
        host = parts.hostname or ""
        if not host or not _HOST_RE.match(host):
            raise _reject(loc, "the host name is missing or malformed")
        if parts.username and parts.username.startswith("-"):
            raise _reject(loc, "the user name looks like a command-line option")
        if scheme == "https" and (parts.username or parts.password):
            raise _reject(loc, "credentials must not be embedded in the URL; pass them separately")
        if parts.password:
            raise _reject(loc, "passwords must not be embedded in the URL")
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError as exc:
            raise _reject(loc, "the port is malformed") from exc
        if not parts.path.strip("/"):
            raise _reject(loc, "the URL has no repository path")
        if parts.path.lstrip("/").startswith("-"):
            raise _reject(loc, "the repository path looks like a command-line option")
        return loc

    scp = _SCP_RE.match(loc)
    if scp and "/" not in loc.split(":", 1)[0]:
        if not _HOST_RE.match(scp.group("host")):
            raise _reject(loc, "the host name is malformed")
        if scp.group("path").startswith("-"):
            raise _reject(loc, "the repository path looks like a command-line option")
        return loc

    raise _reject(
        loc,
        "not an https/ssh/git URL, an scp-style user@host:path, or an explicit local path "
        "(start local paths with /, ./ or ../)",
    )


_BUNDLE_SIGNATURES = (b"# v2 git bundle\n", b"# v3 git bundle\n")
# Entries of a git directory through which git would read another repository's objects or
# refs: a symlink at any of them (or anywhere under objects/ and refs/) is refused.
_GIT_DIR_ENTRIES = ("HEAD", "config", "packed-refs", "objects", "refs", "shallow", "info")


def _is_bundle(path: Path) -> bool:
    """A git bundle file: self-contained, so cloning it reads nothing else."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) in _BUNDLE_SIGNATURES
    except OSError:
        return False


def _refuse_local(path: str, why: str) -> UnsafeLocationError:
    return UnsafeLocationError(f"refusing local repository {path!r}: {why}")


def _check_git_dir(git_dir: Path, shown: str) -> None:
    """Refuse every way a git directory can borrow another repository's content.

    git follows ``commondir`` (worktrees), ``objects/info/alternates`` (borrowed object
    stores) and symlinks silently, and ``--no-local`` does not stop it: upload-pack serves
    whatever the object store reaches.  So the label "this repository" is only true when the
    git directory is self-contained, which is what is checked here, with ``lstat`` only.
    """
    for name in ("commondir", ".git", "objects/info/alternates", "objects/info/http-alternates"):
        if os.path.lexists(git_dir / name):
            raise _refuse_local(shown, f"its git directory has {name!r}, which points at another repository")
    for name in _GIT_DIR_ENTRIES:
        if (git_dir / name).is_symlink():
            raise _refuse_local(shown, f"{name!r} in its git directory is a symlink")
    if not (git_dir / "objects").is_dir():
        raise _refuse_local(shown, "its git directory has no objects folder")
    if (git_dir / "config").is_file():
        # A partial clone fetches missing objects from its promisor remote, which its own
        # config names (another repository, over file://). git 2.39+ keeps upload-pack from
        # lazy-fetching, with an error about corruption; refuse it up front, with the reason.
        # ``--includes``: the repository's config may pull the setting in from another file.
        found = run_git(["config", "--file", str(git_dir / "config"), "--includes", "--get-regexp",
                         r"^(extensions\.partialclone|remote\..*\.promisor)$"], check=False)
        if found.strip():
            raise _refuse_local(shown, "it is a partial clone whose missing objects git would fetch "
                                       "from its promisor remote (another repository)")
    for sub in ("objects", "refs"):
        for root, dirs, files in os.walk(git_dir / sub):  # os.walk never follows symlinked dirs
            for entry in (*dirs, *files):
                if os.path.islink(os.path.join(root, entry)):
                    rel = os.path.relpath(os.path.join(root, entry), git_dir)
                    raise _refuse_local(shown, f"{rel!r} in its git directory is a symlink")


def local_source(path: str) -> str:
    """What git may read for the local repository at ``path`` (absolute): its own git dir.

    A working copy must have ``.git`` as a plain directory (not a ``gitdir:`` file, not a
    symlink); a bare repository is the directory itself; a git bundle file is used as it is.
    The git directory is then checked by :func:`_check_git_dir`.  Handing git the checked git
    directory, not the working copy, means git's own discovery never gets to pick another one.
    """
    root = Path(path)
    if _is_bundle(root):
        return str(root)
    dot_git = root / ".git"
    if os.path.lexists(dot_git):
        if dot_git.is_symlink():
            raise _refuse_local(path, "its .git is a symlink")
        if not dot_git.is_dir():
            raise _refuse_local(path, "its .git is a file (a 'gitdir:' indirection, e.g. a worktree)")
        git_dir = dot_git
    elif (root / "HEAD").is_file() and (root / "objects").is_dir() and (root / "refs").is_dir():
        git_dir = root  # a bare repository
    else:
        raise UnsafeLocationError(f"local path {path!r} is not a git repository (no .git directory)")
    _check_git_dir(git_dir, path)
    return str(git_dir)


def repo_id_for(location: str) -> str:
    """Normalised id: ``github.com/pallets/flask`` for remotes, ``local/<name>-<hash>`` for paths.

    A local id carries the first 8 hex digits of the SHA-256 of the resolved path, so two
    repositories in folders of the same name (``/a/proj``, ``/b/proj``) never share ids, and
    the same folder always gets the same id, whatever order repositories arrive in.  The
    name part keeps letters, digits, ``_``, ``.`` and ``-`` only.
    """
    if location.startswith("/"):
        real = os.path.realpath(location)
        name = Path(real).name
        for suffix in (".git", ".bundle"):
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
        digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        # The name is only a label (the digest makes the id unique): anything but word
        # characters, dots and dashes (control characters, ':', '/', spaces) becomes '_'.
        name = re.sub(r"[^\w.-]", "_", name) or "repo"
        return f"local/{name}-{digest}"
    if "://" in location:
        parts = urlsplit(location)
        host, path = (parts.hostname or "").lower(), parts.path
    else:
        host_part, path = location.split(":", 1)
        host = host_part.rsplit("@", 1)[-1].lower()
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return f"{host}/{path}".rstrip("/")


@dataclass(frozen=True)
class Credentials:
    """How to authenticate to a private remote; the values never reach a URL or a log line.

    ``token`` (with ``username``, default ``x-access-token`` which GitHub and GitLab accept)
    is handed to git by a credential helper that reads it from this process's environment.
    ``ssh_key_path`` selects a private key for ssh remotes.
    """

    token: str | None = None
    username: str = "x-access-token"
    ssh_key_path: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, token={'***' if self.token else None})"

    def git_config(self) -> list[str]:
        if not self.token:
            return []
        helper = (
            '!f() { echo "username=${FRESHPOC_GIT_USERNAME}"; echo "password=${FRESHPOC_GIT_TOKEN}"; }; f'
        )
        return [f"credential.helper={helper}"]

    def git_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if self.token:
            env["FRESHPOC_GIT_USERNAME"] = self.username
            env["FRESHPOC_GIT_TOKEN"] = self.token
        if self.ssh_key_path:
            key = self.ssh_key_path.replace("'", "")
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i '{key}' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new"
            )
        return env


@dataclass
class Repository:
    """A bare repository we own (the mirror cache); every read goes through hardened git."""

    location: str
    repo_id: str
    git_dir: Path
    _mailmap: dict[str, str | None] = field(default_factory=dict, repr=False)

    def git(self, *args: str, config: Iterable[str] = (), input: bytes | None = None) -> bytes:
        return run_git(list(args), self.git_dir, config=list(config), input=input)

    def resolve(self, ref: str = "HEAD") -> str:
        """Commit sha for a branch, tag, sha or any rev expression that names one commit."""
        if not ref or ref.startswith("-") or any(ord(c) < 32 for c in ref):
            raise RefNotFoundError(f"invalid ref {ref!r}")
        try:
            out = self.git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        except GitError as exc:
            raise RefNotFoundError(f"{ref!r} does not name a commit in {self.repo_id}") from exc
        return out.decode().strip()

    def resolve_as_of(self, when: datetime, ref: str = "HEAD") -> str:
        """The main-line commit that was current at ``when`` (committer date; naive means UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        head = self.resolve(ref)
        out = self.git(
            "rev-list", "-1", "--first-parent", f"--before={int(when.timestamp())}", head, "--"
        ).strip()
        if not out:
            raise RefNotFoundError(f"no commit of {ref!r} in {self.repo_id} is as old as {when.isoformat()}")
        return out.decode()

    def commit_time(self, sha: str) -> datetime:
        """Committer date; out-of-range or missing dates are clamped (see history.clamp_epoch)."""
        from freshpoc_tasks.mining.history import clamp_epoch, epoch_to_datetime

        ts = self.git("show", "-s", "--format=%ct", sha, "--")
        return epoch_to_datetime(clamp_epoch(ts)[0])

    def is_ancestor(self, older: str, newer: str) -> bool:
        try:
            self.git("merge-base", "--is-ancestor", older, newer)
        except GitError:
            return False
        return True

    def mailmap_blob(self, commit: str) -> str | None:
        """Blob sha of ``.mailmap`` at ``commit`` (git reads it from the object, not a file)."""
        if commit not in self._mailmap:
            try:
                out = self.git("rev-parse", "--verify", "--quiet", f"{commit}:.mailmap")
                self._mailmap[commit] = out.decode().strip() or None
            except GitError:
                self._mailmap[commit] = None
        return self._mailmap[commit]

    def read_blobs(self, shas: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """Contents of blobs, in request order, from one ``git cat-file --batch`` process.

        A writer thread feeds the requests while we read, so neither side blocks on a full pipe
        however many blobs are asked for.  Missing objects are logged and skipped.
        """
        proc = popen_git(["cat-file", "--batch"], self.git_dir, stdin=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout
        failure: list[BaseException] = []

        def feed() -> None:
            try:
                for sha in shas:
                    stdin.write(sha.encode("ascii") + b"\n")
            except BrokenPipeError:
                pass
            except BaseException as exc:  # surfaced to the reader below
                failure.append(exc)
            finally:
                with contextlib.suppress(BrokenPipeError, OSError):
                    stdin.close()

        writer = threading.Thread(target=feed, name="cat-file-feed", daemon=True)
        writer.start()
        reader = _BufferedReader(stdout)
        try:
            while True:
                header = reader.readline()
                if not header:
                    break
                fields = header.rstrip(b"\n").split(b" ")
                if len(fields) == 2 and fields[1] == b"missing":
                    log.warning("object %s missing from %s", fields[0].decode(), self.repo_id)
                    continue
                if len(fields) != 3:
                    raise GitError(f"unexpected cat-file header {header[:100]!r}")
                size = int(fields[2])
                data = reader.read_exact(size + 1)[:-1]
                yield fields[0].decode(), data
        finally:
            with contextlib.suppress(OSError):
                stdout.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            writer.join(timeout=5)
            read_stderr(proc)
        if failure:
            raise failure[0]


class _BufferedReader:
    """Exact-size reads over an unbuffered pipe, without Python's readline per byte."""

    def __init__(self, raw: object, chunk: int = 1 << 20) -> None:
        self._raw = raw
        self._buf = bytearray()
        self._chunk = chunk

    def _fill(self) -> bool:
        data = self._raw.read(self._chunk)  # type: ignore[attr-defined]
        if not data:
            return False
        self._buf += data
        return True

    def readline(self) -> bytes:
        while True:
            idx = self._buf.find(b"\n")
            if idx >= 0:
                line = bytes(self._buf[: idx + 1])
                del self._buf[: idx + 1]
                return line
            if not self._fill():
                line = bytes(self._buf)
                self._buf.clear()
                return line

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                raise GitError("cat-file output ended early")
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data


def _cache_name(location: str, repo_id: str) -> str:
    digest = hashlib.sha256(location.encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", repo_id).strip("._") or "repo"
    return f"{safe[:80]}-{digest}.git"


def _with_location(loc: str, what: str, fn: Callable[..., bytes], *args: object, **kwargs: object) -> bytes:
    """Run ``fn`` and say which repository a git failure was about (clone/fetch errors)."""
    try:
        return fn(*args, **kwargs)
    except GitError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise GitError(f"cannot {what} {redact(loc)}: {reason}") from exc


def open_repository(
    location: str,
    cache_dir: str | os.PathLike[str],
    credentials: Credentials | None = None,
    *,
    fetch: bool = True,
) -> Repository:
    """Clone ``location`` into a bare mirror under ``cache_dir``, or fetch into the existing one.

    A lock file serialises concurrent tasks on the same mirror; a first clone goes to a
    temporary directory and is renamed into place, so a half-finished clone is never used.
    """
    loc = validate_location(location)
    repo_id = repo_id_for(loc)
    # For a local path git is given the checked git directory (checked again here, right
    # before use), never the working copy it would resolve by itself.
    source = local_source(loc) if loc.startswith("/") else loc
    cache = Path(cache_dir).expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / _cache_name(loc, repo_id)
    creds = credentials or Credentials()
    config, env = creds.git_config(), creds.git_env()
    with open(cache / (target.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "objects").is_dir():
            tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=cache))
            # A checked local git directory is copied (--local: 20x less CPU than packing and
            # re-hashing every object through upload-pack), never hard-linked, so the mirror
            # owns its files. git 2.38.1+ refuses symlinks under objects/ on such a copy
            # (CVE-2022-39253); what else could borrow another repository is checked again on
            # the copy below, which also catches a source changed between the check and now.
            local = source.startswith("/") and not _is_bundle(Path(source))
            how = ["--local", "--no-hardlinks"] if local else ["--no-local"]
            try:
                log.info("cloning %s into %s", redact(loc), target)
                _with_location(loc, "clone", run_git,
                    ["clone", "--bare", *how, "--template=", "--no-recurse-submodules",
                     "--", source, str(tmp / "repo.git")],
                    config=config, env=env,
                )  # fmt: skip
                if local:
                    _check_git_dir(tmp / "repo.git", loc)
                os.replace(tmp / "repo.git", target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        elif fetch:
            log.info("fetching %s into %s", redact(loc), target)
            _with_location(loc, "fetch", run_git,
                ["fetch", "--prune", "--force", "--no-recurse-submodules", "--no-write-fetch-head",
                 "--", source, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                target, config=config, env=env,
            )  # fmt: skip
            # Keep HEAD pointing where the remote's does, for "mine the default branch".
            with contextlib.suppress(GitError):
                out = run_git(["ls-remote", "--symref", "--", source, "HEAD"], config=config, env=env)
                m = re.match(rb"ref: (refs/heads/\S+)\tHEAD", out)
                if m:
                    run_git(["symbolic-ref", "HEAD", m.group(1).decode()], target)
    return Repository(location=loc, repo_id=repo_id, git_dir=target)


def is_sha(value: str) -> bool:
    return bool(_SHA_RE.match(value))
