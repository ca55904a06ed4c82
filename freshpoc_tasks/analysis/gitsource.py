"""Feed the analysis core from a mined repository: inventory in, ``SourceFile`` values out.

The only place analysis touches git, and only through the miner's API
(``Repository.read_blobs`` and ``iter_inventory``), so the core stays testable from strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from freshpoc_tasks.analysis.model import SourceFile

if TYPE_CHECKING:
    from freshpoc_tasks.mining.access import Repository

# What the built-in analyzers can claim; everything else is never read.
RELEVANT_SUFFIXES = frozenset({".py", ".pyi", ".sql", ".yml", ".yaml", ".csv"})
# Inventory skip reasons we still analyse, so the reason lands on the file as a diagnostic.
ANALYSED_DESPITE = frozenset({None, "not_utf8"})


def is_relevant(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in RELEVANT_SUFFIXES


def iter_source_files(repo: Repository, commit: str, max_bytes: int = 8 * 1024 * 1024,
                      include_generated: bool = False) -> Iterator[SourceFile]:
    """Source files of ``commit`` the analyzers may want, content read in one blob stream."""
    from freshpoc_tasks.mining.inventory import iter_inventory

    wanted: dict[str, list[tuple[str, str | None]]] = {}
    for rec in iter_inventory(repo, commit, max_bytes=max_bytes):
        if rec.skipped_reason not in ANALYSED_DESPITE or rec.is_binary or rec.is_vendored:
            continue
        if rec.is_generated and not include_generated:
            continue
        if not rec.path_is_utf8 or not is_relevant(rec.path):
            continue
        wanted.setdefault(rec.blob_sha, []).append((rec.path, rec.language))
    for sha, data in repo.read_blobs(list(wanted)):
        for path, language in wanted.get(sha, []):
            yield SourceFile(path=path, blob_sha=sha, content=data, language=language)
