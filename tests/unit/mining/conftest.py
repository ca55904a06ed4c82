from __future__ import annotations

from pathlib import Path

import pytest

from freshpoc_tasks.mining.access import Repository, open_repository
from freshpoc_tasks.testing import RepoBuilder


@pytest.fixture
def builder(tmp_path: Path) -> RepoBuilder:
    return RepoBuilder(tmp_path / "src" / "demo.git")


@pytest.fixture
def open_repo(tmp_path: Path):
    def _open(b: RepoBuilder) -> Repository:
        return open_repository(str(b.path), tmp_path / "cache")

    return _open
