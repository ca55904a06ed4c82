"""Every task of the FreshPoC DAGs lands on the Celery queue its kind of work belongs to.

The queues are what a Celery (or Helm) deployment routes on: ``git`` workers keep the mirror
cache, ``analysis`` workers the CPU, ``graph`` workers the store writes. The expected table is
written out here rather than derived from the code's map, so a task moved or added without a
deliberate choice of queue fails this test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1].parent
STAGES = {"process.ingest": "git", "process.mine": "git", "process.analyse": "analysis",
          "process.embed": "analysis", "process.report": "analysis",
          "process.write_graph": "graph", "process.record": "graph"}
EXPECTED = {
    "freshpoc_pipeline": {"repositories": "git", **STAGES},
    "freshpoc_on_push": {"requested": "git", **STAGES},
    "freshpoc_reprocess": {"out_of_date": "git", "clear_marks": "graph", **STAGES},
}


def _queues(dag_id: str) -> dict[str, str]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    # bag.dags holds the parsed DAGs; get_dag would ask the metadata database.
    return {t.task_id: t.queue for t in bag.dags[dag_id].tasks}


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_every_task_is_on_its_queue(dag_id):
    assert _queues(dag_id) == EXPECTED[dag_id]


def test_one_setting_moves_a_kind_of_work(monkeypatch):
    """``[freshpoc] git_queue`` moves every git task, and only those."""
    monkeypatch.setenv("AIRFLOW__FRESHPOC__GIT_QUEUE", "git-large")
    moved = {t: ("git-large" if q == "git" else q) for t, q in EXPECTED["freshpoc_pipeline"].items()}
    assert _queues("freshpoc_pipeline") == moved


def test_smoke_dag_stays_on_the_default_queue():
    """Not part of the pipeline: it runs wherever a worker serves Airflow's default queue."""
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "freshpoc_smoke.py"))
    default = conf.get("operators", "default_queue")
    assert {t.queue for t in bag.dags["freshpoc_smoke"].tasks} == {default}
