"""What a search returns, and how a page of raw matches becomes one hit per graph node."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

SearchMode = Literal["hybrid", "bm25", "vector"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "bm25", "vector")


@dataclass(frozen=True)
class SearchHit:
    """One graph node found by search; ``xid`` joins it back to Dgraph for its neighbourhood.

    ``score`` is higher-is-better in every mode (vector mode reports cosine similarity), but
    scores of different modes are not comparable with each other.
    """

    xid: str
    score: float
    snippet: str
    name: str
    node_type: str
    language: str
    repo_id: str
    path: str
    part: int = 0


def check_mode(mode: str) -> SearchMode:
    if mode not in SEARCH_MODES:
        raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")
    return mode  # type: ignore[return-value]


def best_per_node(hits: Iterable[SearchHit], limit: int) -> list[SearchHit]:
    """Keep each node's best-scoring chunk (a long document has several), best first."""
    best: dict[str, SearchHit] = {}
    for hit in hits:
        prev = best.get(hit.xid)
        if prev is None or hit.score > prev.score:
            best[hit.xid] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.xid))[:limit]
