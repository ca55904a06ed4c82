"""The report core: exact Markdown for a small report, readable diagrams for large graphs."""

from __future__ import annotations

import json

import pytest

from freshpoc_tasks.reporting import (
    Affected,
    Hotspot,
    ImpactReport,
    RepositoryReport,
    coupling,
    ownership_by_folder,
    render_impact_report,
    render_repository_report,
)
from freshpoc_tasks.reporting.document import Diagram, Document, Table, to_html, to_markdown
from freshpoc_tasks.reporting.mermaid import flowchart, label, quadrant
from freshpoc_tasks.reporting.metrics import CouplingPair, bus_factor, folder_of, ownership
from freshpoc_tasks.stack.assets import MERMAID_VERSION, AssetInstallError, ensure_mermaid, mermaid_path


@pytest.mark.parametrize(("lines", "expected"), [
    ({}, 0), ({"a": 0}, 0), ({"a": 10}, 1), ({"a": 5, "b": 5}, 2), ({"a": 6, "b": 4}, 1),
    ({"a": 3, "b": 3, "c": 3, "d": 1}, 2),
])
def test_bus_factor(lines, expected):
    assert bus_factor(lines) == expected


def test_ownership_ties_go_to_first_email_and_folders_aggregate():
    assert ownership("f", {"b@x": 5, "a@x": 5}) == ownership("f", {"a@x": 5, "b@x": 5})
    assert ownership("f", {"b@x": 5, "a@x": 5}).owner == "a@x"
    assert (folder_of("README.md"), folder_of("a/b/c.py"), folder_of("a/b/c.py", 2)) == (".", "a", "a/b")
    rows = ownership_by_folder({"src/a.py": {"x@y": 10}, "src/b.py": {"z@y": 30}, "top.py": {"x@y": 1}})
    assert [(o.path, o.owner, o.share, o.bus_factor, o.authors, o.lines) for o in rows] == [
        ("src", "z@y", 0.75, 1, 2, 40), (".", "x@y", 1.0, 1, 1, 1)]


def test_coupling_follows_code_maat_degree_and_ignores_huge_changesets():
    sets = [["a", "b"], ["a", "b"], ["a"], ["a", "c"], [f"f{i}" for i in range(40)] + ["b", "c"]]
    assert coupling(sets, max_changeset_size=30) == [
        CouplingPair("a", "b", 2, 57.1),  # mean revisions (4 + 3) / 2 = 3.5
        CouplingPair("a", "c", 1, 33.3),
    ]
    assert coupling(sets, min_shared=2) == [CouplingPair("a", "b", 2, 57.1)]


def test_labels_never_let_names_into_the_grammar():
    assert label('x"]; click n0 call alert(1) %%') == '"x#34;#93;#59; click n0 call alert(1) %%"'
    view = flowchart([('a"b', "c|d")])
    assert view.source == 'flowchart LR\n  n0["a#34;b"]\n  n1["c#124;d"]\n  n0 --> n1\n'


def test_large_module_graphs_collapse_to_packages_then_top_n():
    edges = [(f"pkg{i}.mod{j}", f"pkg{(i + 1) % 10}.mod{j}") for i in range(10) for j in range(10)]
    view = flowchart(edges, max_nodes=40)
    assert view.collapsed_levels == 1 and view.omitted_nodes == 0
    assert sorted(view.nodes) == [f"pkg{i}" for i in range(10)]
    flat = flowchart(edges, max_nodes=40, sep=None)
    assert (len(flat.nodes), flat.omitted_nodes, flat.collapsed_levels) == (40, 60, 0)


def test_quadrant_points_are_unit_coordinates_mermaid_accepts():
    src = quadrant([("a.py", 1.0, 0.25), ("a.py", 2.0, -1)], title="T", x_axis=("lo", "hi"),
                   y_axis=("s", "l"), quadrants=("1", "2", "3", "4"))
    assert src.splitlines()[-2:] == ["  a.py: [1, 0.250]", "  a.py_: [1, 0.000]"]


SMALL = RepositoryReport(
    "local/demo", "0123456789abcdef", counts={"file": 2, "py.module": 2}, languages={"Python": 2},
    module_edges=[("demo.app", "demo.db")], hotspots=[Hotspot("demo/app.py", 3, 120)],
    owners=ownership_by_folder({"demo/app.py": {"ann@x": 9, "bob@x": 3}}))


