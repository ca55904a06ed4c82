"""freshpoc_smoke: one item written to and read back from every server, through the hooks.

Wiring only: each task's body lives in freshpoc_tasks.operators.smoke, so this file imports
nothing heavy and does no I/O when the dag-processor parses it.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

DOC = """
### FreshPoC smoke test
Writes one item into each server of the stack and reads it back through FreshPoC's hooks:
Kafka (idempotent producer, then a consumer), Dgraph (upsert by `xid`, query with variables),
MinIO (`S3Hook`), Weaviate (`WeaviateHook`, object with a vector) and PostgreSQL
(`PostgresHook`). The `report` task returns one line per server. Trigger it from the UI or with
`freshpoc demo`; it is safe to run any number of times.
"""


@dag(
    dag_id="freshpoc_smoke",
    schedule=None,
    catchup=False,
    doc_md=DOC,
    tags=["freshpoc", "smoke"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=5),
                  "retry_exponential_backoff": True},
)
def freshpoc_smoke():
    @task
    def kafka(run_id: str | None = None) -> str:
        from freshpoc_tasks.operators.smoke import kafka_roundtrip

        return kafka_roundtrip(run_id)

    @task
    def dgraph(run_id: str | None = None) -> str:
        from freshpoc_tasks.operators.smoke import dgraph_roundtrip

        return dgraph_roundtrip(run_id)

    @task
    def minio(run_id: str | None = None) -> str:
        from freshpoc_tasks.operators.smoke import s3_roundtrip

        return s3_roundtrip(run_id)

    @task
    def weaviate(run_id: str | None = None) -> str:
        from freshpoc_tasks.operators.smoke import weaviate_roundtrip

        return weaviate_roundtrip(run_id)

    @task
    def postgres(run_id: str | None = None) -> str:
        from freshpoc_tasks.operators.smoke import postgres_roundtrip

        return postgres_roundtrip(run_id)

    @task
    def report(results: list[str]) -> dict[str, str]:
        return dict(line.split(": ", 1) for line in results)

    report([kafka(), dgraph(), minio(), weaviate(), postgres()])


freshpoc_smoke()
