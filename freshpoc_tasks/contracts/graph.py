"""Records of the analysis stage: one typed graph delta per repository and commit.

A delta is what the graph stage upserts into Dgraph. Ids are deterministic
(``<type>:<scope>:<natural key>``) so applying the same delta twice, or two deltas that name the
same table or distribution, converges on one node instead of duplicating it. Streaming order in
JSONL is header, nodes, edges, diagnostics, proposals, so a reader can create nodes before the
edges that point at them without holding the whole file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Literal

from pydantic import Field

from freshpoc_tasks.contracts.base import Contract

GRAPH_SCHEMA_VERSION = "1.0"


def node_id(node_type: str, scope: str, key: str) -> str:
    """Build the ``xid`` of a node; the single place that knows the id grammar."""
    return f"{node_type}:{scope}:{key}"


def edge_id(edge_type: str, src: str, dst: str) -> str:
    """Edges are identified by their ends and type, so re-emitting one is idempotent."""
    return f"{edge_type}|{src}|{dst}"


class Node(Contract):
    """A typed vertex; ``props`` holds the fields the ontology declares for ``type``."""

    SCHEMA_VERSION: ClassVar[str] = GRAPH_SCHEMA_VERSION
    KIND: ClassVar[str] = "node"

    id: str
    type: str
    scope: str
    key: str
    name: str
    path: str | None = None
    span: tuple[int, int] | None = None
    props: dict[str, Any] = Field(default_factory=dict)


class Edge(Contract):
    """A typed, directed relation; ``confidence`` is 1.0 unless resolution had to guess."""

    SCHEMA_VERSION: ClassVar[str] = GRAPH_SCHEMA_VERSION
    KIND: ClassVar[str] = "edge"

    type: str
    src: str
    dst: str
    confidence: float = 1.0
    props: dict[str, Any] = Field(default_factory=dict)

    @property
    def id(self) -> str:
        return edge_id(self.type, self.src, self.dst)


class Diagnostic(Contract):
    """Something an analyzer could not do for one file; recorded, never raised."""

    SCHEMA_VERSION: ClassVar[str] = GRAPH_SCHEMA_VERSION
    KIND: ClassVar[str] = "diagnostic"

    path: str
    analyzer: str
    severity: Literal["info", "warning", "error"] = "error"
    code: str
    message: str
    line: int | None = None


# ParseFailure is the name other stages looked for in the design notes; it is a Diagnostic.
ParseFailure = Diagnostic


class ProposedType(Contract):
    """A node or edge type an analyzer wanted to emit that the ontology does not declare.

    Kept apart from nodes/edges so an undeclared type never reaches the database, while the
    ontology owner can still see what analyzers are asking for.
    """

    SCHEMA_VERSION: ClassVar[str] = GRAPH_SCHEMA_VERSION
    KIND: ClassVar[str] = "proposed_type"

    category: Literal["node", "edge"]
    type: str
    analyzer: str
    example: str
    count: int = 1


class DeltaHeader(Contract):
    """First line of a streamed delta: what was analysed, by which analyzer versions."""

    SCHEMA_VERSION: ClassVar[str] = GRAPH_SCHEMA_VERSION
    KIND: ClassVar[str] = "graph_delta"

    repo_id: str
    commit: str | None = None
    ontology_version: str
    analyzers: dict[str, str] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)


class GraphDelta(Contract):
    """The whole analysis result for one repository at one commit."""

    SCHEMA_VERSION: ClassVar[str] = GRAPH_SCHEMA_VERSION
    KIND: ClassVar[str] = "graph_delta_full"

    repo_id: str
    commit: str | None = None
    ontology_version: str
    analyzers: dict[str, str] = Field(default_factory=dict)
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    proposed: list[ProposedType] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "nodes": len(self.nodes),
            "edges": len(self.edges),
            "diagnostics": len(self.diagnostics),
            "proposed": len(self.proposed),
        }

    def header(self) -> DeltaHeader:
        return DeltaHeader(
            repo_id=self.repo_id,
            commit=self.commit,
            ontology_version=self.ontology_version,
            analyzers=self.analyzers,
            counts=self.counts(),
        )

    def iter_records(self) -> Iterator[Contract]:
        """Header, then nodes before edges, for streaming with ``write_jsonl``."""
        yield self.header()
        yield from self.nodes
        yield from self.edges
        yield from self.diagnostics
        yield from self.proposed

    @classmethod
    def from_records(cls, records: Iterable[Contract]) -> GraphDelta:
        header: DeltaHeader | None = None
        parts: dict[str, list[Any]] = {"nodes": [], "edges": [], "diagnostics": [], "proposed": []}
        for rec in records:
            if isinstance(rec, DeltaHeader):
                header = rec
            elif isinstance(rec, Node):
                parts["nodes"].append(rec)
            elif isinstance(rec, Edge):
                parts["edges"].append(rec)
            elif isinstance(rec, Diagnostic):
                parts["diagnostics"].append(rec)
            elif isinstance(rec, ProposedType):
                parts["proposed"].append(rec)
        if header is None:
            raise ValueError("a streamed graph delta must start with its graph_delta header")
        return cls(
            repo_id=header.repo_id,
            commit=header.commit,
            ontology_version=header.ontology_version,
            analyzers=header.analyzers,
            **parts,
        )


GRAPH_RECORDS: dict[str, type[Contract]] = {
    m.KIND: m for m in (DeltaHeader, Node, Edge, Diagnostic, ProposedType)
}
