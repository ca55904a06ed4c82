"""Pulumi and Airflow analyzers: golden graphs of the example program and DAG folder."""

from __future__ import annotations

from conftest import analyse_texts, edge_set, node_set

R = "pulumi.resource:data-lake::"
RAW = f"{R}aws:s3/bucketV2:BucketV2::raw-data"
EXPIRY = f"{R}aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2::raw-expiry"
CURATED = f"{R}datalake:storage:ReplicatedBucket::curated-data"
ROLE = f"{R}aws:iam/role:Role::loader"
POLICY = f"{R}aws:iam/rolePolicy:RolePolicy::loader-access"


def test_pulumi_program_resources_and_dependencies(example):
    delta = example("pulumi_datalake")
    assert node_set(delta, "pulumi.project", "pulumi.stack", "pulumi.resource") == {
        "pulumi.project:data-lake", "pulumi.stack:data-lake.dev", RAW, EXPIRY, CURATED, ROLE, POLICY}
    assert edge_set(delta, "depends_on", "declares") == {
        ("depends_on", EXPIRY, RAW),
        ("depends_on", CURATED, RAW),
        ("depends_on", POLICY, ROLE),
        ("depends_on", POLICY, RAW),  # through Output.all(raw.arn, ...).apply(...)
        ("depends_on", POLICY, CURATED),
        *{("declares", "py.module:__main__", r) for r in (RAW, EXPIRY, CURATED, ROLE, POLICY)},
    }
    assert {s for (_t, s, d) in edge_set(delta, "belongs_to")} == {
        "pulumi.stack:data-lake.dev", RAW, EXPIRY, CURATED, ROLE, POLICY}
    raw = next(n for n in delta.nodes if n.key.endswith("::raw-data"))
    assert raw.props == {"type_token": "aws:s3/bucketV2:BucketV2", "logical_name": "raw-data",
                         "variable": "raw", "constructor": "aws.s3.BucketV2"}
    assert raw.span == (29, 29)
    stack = next(n for n in delta.nodes if n.type == "pulumi.stack")
    assert stack.props["config_keys"] == ["aws:region", "data-lake:retention_days"]
    assert delta.diagnostics == []


def test_airflow_dags_tasks_and_dependencies(example):
    delta = example("airflow_dags")
    o, c = "airflow.task:orders_daily.", "airflow.task:customer_export."
    assert node_set(delta, "airflow.dag", "airflow.task") == {
        "airflow.dag:orders_daily", "airflow.dag:customer_export",
        f"{o}load_raw_orders", f"{o}build_daily_revenue", f"{o}check_revenue", f"{o}done",
        f"{c}start", f"{c}fetch_customers", f"{c}publish_to_crm"}
    assert edge_set(delta, "upstream_of") == {
        ("upstream_of", f"{o}load_raw_orders", f"{o}build_daily_revenue"),
        ("upstream_of", f"{o}build_daily_revenue", f"{o}check_revenue"),
        ("upstream_of", f"{o}check_revenue", f"{o}done"),
        ("upstream_of", f"{c}start", f"{c}fetch_customers"),
        ("upstream_of", f"{c}fetch_customers", f"{c}publish_to_crm"),
    }
    dags = {n.key: n.props for n in delta.nodes if n.type == "airflow.dag"}
    assert dags["orders_daily"] == {"dag_id": "orders_daily", "schedule": "@daily",
                                    "tags": ["orders", "warehouse"],
                                    "description": "Raw orders in, daily revenue out."}
    assert dags["customer_export"]["schedule"] == "0 6 * * *"
    ops = {n.name: n.props["operator"] for n in delta.nodes if n.type == "airflow.task"}
    assert ops["publish_to_crm"] == "@task" and ops["check_revenue"] == "SQLCheckOperator"


