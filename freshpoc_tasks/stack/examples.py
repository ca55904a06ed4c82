"""Turn the example projects under include/examples/ into git repositories the pipeline ingests.

Commits are made with a fixed author and date, so the same example content always has the same
commit sha on every machine: the demo and the end-to-end tests can name exact commits, and a
second ``make demo`` finds nothing new to process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

FIXED_ENV = {
    "GIT_AUTHOR_NAME": "FreshPoC Examples",
    "GIT_AUTHOR_EMAIL": "examples@freshpoc.invalid",
    "GIT_COMMITTER_NAME": "FreshPoC Examples",
    "GIT_COMMITTER_EMAIL": "examples@freshpoc.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **FIXED_ENV}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


def materialise_example(source: Path, dest: Path) -> tuple[str, str]:
    """Make ``dest`` a git repository whose HEAD holds exactly ``source``; returns (path, sha)."""
    if not (dest / ".git").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        _git(dest, "init", "-q", "-b", "main")
    for child in dest.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    shutil.copytree(source, dest, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "target", "logs"))
    _git(dest, "add", "-A")
    if _git(dest, "status", "--porcelain"):
        _git(dest, "commit", "-q", "-m", f"{source.name} example")
    return str(dest), _git(dest, "rev-parse", "HEAD")


def materialise_examples(checkout: Path, dest_root: Path) -> dict[str, str]:
    """Every example project as a repository under ``dest_root``; returns name -> path."""
    out = {}
    for source in sorted((checkout / "include" / "examples").iterdir()):
        if source.is_dir():
            path, _sha = materialise_example(source, dest_root / source.name)
            out[source.name] = path
    return out
