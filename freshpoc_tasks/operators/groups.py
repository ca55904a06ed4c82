"""The per-repository task group shared by the pipeline, on-push and reprocess DAGs.

Built by a function so every DAG wires the stages the same way; it only instantiates
operators (no I/O), so calling it at DAG parse time is cheap.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freshpoc_tasks.operators.embed import EmbedOperator
from freshpoc_tasks.operators.pipeline import (
    AnalyseOperator,
    IngestOperator,
    MineOperator,
    ReportOperator,
    WriteGraphOperator,
)

# Retries with exponential backoff: a server restarting (Kafka, Dgraph) is waited out.
DEFAULT_ARGS = {"retries": 3, "retry_delay": timedelta(seconds=10),
                "retry_exponential_backoff": True, "max_retry_delay": timedelta(minutes=5)}


def _pull(group: str, task: str, key: str) -> str:
    """A field of a sibling task's XCom dict, same map index (this repository's group)."""
    pull = f"ti.xcom_pull(task_ids='{group}.{task}', map_indexes=ti.map_index)['{key}']"
    return "{{ " + pull + " }}"


def repository_stages(spec: Any, group_id: str = "process") -> None:
    """ingest → (mine, analyse) → write_graph → embed → report, for one repository spec."""
    ingest = IngestOperator(task_id="ingest", repo=spec, pool="freshpoc_git")
    mine = MineOperator(task_id="mine", ingest=ingest.output)
    analyse = AnalyseOperator(task_id="analyse", ingest=ingest.output)
    write = WriteGraphOperator(task_id="write_graph", ingest=ingest.output, mine=mine.output,
                               analyse=analyse.output, pool="freshpoc_graph_writes")
    embed = EmbedOperator(task_id="embed", repo_id=_pull(group_id, "ingest", "repo_id"),
                          commit=_pull(group_id, "ingest", "commit"),
                          analysis_uri=_pull(group_id, "analyse", "uri"),
                          snapshot_uri=_pull(group_id, "ingest", "source_uri"))
    report = ReportOperator(task_id="report", ingest=ingest.output, mine=mine.output,
                            analyse=analyse.output, graph=write.output)
    write >> embed >> report
