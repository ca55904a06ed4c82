"""Kafka stops in the middle of a run: tasks retry, the run completes, nothing is duplicated."""

from __future__ import annotations

import time
from pathlib import Path

from freshpoc_tasks.mining.access import repo_id_for
from freshpoc_tasks.stack.examples import materialise_example
from tests.integration.cleanup import scratch_name, scratch_repo
from tests.integration.pipeline.kafka_read import read_topics

DAG = "freshpoc_pipeline"
TOPICS = ("repos.ingested", "code.mined", "code.analyzed", "graph.applied")


def _events(run_id: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {t: [] for t in TOPICS}
    for topic, event in read_topics(list(TOPICS)):
        if event["run_id"] == run_id:
            found[topic].append(event["event_id"])
    return found


def test_run_survives_a_kafka_outage(stack, airflow_api, tmp_path):
    root = Path(__file__).resolve().parents[3]
    name = scratch_name("airflow_dags_outage")
    path, _sha = materialise_example(root / "include/examples/airflow_dags", tmp_path / name)
    with scratch_repo(repo_id_for(path)) as repo_id:
        _outage_run(stack, airflow_api, path, repo_id)


def _outage_run(stack, airflow_api, path: str, repo_id: str) -> None:
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    kafka = stack.service("kafka")
    run_id = airflow_api.trigger(DAG, {"repo": path})
    try:
        # Stop the broker as soon as the run's first stage has started publishing.
        deadline = time.monotonic() + 120
        while airflow_api.task_states(DAG, run_id).get("process.ingest") not in {
                "running", "success", "up_for_retry"}:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert stack.sup.ctl("stop", "kafka").returncode == 0
        # Longer than a publish waits for the broker (30 s): a task in flight fails and retries.
        time.sleep(45)
    finally:
        assert stack.sup.ctl("start", "kafka").returncode == 0
    ok_deadline = time.monotonic() + 120
    while not kafka.health()[0]:
        assert time.monotonic() < ok_deadline, "Kafka did not come back"
        time.sleep(1)
    assert airflow_api.wait(DAG, run_id, timeout=900) == "success"
    tries = {t["task_id"]: t["try_number"] for t in airflow_api.api(
        "GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]}
    assert max(tries.values()) > 1, f"the outage hit no task: {tries}"

    events = _events(run_id)
    # Every stage's event is there; a retried task re-sends the same event id, never a new one.
    assert {t: len(set(ids)) for t, ids in events.items()} == dict.fromkeys(TOPICS, 1)
    with DgraphHook() as hook:
        data = hook.query("query q($r: string) { n(func: eq(repo, $r), first: 100000) { xid } }",
                          {"$r": repo_id})
    xids = [n["xid"] for n in data["n"]]
    assert xids and len(xids) == len(set(xids))
