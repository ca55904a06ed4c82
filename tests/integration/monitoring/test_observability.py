"""Issue 17 on the running stack: after a pipeline run, every dashboard panel's query answers
from the local Prometheus, FreshPoC's nodes-written metric equals the run's graph.applied counts,
Prometheus runs the committed rules, and the plugin's liveness route answers without a login.

Two example projects (Python, and dbt's SQL/YAML) are processed as fresh repositories in one run
of freshpoc_pipeline, triggered over REST; they are forgotten by every store afterwards.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from freshpoc_tasks.cli.stack import dashboards_dir, panel_queries
from freshpoc_tasks.operators.metrics import tag_value
from freshpoc_tasks.stack.examples import materialise_example
from tests.integration.cleanup import scratch_name, scratch_repo
from tests.integration.pipeline.kafka_read import read_topics

DAG = "freshpoc_pipeline"
ROOT = Path(__file__).resolve().parents[3]
SCRAPE_WAIT = 90  # seconds: statsd flush + a 15 s scrape interval + rule evaluation, with margin


def prom(stack, path: str, **params: str) -> dict:
    url = f"http://127.0.0.1:{stack.cfg.ports['prometheus']}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    return body["data"]


def query(stack, expr: str) -> list[dict]:
    return prom(stack, "query", query=expr)["result"]


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Iterator[list[dict]]:
    from freshpoc_tasks.mining.access import repo_id_for

    made = []
    for example in ("py_inventory", "jaffle_shop"):
        path, sha = materialise_example(ROOT / "include/examples" / example,
                                        tmp_path_factory.mktemp("repos") / scratch_name(f"{example}_obs"))
        made.append({"path": path, "commit": sha, "repo_id": repo_id_for(path)})
    with scratch_repo(made[0]["repo_id"]), scratch_repo(made[1]["repo_id"]):
        yield made


@pytest.fixture(scope="module")
def run(stack, airflow_api, examples) -> dict:
    run_id = airflow_api.trigger(DAG, {"repos": [e["path"] for e in examples]})
    state = airflow_api.wait(DAG, run_id, timeout=1200)
    assert state == "success", airflow_api.task_states(DAG, run_id)
    # The run's last samples reach Prometheus on the next scrapes.
    deadline = time.monotonic() + SCRAPE_WAIT
    repos = {tag_value(e["repo_id"]) for e in examples}
    while time.monotonic() < deadline:
        found = {r["metric"].get("repo")
                 for r in query(stack, "freshpoc_report_build_duration_seconds_count")}
        if repos <= found:
            break
        time.sleep(5)
    time.sleep(20)  # one more scrape after the last stage, and a rule evaluation
    return {"run_id": run_id}


def test_prometheus_runs_the_committed_rules(stack) -> None:
    groups = {g["name"]: g for g in prom(stack, "rules")["groups"]}
    assert {"freshpoc.recording", "freshpoc.alerts"} <= set(groups)
    assert groups["freshpoc.alerts"]["file"] == str(ROOT / "include/monitoring/prometheus/rules.yml")
    alerts = {r["name"] for r in groups["freshpoc.alerts"]["rules"]}
    assert {"AirflowDagRunFailed", "FreshpocDeadLettersGrowing", "FreshpocParseFailureRateHigh",
            "ServerDown", "AirflowSchedulerDown"} <= alerts
    bad = [(r["name"], r.get("lastError")) for g in groups.values() for r in g["rules"]
           if r.get("health") == "err"]
    assert bad == []


def test_prometheus_scrapes_every_configured_server(stack) -> None:
    targets = prom(stack, "targets")["activeTargets"]
    health = {t["labels"]["job"]: t["health"] for t in targets}
    assert {"statsd_exporter", "prometheus", "dgraph-alpha", "dgraph-zero", "minio", "kafka",
            "postgres"} <= set(health)
    assert all(h == "up" for h in health.values()), health


def test_every_panel_query_returns_a_series_after_a_run(stack, run) -> None:
    empty = [(board, panel, expr) for board, panel, expr in panel_queries(dashboards_dir(ROOT))
             if not query(stack, expr)]
    assert empty == [], "panels without data:\n" + "\n".join(f"{b} / {p}: {e}" for b, p, e in empty)


def test_nodes_written_metric_equals_the_graph_applied_counts(stack, run, examples) -> None:
    events = [e for topic, e in read_topics(["graph.applied"]) if e["run_id"] == run["run_id"]]
    assert len(events) == len(examples)
    for example in examples:
        (event,) = [e for e in events if e["repo_id"] == example["repo_id"]]
        repo = tag_value(example["repo_id"])
        for kind in ("nodes", "edges"):
            expr = f'sum by (change) (freshpoc_graph_{kind}_total{{repo="{repo}"}})'
            got = {r["metric"]["change"]: float(r["value"][1]) for r in query(stack, expr)}
            want = {c: float(event["counts"].get(f"{kind}_{c}", 0)) for c in ("created", "updated", "closed")}
            assert got == want, (example["repo_id"], kind)
            assert want["created"] > 0, (example["repo_id"], kind)  # not a vacuous equality
        # One event per stage and repository, counted by the operators as they were acknowledged.
        produced = {r["metric"]["topic"]: float(r["value"][1]) for r in
                    query(stack, f'sum by (topic) (freshpoc_events_produced_total{{repo="{repo}"}})')}
        assert produced == {"repos.ingested": 1, "code.mined": 1, "code.analyzed": 1, "graph.applied": 1}


def test_per_file_histogram_has_the_examples_languages(stack, run, examples) -> None:
    repos = "|".join(tag_value(e["repo_id"]) for e in examples)
    langs = {r["metric"]["language"] for r in
             query(stack, f'sum by (language) (freshpoc_graph_file_nodes_count{{repo=~"{repos}"}})')}
    assert {"python", "sql"} <= langs, langs


def test_liveness_route_answers_without_a_login(stack) -> None:
    with urllib.request.urlopen(f"{stack.cfg.airflow_url}/freshpoc/live", timeout=10) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"status": "ok"}
    try:
        urllib.request.urlopen(f"{stack.cfg.airflow_url}/freshpoc/health", timeout=10)
        raise AssertionError("/freshpoc/health answered without a login")
    except urllib.error.HTTPError as exc:
        assert exc.code in (401, 403)
