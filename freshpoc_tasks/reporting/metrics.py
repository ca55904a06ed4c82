"""Ownership, bus factor and temporal coupling from plain per-commit values.

The query API computes these from what the graph holds (commit -modifies-> file, commit
-authored_by-> person), and reports reuse the same functions, so an API answer and a report
never count differently.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations


@dataclass(frozen=True)
class Ownership:
    """Who wrote a path (file or folder): ``share`` is the main author's share of added lines."""

    path: str
    owner: str | None
    share: float
    bus_factor: int
    authors: int
    lines: int


@dataclass(frozen=True)
class CouplingPair:
    """Two files that change together; ``degree`` as code-maat: shared / mean revisions, in %."""

    a: str
    b: str
    shared: int
    degree: float


def bus_factor(lines_by_author: Mapping[str, int]) -> int:
    """Fewest authors who together wrote more than half the lines (0 for no lines)."""
    total = sum(lines_by_author.values())
    if total <= 0:
        return 0
    covered = 0
    for n, lines in enumerate(sorted(lines_by_author.values(), reverse=True), 1):
        covered += lines
        if covered * 2 > total:
            return n
    return len(lines_by_author)


def ownership(path: str, lines_by_author: Mapping[str, int]) -> Ownership:
    """Main author by added lines; ties go to the alphabetically first e-mail (stable output)."""
    total = sum(lines_by_author.values())
    if not lines_by_author:
        return Ownership(path, None, 0.0, 0, 0, 0)
    owner, top = min(lines_by_author.items(), key=lambda kv: (-kv[1], kv[0]))
    share = round(top / total, 4) if total else 0.0
    return Ownership(path, owner, share, bus_factor(lines_by_author), len(lines_by_author), total)


def folder_of(path: str, depth: int = 1) -> str:
    """The first ``depth`` folders of a path; files at the root belong to ``.``."""
    parts = path.split("/")[:-1]
    return "/".join(parts[:depth]) if parts else "."


def ownership_by_folder(file_lines: Mapping[str, Mapping[str, int]], depth: int = 1) -> list[Ownership]:
    """Aggregate per-file author lines into folders of ``depth`` levels, largest first."""
    folders: dict[str, Counter[str]] = defaultdict(Counter)
    for path, by_author in file_lines.items():
        folders[folder_of(path, depth)].update(by_author)
    rows = [ownership(folder, counts) for folder, counts in folders.items()]
    return sorted(rows, key=lambda o: (-o.lines, o.path))


def coupling(changesets: Iterable[Iterable[str]], *, min_revisions: int = 1, min_shared: int = 1,
             min_degree: float = 0.0, max_changeset_size: int = 30) -> list[CouplingPair]:
    """Temporal coupling over commits' changed-file sets, strongest first.

    Change sets larger than ``max_changeset_size`` (mass renames, formatting sweeps) say nothing
    about design and would couple everything, so they count for revisions but not for pairs.
    """
    revisions: Counter[str] = Counter()
    shared: Counter[tuple[str, str]] = Counter()
    for files in changesets:
        unique = sorted(set(files))
        revisions.update(unique)
        if len(unique) <= max_changeset_size:
            shared.update(combinations(unique, 2))
    out = []
    for (a, b), n in shared.items():
        mean = (revisions[a] + revisions[b]) / 2
        if n < min_shared or mean < min_revisions:
            continue
        degree = round(100.0 * n / mean, 1)
        if degree >= min_degree:
            out.append(CouplingPair(a, b, n, degree))
    return sorted(out, key=lambda p: (-p.degree, -p.shared, p.a, p.b))
