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


def test_a_report_with_the_commits_aggregates_says_what_they_say():
    """The pipeline passes the commit's stored aggregates: counts, languages, hotspots, coupling
    and owners are theirs (the API's overview and as-of numbers), edges still the delta's."""
    from freshpoc_tasks.contracts.graph import GraphDelta
    from freshpoc_tasks.graph import aggregates as ag
    from freshpoc_tasks.reporting.from_stages import repository_report
    from freshpoc_tasks.reporting.metrics import CouplingPair
    from freshpoc_tasks.reporting.reports import Hotspot

    files = [ag.PresentNode(f"file:{R}:{p}", "file", {"path": p, "language": "Python", "revisions": r,
                                                      "lines_code": loc})
             for p, r, loc in (("a.py", 2, 10), ("b.py", 5, 1), ("c.bin", 0, 0))]
    folder = ag.PresentNode(f"folder:{R}:src", "folder", {"path": "src", "main_author": "ann@example.com",
                                                         "main_author_share": 0.7, "bus_factor": 1,
                                                         "authors": 2, "revisions": 4})
    agg = ag.compute(R, "c" * 40, 1, [*files, folder],
                     [ag.PresentEdge("coupled_with", f"file:{R}:a.py", f"file:{R}:b.py",
                                     {"shared_revisions": 2, "degree": 57.1})])
    delta = GraphDelta(repo_id=R, commit="c" * 40, ontology_version="0.4.0")
    report = repository_report([], delta, aggregates=agg)
    assert report.counts == {"file": 3, "folder": 1} and report.languages == {"Python": 3}
    assert report.hotspots == [Hotspot("a.py", 2, 10), Hotspot("b.py", 5, 1)]  # 20 > 5
    assert report.coupling == [CouplingPair("a.py", "b.py", 2, 57.1)]
    assert [(o.path, o.owner, o.bus_factor) for o in report.owners] == [("src", "ann@example.com", 1)]
