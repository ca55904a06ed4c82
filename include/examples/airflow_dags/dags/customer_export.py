"""Publish customer lifetime value to the CRM every morning (TaskFlow style)."""

from __future__ import annotations

import pendulum
from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import chain, dag, task


@task
def fetch_customers() -> list[dict]:
    hook = PostgresHook(postgres_conn_id="warehouse")
    frame = hook.get_pandas_df("select customer_id, lifetime_value from main.customers")
    return frame.to_dict("records")


@task(task_id="publish_to_crm", retries=3)
def publish(rows: list[dict]) -> int:
    return len(rows)


@dag(dag_id="customer_export", schedule="0 6 * * *", start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
     catchup=False, tags=["crm"])
def customer_export():
    start = EmptyOperator(task_id="start")
    rows = fetch_customers()
    published = publish(rows)
    chain(start, rows, published)


customer_export()
