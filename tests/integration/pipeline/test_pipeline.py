"""freshpoc_pipeline end to end on the running stack, triggered over REST like a user would.

Each test works on its own copy of an example project (a unique repository id), so the tests
hold on a stack that already has data from earlier runs or checkouts.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from freshpoc_tasks.contracts.base import read_jsonl
from freshpoc_tasks.contracts.graph import GRAPH_RECORDS, GraphDelta
from freshpoc_tasks.contracts.mining import MINING_RECORDS
from freshpoc_tasks.stack.examples import materialise_example
from tests.integration.cleanup import scratch_name, scratch_repo
from tests.integration.pipeline.kafka_read import read_topics

DAG = "freshpoc_pipeline"
ROOT = Path(__file__).resolve().parents[3]
STAGE_TOPICS = ("repos.ingested", "code.mined", "code.analyzed", "graph.applied")


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Iterator[dict]:
    """py_inventory as a fresh repository whose id no earlier run has seen; forgotten by every
    store afterwards."""
    from freshpoc_tasks.mining.access import repo_id_for

    name = scratch_name("py_inventory_e2e")
    path, sha = materialise_example(ROOT / "include/examples/py_inventory",
                                    tmp_path_factory.mktemp("repos") / name)
    with scratch_repo(repo_id_for(path)) as repo_id:
        yield {"path": path, "commit": sha, "repo_id": repo_id}


@pytest.fixture(scope="module")
def first_run(airflow_api, example) -> dict:
    run_id = airflow_api.trigger(DAG, {"repo": example["path"]})
    state = airflow_api.wait(DAG, run_id, timeout=900)
    tis = airflow_api.api("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return {"run_id": run_id, "state": state,
            "tasks": {(t["task_id"], t["map_index"]): t["state"] for t in tis}}


def _expected_delta(example: dict) -> GraphDelta:
    """What the core produces for the example, computed here without Airflow."""
    from freshpoc_tasks.analysis.stage import analyse_commit
    from freshpoc_tasks.graph.from_mining import merge_deltas, mining_delta
    from freshpoc_tasks.mining.access import open_repository
    from freshpoc_tasks.mining.pipeline import mine_repository

    with tempfile.TemporaryDirectory() as tmp:
        repo = open_repository(example["path"], Path(tmp) / "mirrors")
        mined = mine_repository(example["path"], tmp, cache_dir=Path(tmp) / "mirrors")
        analysed = analyse_commit(repo, example["commit"], tmp)
        m = mining_delta(read_jsonl(mined.artifact, MINING_RECORDS), example["repo_id"],
                         example["commit"])
        a = GraphDelta.from_records(read_jsonl(analysed.artifact, GRAPH_RECORDS))
        return merge_deltas(m, a)


def _graph(repo_id: str) -> tuple[set[str], set[tuple[str, str, str]]]:
    """Current nodes owned by the repository and their current out-edges, from Dgraph."""
    from freshpoc_tasks.graph.ontology import load_graph_ontology
    from freshpoc_tasks.graph.queries import OPEN
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    onto = load_graph_ontology()
    valid = "le(vf, $t) AND gt(vt, $t)"
    edges = " ".join(f"<{e}> @facets({valid}) @filter({valid}) {{ xid }}"
                     for e in sorted(onto.base.edge_types))
    dql = (f"query q($r: string, $t: int) {{ n(func: eq(repo, $r), first: 10000) "
           f"@filter({valid}) {{ xid {edges} }} }}")
    with DgraphHook() as hook:
        data = hook.query(dql, {"$r": repo_id, "$t": OPEN - 1})
    nodes = {n["xid"] for n in data.get("n", [])}
    out = {(e, n["xid"], d["xid"]) for n in data.get("n", []) for e in onto.base.edge_types
           for d in n.get(e, [])}
    return nodes, out


def test_first_run_succeeds_with_every_stage(first_run):
    assert first_run["state"] == "success"
    stages = {t for (t, _i), s in first_run["tasks"].items() if s == "success"}
    assert {"repositories", "process.ingest", "process.mine", "process.analyse",
            "process.write_graph", "process.embed", "process.report"} <= stages


def test_graph_holds_exactly_the_example(first_run, example):
    expected = _expected_delta(example)
    owned = {n.id for n in expected.nodes if n.scope == example["repo_id"]}
    edges = {(e.type, e.src, e.dst) for e in expected.edges if e.src in owned}
    nodes, stored_edges = _graph(example["repo_id"])
    assert nodes == owned
    assert stored_edges == edges
    # A few facts written down by hand, so the comparison above cannot pass vacuously.
    rid = example["repo_id"]
    assert f"py.module:{rid}:inventory.cli" in nodes
    assert f"repository:{rid}:{rid}" in nodes
    assert ("defined_in", f"py.module:{rid}:inventory.cli", f"file:{rid}:src/inventory/cli.py") in edges


def test_tasks_link_to_their_staged_artifacts(airflow_api, first_run, example):
    links = airflow_api.api("GET", f"/dags/{DAG}/dagRuns/{first_run['run_id']}/taskInstances/"
                            "process.mine/links", params={"map_index": 0})["extra_links"]
    key = f"staging/{example['repo_id']}/{example['commit']}/mine.jsonl.gz".replace("/", "%2F")
    assert links == {"Staged artifact": f"http://127.0.0.1:9001/browser/freshpoc/{key}"}


def test_artifacts_are_staged_in_minio(first_run, example):
    from freshpoc_tasks.hooks.staging import StagingHook

    staging = StagingHook()
    base = f"{example['repo_id']}/{example['commit']}"
    keys = [f"snapshots/{base}.tar.gz", f"snapshots/{base}.bundle",
            f"staging/{base}/mine.jsonl.gz", f"staging/{base}/analyse.jsonl.gz",
            f"staging/{base}/graph_diff.jsonl.gz", f"reports/{base}/report.md",
            f"reports/{base}/report.html", f"reports/{base}/impact.md",
            f"reports/{base}/impact.html"]
    assert [k for k in keys if not staging.check_for_key(k, bucket_name="freshpoc")] == []
    report = staging.read_key(f"reports/{base}/report.md", bucket_name="freshpoc")
    assert example["repo_id"] in report
    assert "```mermaid" in report
    diff = gzip.decompress(staging.get_key(f"staging/{base}/graph_diff.jsonl.gz",
                                           bucket_name="freshpoc").get()["Body"].read())
    assert json.loads(diff.splitlines()[0])["kind"] == "graph_diff"


def _events(repo_id: str, run_id: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {t: [] for t in STAGE_TOPICS}
    for topic, event in read_topics(list(STAGE_TOPICS)):
        if event["repo_id"] == repo_id and event["run_id"] == run_id:
            found[topic].append(event)
    return found


def test_one_event_per_stage_on_each_topic(first_run, example):
    found = _events(example["repo_id"], first_run["run_id"])
    assert {t: len(v) for t, v in found.items()} == dict.fromkeys(STAGE_TOPICS, 1)
    graph = found["graph.applied"][0]
    assert graph["commit"] == example["commit"]
    assert graph["artifact_uri"].endswith("/graph_diff.jsonl.gz")


def test_second_run_skips_and_forced_rerun_changes_nothing(airflow_api, first_run, example):
    before = _graph(example["repo_id"])
    run_id = airflow_api.trigger(DAG, {"repo": example["path"]})
    assert airflow_api.wait(DAG, run_id, timeout=600) == "success"
    states = airflow_api.task_states(DAG, run_id)
    assert states["repositories"] == "success"
    # Nothing to do: the per-repository group never started a task.
    assert {t: s for t, s in states.items() if t.startswith("process.")} == {
        t: "skipped" for t in states if t.startswith("process.")}

    forced = airflow_api.trigger(DAG, {"repo": example["path"], "force": True})
    assert airflow_api.wait(DAG, forced, timeout=900) == "success"
    xcom = airflow_api.api("GET", f"/dags/{DAG}/dagRuns/{forced}/taskInstances/process.write_graph/"
                           "xcomEntries/return_value", params={"map_index": 0})["value"]
    assert {k: v for k, v in xcom["counts"].items() if k.endswith(("_created", "_updated", "_closed"))
            and v} == {}
    assert _graph(example["repo_id"]) == before


def test_unresolvable_repository_goes_to_the_dead_letter_topic(airflow_api):
    bogus = f"/nonexistent/freshpoc-{uuid.uuid4().hex[:8]}"
    run_id = airflow_api.trigger(DAG, {"repo": bogus})
    # The repository stays in the map, marked; its ingest fails naming it, so the run fails
    # visibly (commit 3288028) while its dead letter, written once by the plan, is replayable.
    assert airflow_api.wait(DAG, run_id, timeout=300) == "failed"
    letters = [event for _topic, event in read_topics(["freshpoc.dlq"])]
    mine = [x for x in letters if x.get("run_id") == run_id]
    assert len(mine) == 1
    assert mine[0]["repo_id"] == bogus and mine[0]["stage"] == "plan"
    assert mine[0]["reason"]


def test_timestamps_are_utc(example):
    # The commit dates the examples are built with are fixed, so ids and as-of are stable.
    from freshpoc_tasks.mining.access import open_repository

    with tempfile.TemporaryDirectory() as tmp:
        repo = open_repository(example["path"], tmp)
        assert repo.commit_time(example["commit"]) == datetime(2026, 1, 1, tzinfo=UTC)
