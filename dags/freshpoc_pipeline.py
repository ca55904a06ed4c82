"""freshpoc_pipeline: ingest → mine → analyse → write graph → report, embed beside them, per repository.

Wiring only: operators live in freshpoc_tasks.operators and import their heavy dependencies
inside ``execute``, so parsing this file is cheap.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task, task_group

from freshpoc_tasks.operators.groups import DEFAULT_ARGS, queue_for, repository_stages

DOC = """
### FreshPoC pipeline
Turns git repositories into the code knowledge graph: **ingest** (resolve the commit, stage a
snapshot, skip when nothing changed) → **mine** (inventory + history) → **analyse** (Python,
SQL, dbt, Pulumi, Airflow) → **write_graph** (Dgraph, versioned by commit) → **report**
(Markdown + HTML in MinIO). **embed** (Weaviate) starts right after analyse and runs beside
write_graph and report: nothing else needs vectors, and on a big repository embedding is most
of the run (its log says chunks done/total, rate and ETA every 15 s). **record** marks the
commit processed once embed and report have both succeeded. One mapped group runs per
repository.

* **Trigger** with `repo` (URL or absolute path) or `repos` (a list), optionally `ref` and
  `force`; without them the `freshpoc_repositories` Variable is used. `renames`
  (`follow`|`off`) and `bots` (`exclude`|`include`) choose how history is counted.
* **Schedule/backfill**: each run processes every repository *as of its logical date*, so
  `airflow backfill create` over a year yields the graph's history.
* Artifacts: `s3://freshpoc/staging/{repo_id}/{commit}/`, reports under `reports/`; one Kafka
  event per stage on `repos.ingested`, `code.mined`, `code.analyzed`, `graph.applied`.
"""

@dag(
    dag_id="freshpoc_pipeline",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["freshpoc"],
    default_args=DEFAULT_ARGS,
    params={
        "repo": Param(None, type=["null", "string"], title="Repository",
                      description="One repository: https/ssh/git URL or absolute local path."),
        "repos": Param([], type="array", items={"type": "string"}, title="Repositories",
                       description="Several repositories (used together with 'repo')."),
        "ref": Param(None, type=["null", "string"], title="Ref",
                     description="Branch, tag or sha; empty = default branch (or the logical "
                     "date's commit for scheduled and backfill runs)."),
        "force": Param(False, type="boolean", title="Force",
                       description="Reprocess even when the commit and every analyzer and "
                       "ontology version are unchanged."),
        # Read by the mine task (MineOperator's templated defaults); changing them changes the
        # history figures, not the processed-state check: set force to redo a processed commit.
        "renames": Param("follow", type="string", enum=["follow", "off"], title="Renames",
                         description="follow: a file's history continues across renames (a split, "
                         "the old path added again right after, is not followed); off: each path "
                         "counts only its own changes, as git log --numstat --no-renames."),
        "bots": Param("exclude", type="string", enum=["exclude", "include"], title="Bots",
                      description="exclude: bot commits (dependabot, renovate, *[bot]) stay flagged "
                      "in the commit stream but out of hotspots, ownership and coupling; include: "
                      "counted like people."),
    },
)
def freshpoc_pipeline():
    @task(pool="freshpoc_git", queue=queue_for("git"))
    def repositories(params=None, dag_run=None, logical_date=None, run_id=None) -> list[dict]:
        """Repositories that need work, each pinned to a commit; unchanged ones cost nothing.

        From conf/params, else the freshpoc_repositories Variable. A repository that cannot be
        resolved goes to the dead-letter topic with the reason (logged here too) and stays in
        the list, marked: its ingest task fails naming it, so the run ends failed while the
        others go on.
        """
        import json

        from airflow.sdk import Variable

        from freshpoc_tasks.operators.pipeline import dead_letter, plan_repositories

        names = [r for r in [params.get("repo"), *(params.get("repos") or [])] if r]
        if not names:
            names = json.loads(Variable.get("freshpoc_repositories", default="[]"))
        scheduled = dag_run is not None and str(dag_run.run_type).lower().endswith(
            ("scheduled", "backfill_job", "backfill"))
        as_of = logical_date.isoformat() if scheduled and logical_date and not params.get("ref") else None
        specs = [{"repo": name, "ref": params.get("ref"), "as_of": as_of,
                  "force": bool(params.get("force"))} for name in dict.fromkeys(names)]
        return plan_repositories(specs, dead_letters=dead_letter("plan", run_id))

    @task_group
    def process(spec):
        repository_stages(spec)

    process.expand(spec=repositories())


freshpoc_pipeline()
