"""Cross-file links over all example projects analysed as one repository."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, edge_set

from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.model import SourceFile


@pytest.fixture(scope="module")
def everything():
    files = [SourceFile.from_text(p.relative_to(EXAMPLES).as_posix(), p.read_bytes())
             for p in sorted(EXAMPLES.rglob("*")) if p.is_file()]
    return analyse_repository(files, "local/examples")


def test_tables_link_airflow_tasks_python_code_and_dbt(everything):
    t = "sql.table:default:"
    o = "airflow.task:orders_daily."
    links = {e for e in edge_set(everything, "reads", "writes", "references", "materializes_as")
             if not e[1].startswith("sql.statement")}
    assert links == {
        # the DAG loads the table dbt declares as source raw.orders ...
        ("writes", f"{o}load_raw_orders", f"{t}jaffle_shop.raw.orders"),
        ("reads", f"{o}load_raw_orders", f"{t}staging.orders_import"),
        ("reads", f"{o}build_daily_revenue", f"{t}jaffle_shop.raw.orders"),
        ("reads", f"{o}build_daily_revenue", f"{t}jaffle_shop.raw.payments"),
        ("writes", f"{o}build_daily_revenue", f"{t}marts.daily_revenue"),
        ("reads", f"{o}check_revenue", f"{t}marts.daily_revenue"),
        # ... and the TaskFlow export reads the mart dbt builds
        ("references", "py.function:airflow_dags.dags.customer_export.fetch_customers",
         f"{t}jaffle_shop.main.customers"),
        ("references", "py.function:inventory.db.load_items", f"{t}analytics.stock_levels"),
        *{("materializes_as", f"dbt.{k}:jaffle_shop.{n}", f"{t}jaffle_shop.{rel}") for k, n, rel in (
            ("source", "raw.customers", "raw.customers"), ("source", "raw.orders", "raw.orders"),
            ("source", "raw.payments", "raw.payments"), ("model", "stg_customers", "main.stg_customers"),
            ("model", "stg_orders", "main.stg_orders"), ("model", "stg_payments", "main.stg_payments"),
            ("model", "orders", "main.orders"), ("model", "customers", "main.customers"),
            ("seed", "payment_methods", "main.payment_methods"),
            ("snapshot", "orders_snapshot", "snapshots.orders_snapshot"))},
    }
    assert everything.diagnostics == [] and everything.proposed == []


def test_columns_written_by_airflow_merge_with_dbt_source_columns(everything):
    c = "sql.column:default:jaffle_shop.raw.orders."
    lineage = edge_set(everything, "derives_from")
    stg = "sql.column:default:jaffle_shop.main.stg_orders."
    assert ("derives_from", f"{stg}customer_id", f"{c}user_id") in lineage
    assert ("derives_from", f"{c}user_id", "sql.column:default:staging.orders_import.user_id") in lineage
    assert not [n for n in everything.nodes if n.key.startswith("raw.orders")]
