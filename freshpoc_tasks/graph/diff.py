"""The per-commit graph diff artifact: what changed in a repository's graph at one commit.

Computed against the *previous processed commit* of the repository (by commit time), from the
same validity runs the writer stores, so it is the same whether the commit is written once,
twice, or after a crash — and a backfilled commit is diffed against its true predecessor.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from freshpoc_tasks.contracts.base import Contract

DIFF_SCHEMA_VERSION = "1.0"


class NodeChange(Contract):
    SCHEMA_VERSION: ClassVar[str] = DIFF_SCHEMA_VERSION
    KIND: ClassVar[str] = "graph_diff_node"

    id: str
    type: str
    path: str | None = None
    # For changed nodes: field -> [before, after] when the stored properties were the "before"
    # (the usual case of writing the newest commit); None when only the hashes are known.
    fields: dict[str, list[Any]] | None = None


class EdgeChange(Contract):
    SCHEMA_VERSION: ClassVar[str] = DIFF_SCHEMA_VERSION
    KIND: ClassVar[str] = "graph_diff_edge"

    type: str
    src: str
    dst: str


class GraphDiff(Contract):
    """Added/removed/changed nodes and edges of ``repo_id`` at ``commit`` vs ``previous_commit``."""

    SCHEMA_VERSION: ClassVar[str] = DIFF_SCHEMA_VERSION
    KIND: ClassVar[str] = "graph_diff"

    repo_id: str
    commit: str
    committed_at_us: int
    previous_commit: str | None = None
    nodes_added: list[NodeChange] = Field(default_factory=list)
    nodes_removed: list[NodeChange] = Field(default_factory=list)
    nodes_changed: list[NodeChange] = Field(default_factory=list)
    edges_added: list[EdgeChange] = Field(default_factory=list)
    edges_removed: list[EdgeChange] = Field(default_factory=list)
    edges_changed: list[EdgeChange] = Field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("nodes_added", "nodes_removed", "nodes_changed",
                                                    "edges_added", "edges_removed", "edges_changed")}


GRAPH_DIFF_RECORDS: dict[str, type[Contract]] = {GraphDiff.KIND: GraphDiff}
