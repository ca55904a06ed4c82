"""freshpoc_reprocess: re-analyse and rewrite repositories whose analysis is out of date.

A repository is out of date when an approved ontology proposal marked it, or when it was last
processed with other analyzer or ontology versions. Work starts from the mirror cache or the
staged snapshot of its last processed commit: nothing is fetched from the source again.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task, task_group

from freshpoc_tasks.operators.groups import DEFAULT_ARGS, queue_for, repository_stages

DOC = """
### FreshPoC reprocess
Re-runs mine → analyse → write graph → embed → report for every repository marked for
reprocessing (`freshpoc graph proposals approve …` marks them) or processed with older analyzer
or ontology versions, at its last processed commit and without re-ingesting it. Runs hourly and
can be triggered by hand; a run with nothing to do finishes after its first task.
"""


@dag(
    dag_id="freshpoc_reprocess",
    schedule="@hourly",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["freshpoc"],
    default_args=DEFAULT_ARGS,
)
def freshpoc_reprocess():
    @task(queue=queue_for("git"))
    def out_of_date() -> list[dict]:
        from freshpoc_tasks.operators.pipeline import plan_reprocessing

        return plan_reprocessing()

    @task_group
    def process(spec):
        repository_stages(spec)

    # only when every repository was reprocessed; a failure keeps the marks for next time
    @task(queue=queue_for("graph"))
    def clear_marks(specs: list[dict]) -> int:
        from freshpoc_tasks.hooks.ontology_ledger import OntologyLedgerHook
        from freshpoc_tasks.hooks.registry import RepoRegistry

        current = {r["location"]: r["repo_id"] for r in RepoRegistry().repositories()}
        ledger = OntologyLedgerHook()
        return sum(ledger.clear_marks(current[s["repo"]]) for s in specs if s["repo"] in current)

    specs = out_of_date()
    process.expand(spec=specs) >> clear_marks(specs)


freshpoc_reprocess()
