"""Shared by the ``freshpoc report`` tests: a scripted repository and two report runs into one folder.

The repository holds the jaffle_shop dbt project and the py_inventory package (two commits: the
customers mart arrives in the second), so the tests' numbers are exact.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from freshpoc_tasks.testing import RepoBuilder

ROOT = Path(__file__).resolve().parents[3]


def _files(name: str, prefix: str) -> dict[str, str]:
    base = ROOT / "include" / "examples" / name
    return {prefix + p.relative_to(base).as_posix(): p.read_text() for p in sorted(base.rglob("*"))
            if p.is_file() and "target" not in p.relative_to(base).parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[Path, str, str]:
    full = {**_files("jaffle_shop", "jaffle/"), **_files("py_inventory", "inv/")}
    first = {p: t for p, t in full.items() if "marts/customers" not in p}
    repo = RepoBuilder(tmp_path_factory.mktemp("repo") / "shop.git")
    c1 = repo.commit("one", author="Ann <ann@example.com>", write=first, date="2024-01-01T10:00:00+00:00")
    c2 = repo.commit("two", author="Bob <bob@example.com>", date="2024-02-01T10:00:00+00:00",
                     write={p: t for p, t in full.items() if p not in first})
    return repo.path, c1, c2


@pytest.fixture(scope="module")
def reported(history, tmp_path_factory) -> dict:
    """Two runs into one folder: c1, then c2 with --since c1 and every format."""
    path, c1, c2 = history
    base = tmp_path_factory.mktemp("out")
    caches = ["--mirrors", str(base / "mirrors"), "--cache", str(base / "cache")]
    out = base / "report"
    runs = []
    for argv in (["report", str(path), "--ref", c1, "--out", str(out), *caches],
                 ["report", str(path), "--ref", c2, "--since", c1, "--out", str(out),
                  "--format", "md,html,json", *caches]):
        proc = subprocess.run([sys.executable, "-m", "freshpoc_tasks.cli.main", *argv], capture_output=True,
                              text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        runs.append(proc)
    return {"out": out, "runs": runs, "c1": c1, "c2": c2, "caches": caches, "path": path}
