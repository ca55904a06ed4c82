"""Mining records -> graph delta, and merging stage deltas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node
from freshpoc_tasks.contracts.mining import (
    CommitRecord,
    Coupling,
    FileChange,
    FileHistory,
    FileRecord,
    FolderStats,
    Hotspot,
    MiningOptions,
    RepoSnapshot,
)
from freshpoc_tasks.graph.from_mining import merge_deltas, mining_delta

T = datetime(2024, 1, 2, tzinfo=UTC)
R = "local/demo"


def _records():
    return [
        RepoSnapshot(repo_id=R, location="/x/demo.git", commit="c2", committed_at=T, mined_at=T,
                     options=MiningOptions(), tool_version="0.1.0"),
        FileRecord(path="src/a.py", blob_sha="b1", size=10, mode="100644", language="python", lines_code=2),
        FileRecord(path="README.md", blob_sha="b2", size=3, mode="100644", language="markdown"),
        CommitRecord(sha="c1", parents=[], author_name="Ann", author_email="Ann@Example.com", authored_at=T,
                     committer_name="Ann", committer_email="ann@example.com", committed_at=T, summary="add",
                     changes=[FileChange(path="src/a.py", change_type="A", added=2),
                              FileChange(path="gone.py", change_type="A", added=1)]),
        CommitRecord(sha="c2", parents=["c1"], author_name="Bob", author_email="bob@example.com",
                     authored_at=T, committer_name="Bob", committer_email="bob@example.com", committed_at=T,
                     summary="edit",
                     changes=[FileChange(path="src/a.py", change_type="M", added=1, deleted=1)]),
        FileHistory(path="src/a.py", exists=True, revisions=2, added=3, deleted=1, churn=4, authors=2,
                    main_author="ann@example.com", main_author_share=0.67, bus_factor=1, first_commit="c1",
                    first_changed_at=T, last_commit="c2", last_changed_at=T, age_days=3.5,
                    coupling_revisions=2),
        FolderStats(folder="src", files=1, revisions=2, added=3, deleted=1, authors=2,
                    main_author="ann@example.com", main_author_share=0.67, bus_factor=1),
        Hotspot(path="src/a.py", revisions=2, lines_code=2, score=4, rank=1),
        Coupling(path_a="README.md", path_b="src/a.py", shared_revisions=1, average_revisions=1.5,
                 degree=66.7),
    ]


def test_tree_history_and_metrics():
    d = mining_delta(_records(), ontology_version="0.2.0")
    assert (d.repo_id, d.commit) == (R, "c2")
    assert [n.id for n in d.nodes] == [
        "commit:local/demo:c1", "commit:local/demo:c2", "file:local/demo:README.md",
        "file:local/demo:src/a.py",
        "folder:local/demo:src", "person:people:ann@example.com", "person:people:bob@example.com",
        "repository:local/demo:local/demo"]
    a = next(n for n in d.nodes if n.id == "file:local/demo:src/a.py")
    assert {k: a.props[k] for k in ("revisions", "churn", "bus_factor", "main_author", "hotspot_score")} == {
        "revisions": 2, "churn": 4, "bus_factor": 1, "main_author": "ann@example.com", "hotspot_score": 4}
    assert "age_days" not in a.props  # changes every commit without anything happening
    assert [(e.type, e.src.split(":")[-1], e.dst.split(":")[-1]) for e in d.edges] == [
        ("authored_by", "c1", "ann@example.com"), ("authored_by", "c2", "bob@example.com"),
        ("contains", "src", "src/a.py"), ("contains", "local/demo", "README.md"),
        ("contains", "local/demo", "src"), ("coupled_with", "README.md", "src/a.py"),
        ("modifies", "c1", "gone.py"), ("modifies", "c1", "src/a.py"), ("modifies", "c2", "src/a.py"),
        ("parent", "c2", "c1")]
    mod = next(e for e in d.edges if e.type == "modifies" and e.src.endswith("c2"))
    assert mod.props == {"change_type": "M", "added": 1, "removed": 1}


def test_merge_deltas_unions_and_refuses_other_commits():
    n = Node(id="file:r:a", type="file", scope="r", key="a", name="a", path="a", props={"size": 1})
    m = n.model_copy(update={"props": {"language": "python", "size": None}})
    a = GraphDelta(repo_id="r", commit="c", ontology_version="0.1.0", nodes=[n],
                   edges=[Edge(type="calls", src="x", dst="y", confidence=0.5)])
    b = GraphDelta(repo_id="r", commit="c", ontology_version="0.2.0", nodes=[m],
                   edges=[Edge(type="calls", src="x", dst="y", confidence=0.9)])
    merged = merge_deltas(a, b)
    assert merged.ontology_version == "0.2.0"
    assert merged.nodes[0].props == {"size": 1, "language": "python"}
    assert [e.confidence for e in merged.edges] == [0.9]
    with pytest.raises(ValueError, match="cannot merge"):
        merge_deltas(a, b.model_copy(update={"commit": "other"}))