def test_airflow_sql_operators_link_tasks_to_tables(example):
    delta = example("airflow_dags")
    o, t = "airflow.task:orders_daily.", "sql.table:default:"
    task_tables = {e for e in edge_set(delta, "reads", "writes") if e[1].startswith("airflow.task")}
    assert task_tables == {
        ("reads", f"{o}load_raw_orders", f"{t}staging.orders_import"),  # from the .sql file
        ("writes", f"{o}load_raw_orders", f"{t}raw.orders"),
        ("reads", f"{o}build_daily_revenue", f"{t}raw.orders"),
        ("reads", f"{o}build_daily_revenue", f"{t}raw.payments"),
        ("writes", f"{o}build_daily_revenue", f"{t}marts.daily_revenue"),
        ("reads", f"{o}check_revenue", f"{t}marts.daily_revenue"),
    }
    assert edge_set(delta, "runs") == {
        ("runs", f"{o}load_raw_orders", "sql.statement:orders_daily.load_raw_orders#0"),
        ("runs", f"{o}load_raw_orders", "sql.statement:orders_daily.load_raw_orders#1"),
        ("runs", f"{o}build_daily_revenue", "sql.statement:orders_daily.build_daily_revenue#0"),
        ("runs", f"{o}check_revenue", "sql.statement:orders_daily.check_revenue#0"),
    }
    # the TaskFlow task names its table in a hook call: the Python analyzer links that
    assert ("references", "py.function:dags.customer_export.fetch_customers", f"{t}main.customers") in \
        edge_set(delta, "references")
    lineage = edge_set(delta, "derives_from")
    assert ("derives_from", "sql.column:default:marts.daily_revenue.revenue",
            "sql.column:default:raw.payments.amount") in lineage


def test_classic_dag_with_module_level_operators_set_downstream_and_chain():
    delta = analyse_texts({"dags/x.py": (
        "from airflow import DAG\nfrom airflow.operators.bash import BashOperator\n"
        "from airflow.models.baseoperator import chain\n"
        "dag = DAG(dag_id='x', schedule=None)\n"
        "a = BashOperator(task_id='a', bash_command='true', dag=dag)\n"
        "b = BashOperator(task_id='b', bash_command='true', dag=dag)\n"
        "c = BashOperator(task_id='c', bash_command='true', dag=dag)\n"
        "d = BashOperator(task_id='d', bash_command='true', dag=dag)\n"
        "a.set_downstream(b)\nchain(b, [c, d])\nd << c\n"
    )})
    t = "airflow.task:x."
    assert edge_set(delta, "upstream_of") == {
        ("upstream_of", f"{t}a", f"{t}b"), ("upstream_of", f"{t}b", f"{t}c"),
        ("upstream_of", f"{t}b", f"{t}d"), ("upstream_of", f"{t}c", f"{t}d")}


def test_dynamic_dag_id_and_missing_sql_file_are_reported():
    delta = analyse_texts({"dags/y.py": (
        "import os\nfrom airflow import DAG\nfrom airflow.providers.common.sql.operators.sql import "
        "SQLExecuteQueryOperator\n"
        "for name in ['a', 'b']:\n    pass\n"
        "with DAG(f'dyn_{name}') as d1:\n    pass\n"         # Python leaves name == 'b' after the loop
        "with DAG(os.environ['DAG']) as d0:\n    pass\n"     # nothing known: skipped
        "with DAG(f'env_{os.environ[\"X\"]}'):\n    pass\n"  # partly known: kept as a pattern
        "with DAG('fixed') as d2:\n    SQLExecuteQueryOperator(task_id='q', sql='missing.sql')\n"
    )})
    assert [(d.code, d.line) for d in delta.diagnostics] == [
        ("dynamic_dag_id", 8), ("dynamic_dag_id", 10), ("sql_file_not_found", 13)]
    assert node_set(delta, "airflow.dag", "airflow.task") == {
        "airflow.dag:dyn_b", "airflow.dag:env_*", "airflow.dag:fixed", "airflow.task:fixed.q"}
