"""The per-repository task group shared by the pipeline, on-push and reprocess DAGs.

Built by a function so every DAG wires the stages the same way; it only instantiates
operators (no I/O), so calling it at DAG parse time is cheap.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from freshpoc_tasks.operators.embed import EmbedOperator
from freshpoc_tasks.operators.pipeline import (
    AnalyseOperator,
    IngestOperator,
    MineOperator,
    RecordOperator,
    ReportOperator,
    WriteGraphOperator,
    stage_failed,
)

# Retries with exponential backoff: a server restarting (Kafka, Dgraph) is waited out.
DEFAULT_ARGS = {"retries": 3, "retry_delay": timedelta(seconds=10),
                "retry_exponential_backoff": True, "max_retry_delay": timedelta(minutes=5)}

# Celery queues by kind of work: ``git`` (clones, mirrors, snapshots: disk and network),
# ``analysis`` (parsing and embedding: CPU), ``graph`` (Dgraph and registry writes). The names
# come from one place, the ``[freshpoc]`` section of Airflow's configuration (e.g.
# ``AIRFLOW__FRESHPOC__GIT_QUEUE=git-large``, or ``config.freshpoc`` in the Helm values), read
# when the DAG is parsed: a task's queue is fixed in the serialized DAG, so it cannot be a
# run-time param, and an Airflow Variable would cost a metadata-database read on every parse.
# The LocalExecutor and the KubernetesExecutor ignore queues, so the default stack is unaffected.
Role = Literal["git", "analysis", "graph"]
STAGE_ROLES: dict[str, Role] = {"ingest": "git", "mine": "git", "analyse": "analysis",
                                "embed": "analysis", "report": "analysis",
                                "write_graph": "graph", "record": "graph"}


def queue_for(role: Role) -> str:
    """The Celery queue of one kind of work: ``[freshpoc] <role>_queue``, else the role's name."""
    from airflow.configuration import conf

    return conf.get("freshpoc", f"{role}_queue", fallback=role)


# Each mapped task instance is labelled with its repository in the UI and the REST API
# (``rendered_map_index``), so a failed one names the repository, not just an index.
_BY_LOCATION = "{{ task.repo.get('repo') if task.repo is mapping else task.repo }}"
_BY_REPO_ID = "{{ task.ingest.get('repo_id') if task.ingest is mapping else '' }}"
# What every per-repository task shares: a task that fails for good dead-letters its repository.
_STAGE_ARGS: dict[str, Any] = {"on_failure_callback": stage_failed}


def _pull(group: str, task: str, key: str) -> str:
    """A field of a sibling task's XCom dict, same map index (this repository's group)."""
    pull = f"ti.xcom_pull(task_ids='{group}.{task}', map_indexes=ti.map_index)['{key}']"
    return "{{ " + pull + " }}"


def repository_stages(spec: Any, group_id: str = "process") -> None:
    """ingest → (mine, analyse) → write_graph → report, with embed beside them → record.

    Nothing waits for vectors: embed needs only the snapshot and the analysis, so it starts as
    soon as analyse ends and runs beside write_graph and report (on a big repository embedding
    is most of the run: sqlalchemy's 31k chunks). ``record`` marks the commit processed only
    after both embed and report, so a commit whose vectors failed is processed again by the
    next run instead of being skipped.
    """
    queue = {task_id: queue_for(role) for task_id, role in STAGE_ROLES.items()}
    ingest = IngestOperator(task_id="ingest", repo=spec, pool="freshpoc_git",
                            queue=queue["ingest"], map_index_template=_BY_LOCATION, **_STAGE_ARGS)
    staged = {"ingest": ingest.output, "map_index_template": _BY_REPO_ID, **_STAGE_ARGS}
    mine = MineOperator(task_id="mine", queue=queue["mine"], **staged)
    analyse = AnalyseOperator(task_id="analyse", queue=queue["analyse"], **staged)
    write = WriteGraphOperator(task_id="write_graph", mine=mine.output, analyse=analyse.output,
                               pool="freshpoc_graph_writes", queue=queue["write_graph"], **staged)
    embed = EmbedOperator(task_id="embed", repo_id=_pull(group_id, "ingest", "repo_id"),
                          commit=_pull(group_id, "ingest", "commit"),
                          analysis_uri=_pull(group_id, "analyse", "uri"),
                          snapshot_uri=_pull(group_id, "ingest", "source_uri"),
                          queue=queue["embed"], map_index_template="{{ task.repo_id }}",
                          **_STAGE_ARGS)
    report = ReportOperator(task_id="report", mine=mine.output, analyse=analyse.output,
                            graph=write.output, record_processed=False, queue=queue["report"],
                            **staged)
    record = RecordOperator(task_id="record", mine=mine.output, analyse=analyse.output,
                            report=report.output, queue=queue["record"], **staged)
    # embed's inputs are templated pulls of ingest and analyse: the dependency is stated here.
    analyse >> embed
    [embed, report] >> record
