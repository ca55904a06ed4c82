"""One place that runs git, so every call gets the same hardening.

Repositories are untrusted: their config, hooks, attributes-driven filters and remote helpers
must never run code on this machine.  Rather than trusting each call site to remember the
right flags, every git process goes through :func:`git_command`, which pins the environment
(no system/global config, no prompts, an allow-list of transports) and prefixes ``-c`` options
that disable hooks, fsmonitor and submodule recursion.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

# Transports git may use at all, for any operation (also what a submodule or a redirect could
# ask for).  ``ext`` is absent on purpose: it runs an arbitrary command.
ALLOWED_PROTOCOLS = "https:ssh:git:file"

# -c options that neutralise repository-controlled code paths.  ``core.hooksPath=/dev/null``
# means no hook can ever be found; fsmonitor would launch a configured program; an empty
# credential helper list drops anything a config file might add before ours.
HARDENING: tuple[str, ...] = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "protocol.ext.allow=never",
    "-c", "submodule.recurse=false",
    "-c", "fetch.recurseSubmodules=false",
    "-c", "core.quotePath=false",
    "-c", "diff.external=",
    "-c", "credential.helper=",
    "-c", "uploadpack.allowFilter=false",
    "-c", "gc.auto=0",
    "-c", "maintenance.auto=false",
    # git 2.42+ can read attributes from a tree in a bare repository (attr.tree); the empty
    # tree means none: a repository's .gitattributes never reaches git's backtracking matcher.
    "-c", "attr.tree=4b825dc642cb6eb9a060e54bf8d69288fbee4904",
)  # fmt: skip


class GitError(RuntimeError):
    """A git command failed; the message carries its stderr (never a credential)."""


# control, format (bidi overrides, zero-width), line/paragraph separators, surrogates, private
# use and unassigned code points
_UNSAFE_CATEGORIES = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"))


def printable(text: str, limit: int = 2000) -> str:
    """``text`` safe for a terminal: control, format and line-separator characters escaped.

    File names, commit subjects and a remote's messages are untrusted: an ESC sequence or a
    right-to-left override printed raw can rewrite what the user sees (or their title bar).
    Escapes are Python's (``\\x1b``, ``\\u202e``).
    """
    out = []
    for ch in text[:limit]:
        if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                       else f"\\U{code:08x}")  # fmt: skip
        else:
            out.append(ch)
    if len(text) > limit:
        out.append("...")
    return "".join(out)


class EscapingFilter(logging.Filter):
    """Escapes control characters in every log message before a handler writes it.

    Installed on the terminal handlers by the CLIs: analyzers log file names, SQL and YAML
    from the repository, and none of it may reach the terminal raw.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = "\n".join(printable(line, limit=10_000) for line in message.split("\n"))
        if safe != message:
            record.msg, record.args = safe, ()
        return True


def escape_terminal_logs() -> None:
    """Add :class:`EscapingFilter` to the root logger's handlers (once)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, EscapingFilter) for f in handler.filters):
            handler.addFilter(EscapingFilter())


def one_line(message: object) -> str:
    """An error message as one printable line: git's multi-line stderr joined with ``; ``."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return printable("; ".join(lines) or type(message).__name__)


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment with no outside git configuration and no interactive prompts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_NO_REPLACE_OBJECTS": "1",
            "LC_ALL": "C",
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
        }
    )
    if extra:
        env.update(extra)
    return env


def git_command(args: Sequence[str], git_dir: Path | None = None, config: Sequence[str] = ()) -> list[str]:
    cmd = ["git", *HARDENING]
    for item in config:
        cmd += ["-c", item]
    if git_dir is not None:
        cmd.append(f"--git-dir={git_dir}")
    args = list(args)
    if args[:1] == ["archive"] and "--worktree-attributes" not in args:
        # By default git archive reads the archived tree's .gitattributes (export-ignore,
        # export-subst), and git's own wildmatch backtracks for minutes on a pattern like
        # ``*a*a*a*a*a*a*a*a*a*a*a*a*b`` (issue 15). A mirror is bare, so this flag means no
        # repository attributes at all: the snapshot holds every file, byte for byte.
        args.insert(1, "--worktree-attributes")
    cmd.extend(args)
    return cmd


def run_git(
    args: Sequence[str],
    git_dir: Path | None = None,
    *,
    config: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    cwd: Path | None = None,
) -> bytes:
    """Run git to completion and return stdout; raise :class:`GitError` with stderr on failure."""
    proc = subprocess.run(
        git_command(args, git_dir, config),
        input=input,
        capture_output=True,
        env=git_env(env),
        cwd=cwd,
        check=False,
    )
    if check and proc.returncode != 0:
        message = _reason(proc.stderr.decode("utf-8", "replace"))
        raise GitError(f"git {args[0]} failed ({proc.returncode}): {message}")
    return proc.stdout


def _reason(stderr: str) -> str:
    """git's stderr without its progress chatter ("Cloning into …", hints): the why, not the how."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(("Cloning into", "hint:"))]
    return "\n".join(kept or lines)


def popen_git(
    args: Sequence[str],
    git_dir: Path | None = None,
    *,
    config: Sequence[str] = (),
    stdin: int | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a streaming git process.

    stderr goes to an unnamed temporary file, not a pipe: a chatty git writing to a pipe nobody
    reads while we consume stdout would deadlock.  Read it back with :func:`read_stderr`.
    """
    err = tempfile.TemporaryFile()  # noqa: SIM115 - closed by read_stderr
    proc = subprocess.Popen(
        git_command(args, git_dir, config),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=err,
        env=git_env(env),
        bufsize=0,
    )
    proc._freshpoc_stderr = err  # type: ignore[attr-defined]
    return proc


def read_stderr(proc: subprocess.Popen[bytes]) -> str:
    err = getattr(proc, "_freshpoc_stderr", None)
    if err is None:
        return ""
    err.seek(0)
    text = err.read().decode("utf-8", "replace").strip()
    err.close()
    return text
