"""One place that runs git, so every call gets the same hardening.

Repositories are untrusted: their config, hooks, attributes-driven filters and remote helpers
must never run code on this machine.  Rather than trusting each call site to remember the
right flags, every git process goes through :func:`git_command`, which pins the environment
(no system/global config, no prompts, an allow-list of transports) and prefixes ``-c`` options
that disable hooks, fsmonitor and submodule recursion.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
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
)  # fmt: skip


class GitError(RuntimeError):
    """A git command failed; the message carries its stderr (never a credential)."""


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
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"git {args[0]} failed ({proc.returncode}): {message}")
    return proc.stdout


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
