"""A repository that cannot be cloned is visible: the run ends failed and names it.

Before, the planning task dropped such a repository (after a dead letter) and the run ended
green with nothing run for it, so the Airflow UI, alerts and REST callers saw success.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from freshpoc_tasks.mining.access import repo_id_for
from freshpoc_tasks.stack.examples import materialise_example
from tests.integration.cleanup import scratch_name, scratch_repo
from tests.integration.pipeline.kafka_read import read_topics

DAG = "freshpoc_pipeline"
ROOT = Path(__file__).resolve().parents[3]


def _task_log(airflow_api, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    data = airflow_api.api(
        "GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
        params={"map_index": map_index, "full_content": True}, headers={"Accept": "application/json"})
    content = data.get("content", "")
    if isinstance(content, list):  # Airflow 3 answers structured log lines
        return "\n".join(str(line.get("event", line)) if isinstance(line, dict) else str(line)
                         for line in content)
    return str(content)


def test_uncloneable_repository_fails_the_run_and_the_good_one_is_processed(airflow_api, tmp_path):
    good_path, _sha = materialise_example(ROOT / "include/examples/airflow_dags",
                                          tmp_path / scratch_name("fptest"))
    bad = f"/nonexistent/freshpoc-{uuid.uuid4().hex[:8]}"
    with scratch_repo(repo_id_for(good_path)) as good_id:
        run_id = airflow_api.trigger(DAG, {"repos": [good_path, bad]})
        assert airflow_api.wait(DAG, run_id, timeout=900) == "failed"

        tis = airflow_api.api("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances",
                              params={"limit": 100})["task_instances"]
        by_label = {(t["task_id"], t.get("rendered_map_index") or str(t["map_index"])): t for t in tis}
        # The good repository went through every stage.
        stages = ("ingest", "mine", "analyse", "write_graph", "embed", "report", "record")
        good_ingest = by_label[("process.ingest", good_path)]
        good = {t["task_id"]: t["state"] for t in tis if t["map_index"] == good_ingest["map_index"]}
        assert good == {f"process.{s}": "success" for s in stages}
        # The bad one: its ingest failed, labelled with the repository, without retries
        # (a refused location is permanent), and the reason is in its log.
        failed = by_label[("process.ingest", bad)]
        assert failed["state"] == "failed"
        assert failed["try_number"] == 1
        downstream = {t["task_id"]: t["state"] for t in tis if t["map_index"] == failed["map_index"]
                      and t["task_id"] != "process.ingest"}
        assert set(downstream.values()) == {"upstream_failed"}
        log = _task_log(airflow_api, run_id, "process.ingest", failed["map_index"], 1)
        assert bad in log and "cannot be processed" in log and "not a directory" in log
        # The first task says why too, and the reason is on the dead-letter topic.
        plan_log = _task_log(airflow_api, run_id, "repositories", -1, 1)
        assert bad in plan_log and "not a directory" in plan_log
        letters = [e for _t, e in read_topics(["freshpoc.dlq"]) if e.get("run_id") == run_id]
        assert [(x["stage"], x["repo_id"]) for x in letters] == [("plan", bad)]
        assert "not a directory" in letters[0]["reason"]

        from freshpoc_tasks.hooks.registry import RepoRegistry

        assert any(r["repo_id"] == good_id and r["last_commit"] for r in RepoRegistry().repositories())
