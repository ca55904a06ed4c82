"""Feed the analysis core from a mined repository: inventory in, ``SourceFile`` values out.

The only place analysis touches git, and only through the miner's API
(``Repository.read_blobs`` and ``iter_inventory``), so the core stays testable from strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from freshpoc_tasks.analysis.model import SourceFile

if TYPE_CHECKING:
    from freshpoc_tasks.mining.access import Repository

# What the built-in analyzers can claim; everything else is never read.
RELEVANT_SUFFIXES = frozenset({".py", ".pyi", ".sql", ".yml", ".yaml", ".csv"})
# Inventory skip reasons we still analyse, so the reason lands on the file as a diagnostic.
ANALYSED_DESPITE = frozenset({None, "not_utf8"})


def is_relevant(path: str) -> bool:
    # ``PurePosixPath(path).suffix`` by string operations (git's paths are clean), once per file
    name = path.rsplit("/", 1)[-1]
    i = name.rfind(".")
    return 0 < i < len(name) - 1 and name[i:].lower() in RELEVANT_SUFFIXES


def iter_source_files(repo: Repository, commit: str, max_bytes: int = 8 * 1024 * 1024,
                      include_generated: bool = False) -> Iterator[SourceFile]:
    """Source files of ``commit`` the analyzers may want, with the content the inventory read
    (one blob stream; line counts, which only mining reads, not computed). Grouped by blob in
    the order each blob first appears, as one ``read_blobs`` of the wanted blobs would give them."""
    from freshpoc_tasks.mining.inventory import iter_inventory_content

    wanted: dict[str, list[tuple[str, str | None]]] = {}
    contents: dict[str, bytes] = {}
    for rec, data in iter_inventory_content(repo, commit, max_bytes=max_bytes, count=False):
        if rec.skipped_reason not in ANALYSED_DESPITE or rec.is_binary or rec.is_vendored:
            continue
        if rec.is_generated and not include_generated:
            continue
        if not rec.path_is_utf8 or not is_relevant(rec.path):
            continue
        if data is None:  # never read: only submodules and files over the cap, both skipped above
            continue
        wanted.setdefault(rec.blob_sha, []).append((rec.path, rec.language))
        contents.setdefault(rec.blob_sha, data)
    for sha, paths in wanted.items():
        for path, language in paths:
            yield SourceFile(path=path, blob_sha=sha, content=contents[sha], language=language)
