"""Backfills give the graph a history; a Kafka request starts freshpoc_on_push."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from freshpoc_tasks.testing import RepoBuilder
from tests.integration.cleanup import scratch_name, scratch_repo

DAG = "freshpoc_pipeline"


def _node(xid: str, at_us: int) -> list[dict]:
    from freshpoc_tasks.graph import queries as q
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    with DgraphHook() as hook:
        return hook.query(*q.node_by_xid(xid, at_us=at_us)).get("n", [])


def _timeline(repo_id: str) -> list[tuple[int, str]]:
    from freshpoc_tasks.graph import queries as q
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    with DgraphHook() as hook:
        state = hook.query(*q.commit_time(repo_id)).get("s", [])
    return [tuple(p) for p in json.loads(state[0]["fp_timeline"])] if state else []


@pytest.fixture(scope="module")
def dated_repo(tmp_path_factory) -> Iterator[dict]:
    """Three commits a day apart at noon: add alpha, change it and add beta, delete alpha."""
    from freshpoc_tasks.mining.access import repo_id_for

    repo = RepoBuilder(tmp_path_factory.mktemp("dated") / scratch_name("dated"))
    c1 = repo.commit("add alpha", date="2025-03-01T12:00:00+00:00",
                     write={"pkg/__init__.py": "", "pkg/a.py": "def alpha():\n    return 1\n"})
    c2 = repo.commit("change alpha, add beta", date="2025-03-02T12:00:00+00:00",
                     write={"pkg/a.py": "def alpha():\n    return 2\n\n\ndef beta():\n    return 3\n"})
    c3 = repo.commit("delete alpha", date="2025-03-03T12:00:00+00:00",
                     write={"pkg/a.py": "def beta():\n    return 3\n"})
    with scratch_repo(repo_id_for(str(repo.path))) as repo_id:
        yield {"path": str(repo.path), "repo_id": repo_id, "commits": [c1, c2, c3]}


def test_backfill_over_three_dates_yields_three_as_of_snapshots(airflow_api, dated_repo):
    """``airflow backfill create`` for 2025-03-02..04: each logical date sees one commit."""
    from freshpoc_tasks.graph.validity import to_us
    from freshpoc_tasks.mining.access import open_repository

    airflow_api.wait_for_dag(DAG)
    conf = json.dumps({"repo": dated_repo["path"]})
    res = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "backfill", "create", "--dag-id", DAG,
         "--from-date", "2025-03-02", "--to-date", "2025-03-04", "--dag-run-conf", conf,
         "--max-active-runs", "1", "--reprocess-behavior", "completed"],
        capture_output=True, text=True, env=os.environ, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    deadline = time.monotonic() + 900
    while True:
        runs = [r for r in airflow_api.api("GET", f"/dags/{DAG}/dagRuns",
                                           params={"limit": 100, "run_type": "backfill"})["dag_runs"]
                if (r.get("conf") or {}).get("repo") == dated_repo["path"]]
        if len(runs) == 3 and all(r["state"] in {"success", "failed"} for r in runs):
            break
        assert time.monotonic() < deadline, f"backfill runs not finished: {runs}"
        time.sleep(3)
    assert sorted(r["state"] for r in runs) == ["success"] * 3

    c1, c2, c3 = dated_repo["commits"]
    rid = dated_repo["repo_id"]
    assert [sha for _t, sha in _timeline(rid)] == [c1, c2, c3]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        repo = open_repository(dated_repo["path"], tmp)
        at = {sha: to_us(repo.commit_time(sha)) for sha in (c1, c2, c3)}
    alpha, beta = f"py.function:{rid}:pkg.a.alpha", f"py.function:{rid}:pkg.a.beta"
    present = {sha: (bool(_node(alpha, at[sha])), bool(_node(beta, at[sha]))) for sha in at}
    assert present == {c1: (True, False), c2: (True, True), c3: (False, True)}
    # With history, the last report draws trends over the processed commits.
    from freshpoc_tasks.hooks.staging import StagingHook

    report = StagingHook().read_key(f"reports/{rid}/{c3}/report.md", bucket_name="freshpoc")
    assert "Churn per processed commit" in report


def test_message_on_repos_requested_starts_on_push(airflow_api, tmp_path):
    from freshpoc_tasks.mining.access import repo_id_for
    from freshpoc_tasks.stack.examples import materialise_example

    root = Path(__file__).resolve().parents[3]
    name = scratch_name("pulumi_push")
    path, sha = materialise_example(root / "include/examples/pulumi_datalake", tmp_path / name)
    with scratch_repo(repo_id_for(path)) as repo_id:
        _on_push(airflow_api, name, path, sha, repo_id)


def _on_push(airflow_api, name: str, path: str, sha: str, repo_id: str) -> None:
    from freshpoc_tasks.hooks.events import EventPublisher

    airflow_api.wait_for_dag("freshpoc_on_push")
    airflow_api.api("PATCH", "/dags/freshpoc_on_push", json={"is_paused": False})
    # Give the triggerer a moment to pick up the watcher of a DAG that was just unpaused.
    time.sleep(5)
    EventPublisher()._send("repos.requested", name, json.dumps({"repo": path}))
    deadline = time.monotonic() + 600
    while not _node(f"repository:{repo_id}:{repo_id}", 253402300799999998):
        assert time.monotonic() < deadline, "the requested repository never reached the graph"
        time.sleep(3)
    runs = airflow_api.api("GET", "/dags/freshpoc_on_push/dagRuns",
                           params={"limit": 20, "order_by": "-start_date"})["dag_runs"]
    assert runs and runs[0]["run_type"] == "asset_triggered"
    # The run goes on after write_graph (embed, report): let it finish, so what it writes is
    # there when the repository is forgotten.
    assert airflow_api.wait("freshpoc_on_push", runs[0]["dag_run_id"], timeout=600) == "success"
    assert [sha for _t, sha in _timeline(repo_id)] == [sha]
