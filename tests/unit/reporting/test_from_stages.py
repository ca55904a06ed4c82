"""Report values assembled from staged records: the impact report of one commit."""

from __future__ import annotations

from freshpoc_tasks.graph.diff import GraphDiff, NodeChange
from freshpoc_tasks.reporting.from_stages import impact_report
from freshpoc_tasks.reporting.reports import Affected

R = "local/demo"


def test_impact_lists_changes_and_owned_dependents():
    diff = GraphDiff(
        repo_id=R, commit="b" * 40, committed_at_us=1, previous_commit="a" * 40,
        nodes_added=[NodeChange(id=f"py.function:{R}:pkg.a.beta", type="py.function")],
        nodes_changed=[NodeChange(id=f"py.function:{R}:pkg.a.alpha", type="py.function")],
        nodes_removed=[NodeChange(id=f"py.function:{R}:pkg.a.gone", type="py.function")],
    )
    dependents = {
        f"py.function:{R}:pkg.a.alpha": [
            {"xid": f"py.function:{R}:pkg.b.use", "ntype": "py.function", "path": "pkg/b.py"},
            {"xid": f"py.function:{R}:pkg.a.beta", "ntype": "py.function", "path": "pkg/a.py"},
        ],
        f"py.function:{R}:pkg.a.beta": [],
    }
    report = impact_report(diff, dependents, {"pkg/b.py": "ann@example.com"})
    assert report.added == [("py.function", "pkg.a.beta")]
    assert report.changed == [("py.function", "pkg.a.alpha")]
    assert report.removed == [("py.function", "pkg.a.gone")]
    # beta changed in the same commit, so it is a change, not something affected downstream.
    assert report.impact_edges == [("pkg.a.alpha", "pkg.b.use")]
    assert report.affected == [Affected(xid=f"py.function:{R}:pkg.b.use", type="py.function",
                                        name="pkg.b.use", owners=("ann@example.com",))]


def test_trend_points_come_from_processed_commits_with_figures():
    from datetime import UTC, datetime

    from freshpoc_tasks.reporting.from_stages import trend_points
    from freshpoc_tasks.reporting.reports import TrendPoint

    history = [
        {"commit": "a" * 40, "committed_at": datetime(2025, 3, 1, 12, tzinfo=UTC), "counts": {"files": 3}},
        {"commit": "b" * 40, "committed_at": datetime(2025, 3, 2, 12, tzinfo=UTC),
         "counts": {"trend_size": 10, "trend_churn": 4, "trend_fan_in": 1}},
        {"commit": "c" * 40, "committed_at": datetime(2025, 3, 3, 12, tzinfo=UTC),
         "counts": {"trend_size": 12, "trend_churn": 6, "trend_fan_in": 2}},
    ]
    assert trend_points(history) == [
        TrendPoint(commit="b" * 40, date="2025-03-02", size=10, churn=4, fan_in=1),
        TrendPoint(commit="c" * 40, date="2025-03-03", size=12, churn=6, fan_in=2),
    ]


def test_trend_figures_count_churn_since_the_previous_processed_commit():
    from datetime import UTC, datetime

    from freshpoc_tasks.contracts.graph import Edge, GraphDelta
    from freshpoc_tasks.contracts.mining import CommitRecord, FileChange, FileRecord
    from freshpoc_tasks.reporting.from_stages import trend_figures

    def commit(day: int, added: int) -> CommitRecord:
        when = datetime(2025, 3, day, 12, tzinfo=UTC)
        return CommitRecord(sha=str(day) * 40, parents=[], author_name="a", author_email="a@x",
                            authored_at=when, committer_name="a", committer_email="a@x",
                            committed_at=when, summary="s",
                            changes=[FileChange(path="m.sql", change_type="M", added=added, deleted=1)])

    records = [FileRecord(path="m.sql", blob_sha="f" * 40, size=10, mode="100644", lines_code=7),
               commit(1, 5), commit(2, 3)]
    delta = GraphDelta(repo_id=R, commit="2" * 40, ontology_version="0.2.0",
                       edges=[Edge(type="depends_on", src="x", dst="y"),
                              Edge(type="imports", src="x", dst="z")])
    since = datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert trend_figures(records, delta, since=since) == {
        "trend_size": 7, "trend_churn": 4, "trend_fan_in": 1}
    assert trend_figures(records, delta)["trend_churn"] == 10


def test_languages_count_files_as_the_report_says():
    """The table is headed "files" and the API fills it with file counts: the staged records
    must mean the same, not lines of code."""
    from freshpoc_tasks.contracts.graph import GraphDelta
    from freshpoc_tasks.contracts.mining import FileRecord
    from freshpoc_tasks.reporting.from_stages import repository_report

    def f(path: str, language: str | None, lines: int, binary: bool = False) -> FileRecord:
        return FileRecord(path=path, blob_sha="f" * 40, size=10, mode="100644", lines_code=lines,
                          language=language, is_binary=binary)

    records = [f("a.py", "python", 500), f("b.py", "python", 3), f("c.sql", "sql", 40),
               f("d.png", "png", 0, True), f("e", None, 2)]
    report = repository_report(records, GraphDelta(repo_id=R, commit="1" * 40, ontology_version="0.2.0"))
    assert report.languages == {"python": 2, "sql": 1}
