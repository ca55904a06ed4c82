"""freshpoc_smoke triggered through Airflow's REST API v2, as a user or CI system would."""

from __future__ import annotations

import httpx


def test_token_is_required(stack):
    resp = httpx.get(f"{stack.cfg.airflow_url}/api/v2/dags/freshpoc_smoke")
    assert resp.status_code == 401


def test_smoke_dag_succeeds_over_rest(airflow_api):
    run_id = airflow_api.trigger("freshpoc_smoke")
    assert airflow_api.wait("freshpoc_smoke", run_id, timeout=600) == "success"
    states = airflow_api.task_states("freshpoc_smoke", run_id)
    assert states == {t: "success" for t in ("kafka", "dgraph", "minio", "weaviate", "postgres",
                                             "report")}
    xcom = airflow_api.api(
        "GET", f"/dags/freshpoc_smoke/dagRuns/{run_id}/taskInstances/report/xcomEntries/return_value",
        params={"deserialize": True})
    report = xcom["value"]
    assert sorted(report) == ["dgraph", "kafka", "minio", "postgres", "weaviate"]
    assert report["minio"] == f"s3://freshpoc/smoke/{run_id}.json"
    assert report["postgres"] == f"freshpoc.smoke row {run_id}"
