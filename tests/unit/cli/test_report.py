"""``freshpoc report`` and the local questions, end to end on a scripted repository.

The repository holds the jaffle_shop dbt project and the py_inventory package (two commits: the
customers mart arrives in the second), so the numbers below are exact: which files are analysed
and which come from the content cache, which nodes a lineage or dependency walk reaches.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from freshpoc_tasks.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
GML = "{http://graphml.graphdrawing.org/xmlns}"
# Top-level modules of the servers' clients and of Airflow: none may be imported by `report`.
SERVER_MODULES = ("airflow", "confluent_kafka", "kafka", "pydgraph", "grpc", "minio", "boto3", "botocore",
                  "weaviate", "psycopg", "psycopg2", "fastapi", "httpx")


def _analysed(stderr: str) -> tuple[int, int, int]:
    m = re.search(r"analyse: (\d+) files: (\d+) analysed, (\d+) from cache", stderr)
    assert m, stderr
    return int(m[1]), int(m[2]), int(m[3])


def _present(stdout: str) -> int:
    m = re.search(r"(\d+) nodes of the repository at this commit", stdout)
    assert m, stdout
    return int(m[1])


def test_second_run_on_a_newer_commit_analyses_only_what_changed(reported):
    first, second = reported["runs"]
    assert _analysed(first.stderr) == (17, 17, 0)
    assert _analysed(second.stderr) == (18, 1, 17)  # only models/marts/customers.sql is new
    assert "mine: 1 commits (incremental after" in second.stderr
    for stage in ("resolve", "mine", "analyse", "graph", "report"):  # one progress line per stage
        assert re.search(rf"^\s*{stage}: .*\(\d+\.\d+s\)$", second.stderr, re.M), stage


def test_report_and_graph_files_are_written(reported):
    out = reported["out"]
    for name in ("report.md", "report.html", "report.json", "impact.md", "impact.html", "impact.json",
                 "graph/nodes.jsonl", "graph/edges.jsonl", "graph/state.json", "graph/graph.graphml"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    md = (out / "report.md").read_text()
    assert md.startswith("# Repository report: local/shop") and "```mermaid" in md
    data = json.loads((out / "report.json").read_text())
    assert data["commit"] == reported["c2"] and data["lineage_edges"]
    nodes = [json.loads(line) for line in (out / "graph/nodes.jsonl").read_text().splitlines()]
    edges = [json.loads(line) for line in (out / "graph/edges.jsonl").read_text().splitlines()]
    assert [n["xid"] for n in nodes] == sorted(n["xid"] for n in nodes)
    assert all({"vf", "vt", "vs"} <= set(n) for n in nodes) and all({"type", "src", "dst", "vf"} <= set(e)
                                                                    for e in edges)
    state = json.loads((out / "graph/state.json").read_text())
    (_repo_id, points), = state["timelines"].items()
    assert [sha for _, sha in points] == [reported["c1"], reported["c2"]]


def test_graphml_is_well_formed_and_matches_the_current_graph(reported):
    out = reported["out"]
    root = ET.parse(out / "graph/graph.graphml").getroot()
    graph = root.find(f"{GML}graph")
    ids = {n.get("id") for n in graph.findall(f"{GML}node")}
    edges = graph.findall(f"{GML}edge")
    current = [json.loads(line) for line in (out / "graph/nodes.jsonl").read_text().splitlines()]
    assert ids == {n["xid"] for n in current if n["vt"] == 253402300799999999}
    assert edges and all(e.get("source") in ids and e.get("target") in ids for e in edges)
    keys = {k.get("attr.name"): k.get("attr.type") for k in root.findall(f"{GML}key")
            if k.get("for") == "node"}
    assert keys["ntype"] == "string" and keys["size"] == "long" and "vs" not in keys


@pytest.mark.slow
def test_graphml_loads_in_networkx(reported):
    """The format's point is that graph tools load it: networkx's reader, in a venv of its own."""
    sys.path.insert(0, str(ROOT))
    from tests.unit.analysis.toolvenv import tool_venv

    venv = tool_venv("networkx", ["networkx"])
    code = ("import sys, networkx as nx; g = nx.read_graphml(sys.argv[1]); "
            "print(g.number_of_nodes(), g.number_of_edges(), g.is_directed())")
    path = str(reported["out"] / "graph/graph.graphml")
    proc = subprocess.run([str(venv / "bin/python"), "-c", code, path],
                          capture_output=True, text=True, check=True, timeout=120)
    root = ET.parse(reported["out"] / "graph/graph.graphml").getroot()
    n = len(root.findall(f"{GML}graph/{GML}node"))
    m = len(root.findall(f"{GML}graph/{GML}edge"))
    assert proc.stdout.split() == [str(n), str(m), "True"]


def test_impact_since_the_first_commit(reported):
    md = (reported["out"] / "impact.md").read_text()
    assert md.startswith(f"# Impact of {reported['c2'][:12]}")
    assert f"Compared with {reported['c1'][:12]}: 4 added, 0 removed" in md
    impact = json.loads((reported["out"] / "impact.json").read_text())
    assert sorted(map(tuple, impact["added"])) == [("dbt.model", "customers"), ("dbt.test", "not_null"),
                                                   ("dbt.test", "unique"), ("file", "customers.sql")]
    assert impact["impact_edges"] == [["customers (dbt.model)", "customers (sql.table)"]]


def test_lineage_deps_and_node_answer_from_the_local_graph(reported, capsys):
    graph = str(reported["out"])
    assert main(["lineage", "jaffle_shop.customers", "--graph", graph, "--depth", "1", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["root"]["type"] == "dbt.model" and answer["direction"] == "up"
    assert {(n["type"], n["name"], n["depth"]) for n in answer["nodes"]} == {
        ("dbt.model", "orders", 1), ("dbt.model", "stg_customers", 1), ("sql.table", "customers", 1)}
    assert main(["lineage", "jaffle_shop.stg_customers", "--graph", graph, "--down", "--depth", "1",
                 "--json"]) == 0
    down = json.loads(capsys.readouterr().out)
    assert {n["name"] for n in down["nodes"]} == {"customers", "stg_customers"}
    assert main(["deps", "inventory.cli", "--graph", graph, "--json"]) == 0
    deps = json.loads(capsys.readouterr().out)
    assert {n["xid"].rsplit(":", 1)[-1] for n in deps["nodes"]} == {
        "python-stdlib", "inventory.cli.main", "inventory.core", "inventory.db"}
    assert main(["node", "jaffle_shop.customers", "--graph", graph, "--json"]) == 0
    node = json.loads(capsys.readouterr().out)
    assert node["files"] == ["jaffle/models/marts/customers.sql"] and node["valid_to"] is None
    # As of the first commit the customers model did not exist yet.
    assert main(["node", "jaffle_shop.customers", "--graph", graph, "--at", reported["c1"][:8]]) == 2
    assert "no node" in capsys.readouterr().err


def test_unclear_questions_get_one_clear_line(reported, tmp_path, capsys):
    graph = str(reported["out"])
    assert main(["lineage", "customers", "--graph", graph]) == 2
    err = capsys.readouterr().err
    assert "names 3+ nodes" in err and "dbt.model:" in err and "sql.table:default:" in err
    assert main(["deps", "nothing.like.this", "--graph", graph]) == 2
    assert "no node 'nothing.like.this'" in capsys.readouterr().err
    assert main(["deps", "x", "--graph", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: no graph in")
    assert main(["report", str(reported["path"]), "--format", "pdf", "--out", str(tmp_path)]) == 2
    assert "--format takes md, html, json" in capsys.readouterr().err


def test_report_imports_no_airflow_and_no_server_client(reported, tmp_path):
    """Checked in a fresh interpreter: whatever the test session imported does not count."""
    argv = ["report", str(reported["path"]), "--ref", reported["c1"], "--out", str(tmp_path / "o"),
            "--format", "md,html,json", *reported["caches"]]
    code = ("import sys; from freshpoc_tasks.cli.main import main; rc = main(sys.argv[1:]); "
            f"bad = sorted({{m.split('.')[0] for m in sys.modules}} & set({SERVER_MODULES!r})); "
            "own = sorted(m for m in sys.modules if m.startswith(('freshpoc_tasks.hooks', "
            "'freshpoc_tasks.operators', 'freshpoc_tasks.stack.manager', 'freshpoc_tasks.api'))); "
            "print(rc, bad, own)")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300,
                          check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.stdout.strip().splitlines()[-1] == "0 [] []", proc.stderr


def test_rerun_of_the_same_commit_keeps_the_graph_files(reported):
    out = reported["out"]
    before = {p: (out / "graph" / p).read_bytes() for p in ("nodes.jsonl", "edges.jsonl", "state.json")}
    proc = subprocess.run([sys.executable, "-m", "freshpoc_tasks.cli.main", "report", str(reported["path"]),
                           "--ref", reported["c2"], "--out", str(out), *reported["caches"]],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"graph: unchanged since the last run of {reported['c2'][:12]}" in proc.stderr
    assert _analysed(proc.stderr) == (18, 0, 18)
    assert {p: (out / "graph" / p).read_bytes() for p in before} == before
    # The rerun mines no new commit, so its delta lacks the commits and their authors; the summary
    # line still gives the repository's nodes at the commit, as the first run and the report do.
    first, again = _present(reported["runs"][1].stdout), _present(proc.stdout)
    figures = json.loads((out / "report.json").read_text())
    assert first == again == sum(figures["counts"].values()), (first, again)


def test_since_a_commit_never_reported_processes_it_first(reported, tmp_path):
    """--since into an empty folder: the older commit is mined and analysed too, put on the local
    timeline, and the impact report compares the two — the same answer as reporting both in turn."""
    out = tmp_path / "fresh"
    proc = subprocess.run([sys.executable, "-m", "freshpoc_tasks.cli.main", "report", str(reported["path"]),
                           "--ref", reported["c2"], "--since", reported["c1"], "--out", str(out),
                           "--format", "json", *reported["caches"]],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    state = json.loads((out / "graph/state.json").read_text())
    assert [sha for _, sha in next(iter(state["timelines"].values()))] == [reported["c1"], reported["c2"]]
    fresh = json.loads((out / "impact.json").read_text())
    assert fresh == json.loads((reported["out"] / "impact.json").read_text())
