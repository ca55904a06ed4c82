"""The pipeline does not wait for vectors: report runs beside embed, record waits for both.

Checked on the DAGs built from their files (all three share the wiring of
``operators.groups.repository_stages``), so a change of wiring that puts embed back on the
report's path fails here, not in a slow run. The DAG function of each file is called again
after running it, which needs no metadata database (a DagBag does).
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _dag(dag_id: str):
    return runpy.run_path(str(ROOT / "dags" / f"{dag_id}.py"), run_name="dag_order_test")[dag_id]()


def _upstream(dag, task_id: str) -> set[str]:
    return set(dag.get_task(task_id).get_flat_relative_ids(upstream=True))


@pytest.mark.parametrize("dag_id", ["freshpoc_pipeline", "freshpoc_on_push", "freshpoc_reprocess"])
def test_report_and_graph_write_never_wait_for_embed(dag_id):
    dag = _dag(dag_id)
    assert "process.embed" not in _upstream(dag, "process.report")
    assert "process.embed" not in _upstream(dag, "process.write_graph")
    # embed starts when the analysis is staged, not after the graph write
    assert _upstream(dag, "process.embed") >= {"process.ingest", "process.analyse"}
    assert "process.write_graph" not in _upstream(dag, "process.embed")
    # the commit is recorded as processed only when both vectors and report exist
    assert _upstream(dag, "process.record") >= {"process.embed", "process.report", "process.write_graph"}
    later = dag.get_task("process.record").get_flat_relative_ids(upstream=False)
    assert not {t for t in later if t.startswith("process.")}  # the group's last task
