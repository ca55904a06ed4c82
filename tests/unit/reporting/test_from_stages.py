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
