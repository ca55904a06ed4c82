"""freshpoc_on_push: a message on ``repos.requested`` runs the pipeline for its repository.

Scheduled by an Asset whose AssetWatcher wraps the Kafka provider's AwaitMessageTrigger, so the
triggerer (not a polling task) waits for messages. The trigger class is instantiated at parse
time by design; its module imports the Kafka client, nothing here opens a connection.
"""

from __future__ import annotations

from airflow.providers.apache.kafka.triggers.await_message import AwaitMessageTrigger
from airflow.sdk import Asset, AssetWatcher, dag, task, task_group

from freshpoc_tasks.operators.groups import DEFAULT_ARGS, queue_for, repository_stages

DOC = """
### FreshPoC on push
Runs the pipeline for each repository requested on the Kafka topic `repos.requested`. A message
is JSON: `{"repo": "<URL or absolute path>", "ref": "<optional>", "force": false}`. Invalid
messages go to `freshpoc.dlq` with the reason. Publish one with any Kafka client, e.g.
`kcat -P -t repos.requested -k my-repo <<< '{"repo": "https://github.com/org/repo"}'`.
"""

requests_trigger = AwaitMessageTrigger(
    topics=["repos.requested"],
    apply_function="freshpoc_tasks.operators.requests.accept_request",
    kafka_config_id="freshpoc_kafka_watcher",
    poll_timeout=1,
    poll_interval=2,
)
repos_requested = Asset(
    name="freshpoc_repos_requested",
    uri="kafka://freshpoc-kafka/repos.requested",
    watchers=[AssetWatcher(name="freshpoc_repos_requested_watcher", trigger=requests_trigger)],
)


@dag(
    dag_id="freshpoc_on_push",
    schedule=[repos_requested],
    catchup=False,
    doc_md=DOC,
    tags=["freshpoc"],
    default_args=DEFAULT_ARGS,
)
def freshpoc_on_push():
    @task(pool="freshpoc_git", queue=queue_for("git"))
    def requested(triggering_asset_events=None, run_id=None) -> list[dict]:
        from freshpoc_tasks.operators.pipeline import dead_letter, plan_repositories

        specs = []
        for events in (triggering_asset_events or {}).values():
            for event in events:
                payload = (event.extra or {}).get("payload") or {}
                if payload.get("repo"):
                    specs.append({"repo": payload["repo"], "ref": payload.get("ref"),
                                  "as_of": None, "force": bool(payload.get("force"))})
        return plan_repositories(specs, dead_letters=dead_letter("on_push", run_id))

    @task_group
    def process(spec):
        repository_stages(spec)

    process.expand(spec=requested())


freshpoc_on_push()
