"""``freshpoc dlq replay`` re-submits a dead letter after the fix, once: replaying again changes
nothing (no new DAG run, no new ledger row, the graph and registry as they were)."""

from __future__ import annotations

from pathlib import Path

from freshpoc_tasks.cli import dlq
from freshpoc_tasks.mining.access import repo_id_for
from freshpoc_tasks.stack.examples import materialise_example
from tests.integration.cleanup import scratch_name, scratch_repo

DAG = "freshpoc_pipeline"
ROOT = Path(__file__).resolve().parents[3]


def _replay_runs(airflow_api) -> set[str]:
    runs = airflow_api.api("GET", f"/dags/{DAG}/dagRuns",
                           params={"limit": 100, "order_by": "-start_date"})["dag_runs"]
    return {r["dag_run_id"] for r in runs if r["dag_run_id"].startswith(dlq.RUN_PREFIX)}


def test_replay_after_the_fix_processes_the_repository_once(airflow_api, tmp_path, capsys):
    from freshpoc_tasks.hooks.events import ReplayLedger, read_dead_letters
    from freshpoc_tasks.hooks.registry import RepoRegistry

    # Not there yet: the run fails and its plan step dead-letters the repository.
    path = str(tmp_path / scratch_name("dlqtest"))
    failed_run = airflow_api.trigger(DAG, {"repo": path})
    assert airflow_api.wait(DAG, failed_run, timeout=600) == "failed"
    mine = [x for x in read_dead_letters() if x.letter.get("run_id") == failed_run]
    assert [(x.letter["stage"], x.letter["repo_id"]) for x in mine] == [("plan", path)]

    assert dlq.main(["dlq", "list", "--repo", path]) == 0
    assert mine[0].letter_id not in ReplayLedger().replayed()
    assert "1 dead letters, 0 replayed" in capsys.readouterr().out

    # The fix: the repository exists now. Replay re-submits it and the run succeeds.
    materialise_example(ROOT / "include/examples/airflow_dags", Path(path))
    with scratch_repo(repo_id_for(path)) as repo_id:
        before = _replay_runs(airflow_api)
        assert dlq.main(["dlq", "replay", "--repo", path, "--wait", "--timeout", "900"]) == 0
        out = capsys.readouterr().out
        assert "re-submitted 1 letters in 1 runs; 0 already replayed" in out
        new_runs = _replay_runs(airflow_api) - before
        assert len(new_runs) == 1
        (run_id,) = new_runs
        assert f"{run_id}: success" in out
        assert ReplayLedger().replayed()[mine[0].letter_id] == run_id
        processed = {r["repo_id"]: r["last_commit"] for r in RepoRegistry().repositories()}
        assert processed.get(repo_id)

        # Twice: nothing is triggered, nothing recorded, nothing processed again.
        ledger_before = ReplayLedger().replayed()
        assert dlq.main(["dlq", "replay", "--repo", path, "--wait"]) == 0
        assert "re-submitted 0 letters in 0 runs; 1 already replayed" in capsys.readouterr().out
        assert _replay_runs(airflow_api) - before == {run_id}
        assert ReplayLedger().replayed() == ledger_before
        # Interrupted after triggering, before recording: the same letters ask for the same
        # run id, which Airflow refuses (409), so still one run.
        replays, _ = dlq.plan_replays(mine, replayed={})
        from freshpoc_tasks.stack.airflow_rest import AirflowRest

        with AirflowRest(airflow_api.base) as api:
            assert [r.run_id for r in replays] == [run_id]
            assert dlq.trigger(api, DAG, replays[0]) is False
        assert dlq.main(["dlq", "list", "--repo", path]) == 0
        assert "1 dead letters, 1 replayed" in capsys.readouterr().out
