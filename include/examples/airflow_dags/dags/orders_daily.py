"""Load yesterday's orders into the warehouse and rebuild the daily revenue mart."""

from __future__ import annotations

import pendulum
from airflow.providers.common.sql.operators.sql import SQLCheckOperator, SQLExecuteQueryOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(
    "orders_daily",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["orders", "warehouse"],
    description="Raw orders in, daily revenue out.",
) as dag:
    load_raw = SQLExecuteQueryOperator(
        task_id="load_raw_orders",
        conn_id="warehouse",
        sql="sql/load_raw_orders.sql",
    )
    build_revenue = SQLExecuteQueryOperator(
        task_id="build_daily_revenue",
        conn_id="warehouse",
        sql="""
            insert into marts.daily_revenue (order_date, revenue)
            select o.order_date, sum(p.amount) as revenue
            from raw.orders as o
            join raw.payments as p on p.order_id = o.id
            where o.order_date = '{{ ds }}'
            group by o.order_date
        """,
    )
    check_revenue = SQLCheckOperator(
        task_id="check_revenue",
        conn_id="warehouse",
        sql="select count(*) from marts.daily_revenue where order_date = '{{ ds }}'",
    )
    done = EmptyOperator(task_id="done")

    load_raw >> build_revenue >> [check_revenue]
    check_revenue >> done