def test_repository_report_markdown_is_exact():
    md, html = render_repository_report(SMALL, mermaid_src="/freshpoc/assets/mermaid.min.js")
    assert md == """# Repository report: local/demo

Commit 0123456789ab.

## Overview

| node type | count |
|---|---|
| file | 2 |
| py.module | 2 |

## Languages

| language | files | share |
|---|---|---|
| Python | 2 | 100% |

*Language mix (files)*

```mermaid
pie showData
  title Files by language
  "Python" : 2
```

## Module dependencies

*Imports between modules*

```mermaid
flowchart LR
  n0["demo.app"]
  n1["demo.db"]
  n0 --> n1
```

## dbt lineage

No dbt models.

## Hotspots

| file | revisions | size | complexity |
|---|---|---|---|
| demo/app.py | 3 | 120 |  |

*Change frequency against size: the top-right corner is where work pays off*

```mermaid
quadrantChart
  title Hotspots
  x-axis rarely changed --> often changed
  y-axis small size --> large size
  quadrant-1 refactor first
  quadrant-2 stable and large
  quadrant-3 calm
  quadrant-4 busy but small
  app.py: [1, 1]
```

## Temporal coupling

No files change together often enough to report.

## Owners and bus factor

| folder | main author | share | bus factor | authors |
|---|---|---|---|---|
| demo | ann@x | 75% | 1 | 2 |

*Main author per folder (share of added lines)*

```mermaid
flowchart LR
  n0["demo/"]
  n1["ann@x"]
  n0 -->|"75%"| n1
```

## Parse failures

Every file parsed.
"""
    assert html.count('<pre class="mermaid">') == md.count("```mermaid") == 4
    assert '<script src="/freshpoc/assets/mermaid.min.js"></script>' in html
    assert "cdn" not in html.lower()


def test_html_escapes_hostile_names_once():
    doc = Document("<t>").add(Table(("h",), (("<script>",),)), Diagram('flowchart LR\n  n0["<b>"]\n'))
    page = to_html(doc)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert '<pre class="mermaid">flowchart LR\n  n0[&quot;&lt;b&gt;&quot;]\n</pre>' in page
    md = to_markdown(Document("t").add(Table(("a|b",), (("x\ny",),))))
    assert md == "# t\n\n| a\\|b |\n|---|\n| x y |\n"


def test_impact_report_lists_changes_downstream_and_owners():
    r = ImpactReport("local/demo", "b" * 40, "a" * 40, added=[("dbt.model", "orders")],
                     impact_edges=[("orders", "customers")],
                     affected=[Affected("dbt.model:local/demo:p.customers", "dbt.model", "customers",
                                        ("ann@x",))])
    md, _ = render_impact_report(r)
    assert md.splitlines()[:3] == ["# Impact of bbbbbbbbbbbb on local/demo", "",
                                   "Compared with aaaaaaaaaaaa: 1 added, 0 removed, 0 changed; "
                                   "1 downstream nodes affected."]
    assert "| dbt.model | customers | ann@x |" in md
    assert "  class n0 focus" in md
    assert md.rstrip().endswith("- ann@x")


def test_ensure_mermaid_is_idempotent_and_explains_a_missing_npm(tmp_path):
    with pytest.raises(AssetInstallError, match="not found"):
        ensure_mermaid(tmp_path, npm="npm-that-does-not-exist")
    bundle = mermaid_path(tmp_path)
    bundle.parent.mkdir(parents=True)
    bundle.write_text("/* bundle */")
    (bundle.parents[1] / "package.json").write_text(json.dumps({"version": MERMAID_VERSION}))
    # Present and of the pinned version: no process is started (this npm would fail).
    assert ensure_mermaid(tmp_path, npm="npm-that-does-not-exist") == bundle


def test_lineage_drawn_from_stored_figures_is_the_picture_of_every_edge():
    """The API's report reads the lineage edges its figures stored (``top_connected``: the
    best-connected 40 nodes' edges and how many were left out); ``freshpoc report`` draws from
    every edge. Both must give the same diagram and caption."""
    from freshpoc_tasks.reporting.mermaid import top_connected
    from freshpoc_tasks.reporting.reports import RepositoryReport, render_repository_report

    edges = sorted({(f"src_{i % 7}", f"stg_{i}") for i in range(300)}
                   | {(f"stg_{i}", f"mart_{i % 23}") for i in range(300)}
                   | {(f"mart_{i}", f"mart_{i + 1}") for i in range(22)} | {("lonely_a", "lonely_b")})
    drawn, left_out = top_connected(edges, 40)
    assert len({n for e in drawn for n in e}) <= 40 and left_out > 0 and len(drawn) < len(edges) / 5
    assert top_connected(drawn, 40) == (drawn, 0)  # idempotent: stored edges are not cut again
    small = [("a", "b"), ("b", "c")]
    assert top_connected(small, 40) == (small, 0)

    def lineage(report: RepositoryReport) -> str:
        md = render_repository_report(report)[0]
        return md[md.index("## dbt lineage"):md.index("## Hotspots")]

    whole = lineage(RepositoryReport("r", "c", lineage_edges=edges))
    stored = lineage(RepositoryReport("r", "c", lineage_edges=drawn, lineage_left_out=left_out))
    assert whole == stored and f"({left_out} least connected nodes left out)" in whole
