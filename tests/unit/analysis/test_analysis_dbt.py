"""dbt analyzer: golden graph of the example project, dbt itself as oracle, and hostile Jinja."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import EXAMPLES, analyse_texts, edge_set, node_set
from toolvenv import DBT_REQUIREMENTS, DBT_VENV_NAME, tool_venv

J = "jaffle_shop"
W = "default:jaffle_shop."  # warehouse scope + database of every relation


def col(rel: str, column: str) -> str:
    return f"sql.column:{W}{rel}.{column}"


def test_example_project_nodes(example):
    delta = example(J)
    assert node_set(delta, "dbt.project", "dbt.model", "dbt.source", "dbt.seed", "dbt.snapshot",
                    "dbt.macro") == {
        "dbt.project:jaffle_shop", "dbt.macro:jaffle_shop.cents_to_dollars",
        "dbt.model:jaffle_shop.stg_customers", "dbt.model:jaffle_shop.stg_orders",
        "dbt.model:jaffle_shop.stg_payments", "dbt.model:jaffle_shop.int_order_payments",
        "dbt.model:jaffle_shop.orders", "dbt.model:jaffle_shop.customers",
        "dbt.source:jaffle_shop.raw.customers", "dbt.source:jaffle_shop.raw.orders",
        "dbt.source:jaffle_shop.raw.payments", "dbt.seed:jaffle_shop.payment_methods",
        "dbt.snapshot:jaffle_shop.orders_snapshot",
    }
    assert node_set(delta, "dbt.test") == {f"dbt.test:jaffle_shop.{t}" for t in (
        "unique.stg_customers.customer_id", "not_null.stg_customers.customer_id",
        "unique.stg_orders.order_id", "not_null.stg_orders.order_id", "accepted_values.stg_orders.status",
        "unique.stg_payments.payment_id", "not_null.stg_payments.payment_id",
        "unique.customers.customer_id", "not_null.customers.customer_id", "unique.orders.order_id",
        "relationships.orders.customer_id")}
    assert node_set(delta, "sql.table") == {f"sql.table:{W}{t}" for t in (
        "raw.customers", "raw.orders", "raw.payments", "main.stg_customers", "main.stg_orders",
        "main.stg_payments", "main.orders", "main.customers", "main.payment_methods",
        "snapshots.orders_snapshot")}
    assert delta.diagnostics == [] and delta.proposed == []
    models = {n.name: n.props["materialized"] for n in delta.nodes if n.type == "dbt.model"}
    assert models == {"stg_customers": "view", "stg_orders": "view", "stg_payments": "view",
                      "int_order_payments": "ephemeral", "orders": "incremental", "customers": "table"}


def test_example_project_model_graph(example):
    m, s = "dbt.model:jaffle_shop.", "dbt.source:jaffle_shop.raw."
    assert edge_set(example(J), "depends_on", "uses_macro", "materializes_as") == {
        ("depends_on", f"{m}stg_customers", f"{s}customers"),
        ("depends_on", f"{m}stg_orders", f"{s}orders"),
        ("depends_on", f"{m}stg_payments", f"{s}payments"),
        ("depends_on", f"{m}int_order_payments", f"{m}stg_payments"),
        ("depends_on", f"{m}orders", f"{m}stg_orders"),
        ("depends_on", f"{m}orders", f"{m}int_order_payments"),
        ("depends_on", f"{m}customers", f"{m}orders"),
        ("depends_on", f"{m}customers", f"{m}stg_customers"),
        ("depends_on", "dbt.snapshot:jaffle_shop.orders_snapshot", f"{m}stg_orders"),
        ("uses_macro", f"{m}stg_payments", "dbt.macro:jaffle_shop.cents_to_dollars"),
        ("materializes_as", f"{s}customers", f"sql.table:{W}raw.customers"),
        ("materializes_as", f"{s}orders", f"sql.table:{W}raw.orders"),
        ("materializes_as", f"{s}payments", f"sql.table:{W}raw.payments"),
        ("materializes_as", f"{m}stg_customers", f"sql.table:{W}main.stg_customers"),
        ("materializes_as", f"{m}stg_orders", f"sql.table:{W}main.stg_orders"),
        ("materializes_as", f"{m}stg_payments", f"sql.table:{W}main.stg_payments"),
        ("materializes_as", f"{m}orders", f"sql.table:{W}main.orders"),
        ("materializes_as", f"{m}customers", f"sql.table:{W}main.customers"),
        ("materializes_as", "dbt.seed:jaffle_shop.payment_methods", f"sql.table:{W}main.payment_methods"),
        ("materializes_as", "dbt.snapshot:jaffle_shop.orders_snapshot",
         f"sql.table:{W}snapshots.orders_snapshot"),
    }


def test_column_lineage_from_source_through_staging_and_ephemeral_to_marts(example):
    lineage = {(src, dst) for (_t, src, dst) in edge_set(example(J), "derives_from")}
    paid = [f"main.orders.{m}_amount" for m in ("credit_card", "coupon", "bank_transfer", "gift_card")]
    assert lineage == {
        # staging renames and converts source columns
        (col("main.stg_customers", "customer_id"), col("raw.customers", "id")),
        (col("main.stg_customers", "first_name"), col("raw.customers", "first_name")),
        (col("main.stg_customers", "last_name"), col("raw.customers", "last_name")),
        (col("main.stg_orders", "order_id"), col("raw.orders", "id")),
        (col("main.stg_orders", "customer_id"), col("raw.orders", "user_id")),
        (col("main.stg_orders", "order_date"), col("raw.orders", "order_date")),
        (col("main.stg_orders", "status"), col("raw.orders", "status")),
        # `select *` in stg_payments' CTE expands over the source's declared columns
        (col("main.stg_payments", "payment_id"), col("raw.payments", "id")),
        (col("main.stg_payments", "order_id"), col("raw.payments", "order_id")),
        (col("main.stg_payments", "payment_method"), col("raw.payments", "payment_method")),
        (col("main.stg_payments", "amount"), col("raw.payments", "amount")),
        # the ephemeral int_order_payments is inlined: marts point straight at staging
        (col("main.orders", "order_id"), col("main.stg_orders", "order_id")),
        (col("main.orders", "customer_id"), col("main.stg_orders", "customer_id")),
        (col("main.orders", "order_date"), col("main.stg_orders", "order_date")),
        (col("main.orders", "status"), col("main.stg_orders", "status")),
        (col("main.orders", "amount"), col("main.stg_payments", "amount")),
        *{(f"sql.column:{W}{p}", col("main.stg_payments", c))
          for p in paid for c in ("amount", "payment_method")},
        (col("main.customers", "customer_id"), col("main.stg_customers", "customer_id")),
        (col("main.customers", "first_name"), col("main.stg_customers", "first_name")),
        (col("main.customers", "last_name"), col("main.stg_customers", "last_name")),
        (col("main.customers", "first_order"), col("main.orders", "order_date")),
        (col("main.customers", "number_of_orders"), col("main.orders", "order_id")),
        (col("main.customers", "lifetime_value"), col("main.orders", "amount")),
        # the snapshot's `select *` expands over stg_orders' computed columns
        *{(col("snapshots.orders_snapshot", c), col("main.stg_orders", c))
          for c in ("order_id", "customer_id", "order_date", "status")},
    }


def test_source_to_mart_column_path_is_connected(example):
    edges = {}
    for _t, src, dst in edge_set(example(J), "derives_from"):
        edges.setdefault(src, set()).add(dst)

    def upstream(column: str) -> set[str]:
        seen, todo = set(), [column]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    assert upstream(col("main.customers", "lifetime_value")) == {
        col("main.orders", "amount"), col("main.stg_payments", "amount"), col("raw.payments", "amount")}


def test_descriptions_and_tests_from_schema_yaml(example):
    delta = example(J)
    nodes = {n.id.split(":", 2)[2]: n for n in delta.nodes}
    assert nodes["jaffle_shop.main.customers.lifetime_value"].props["description"] == \
        "Total paid over all orders, in dollars."
    assert nodes["jaffle_shop.raw.payments.amount"].props["description"] == "Amount in cents."
    assert nodes["jaffle_shop.accepted_values.stg_orders.status"].props["kwargs"] == {
        "values": ["placed", "shipped", "completed", "return_pending", "returned"]}
    rel = "dbt.test:jaffle_shop.relationships.orders.customer_id"
    assert {d for (_t, s, d) in edge_set(delta, "tests") if s == rel} == {
        "dbt.model:jaffle_shop.orders", "dbt.model:jaffle_shop.customers"}


PROJECT = "name: p\nversion: '1'\nprofile: p\nvars: {}\n"


def test_missing_packages_and_unknown_macros_are_reported_not_fatal():
    delta = analyse_texts({
        "dbt_project.yml": PROJECT,
        "packages.yml": "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.1.1\n",
        "models/a.sql": "select {{ dbt_utils.star(ref('b')) }} 1 as x from {{ ref('b') }}",
        "models/b.sql": "select 1 as x",
    })
    assert ("depends_on", "dbt.model:p.a", "dbt.model:p.b") in edge_set(delta)
    assert [(d.path, d.code) for d in delta.diagnostics] == [("packages.yml", "package_not_installed")]


@pytest.mark.parametrize(("template", "code"), [
    ("{{ exceptions.raise_compiler_error('nope') }}", "jinja_render_error"),
    ("{{ 1 / 0 }}", "jinja_render_error"),
    ("{% if %}", "jinja_syntax_error"),
    ("{% for x in range(10) %}{{ x", "jinja_syntax_error"),
])
def test_hostile_jinja_is_recorded_per_file(template, code):
    delta = analyse_texts({"dbt_project.yml": PROJECT, "models/bad.sql": template,
                           "models/good.sql": "select 1 as one"})
    assert [(d.path, d.code) for d in delta.diagnostics] == [("models/bad.sql", code)]
    assert "dbt.model:p.good" in node_set(delta)


def test_sandbox_hides_python_internals():
    from freshpoc_tasks.analysis.dbt import DbtAnalyzer
    from freshpoc_tasks.analysis.model import RepoContext, SourceFile

    files = {p: SourceFile.from_text(p, t) for p, t in {
        "dbt_project.yml": PROJECT,
        "models/m.sql": "select '{{ ''.__class__.__mro__[1].__subclasses__() }}' as leaked",
    }.items()}
    result = DbtAnalyzer().analyze_file(files["models/m.sql"], RepoContext("local/t", files))
    assert result.diagnostics == []
    assert result.facts["rendered"] == "select '' as leaked"


def test_dialect_comes_from_the_profile_and_project_vars_render():
    delta = analyse_texts({
        "dbt_project.yml": PROJECT + "vars:\n  cutoff: 7\n",
        "profiles.yml": "p:\n  target: prod\n  outputs:\n    prod: {type: snowflake, database: ANALYTICS, "
                        "schema: marts}\n",
        "models/a.sql": "select id, amount from {{ source('s', 't') }} qualify row_number() over "
                        "(partition by id order by ts) = 1 and amount > {{ var('cutoff') }}",
        "models/s.yml": "version: 2\nsources:\n  - name: s\n    tables: [{name: t}]\n",
    })
    project = next(n for n in delta.nodes if n.type == "dbt.project")
    assert project.props["dialect"] == "snowflake"
    c = "sql.column:default:analytics."
    assert edge_set(delta, "derives_from") == {
        ("derives_from", f"{c}marts.a.id", f"{c}s.t.id"),
        ("derives_from", f"{c}marts.a.amount", f"{c}s.t.amount"),
    }
    assert delta.diagnostics == []


@pytest.mark.slow
def test_model_edges_match_dbt_parse_manifest(example, tmp_path):
    """dbt itself is the oracle: same model/snapshot dependencies, materializations, relations."""
    venv = tool_venv(DBT_VENV_NAME, DBT_REQUIREMENTS)
    project = tmp_path / J
    shutil.copytree(EXAMPLES / J, project)
    subprocess.run([str(venv / "bin" / "dbt"), "parse", "--profiles-dir", str(project), "--project-dir",
                    str(project), "--no-send-anonymous-usage-stats"], check=True, cwd=project,
                   capture_output=True, timeout=600)
    manifest = json.loads((project / "target" / "manifest.json").read_text())

    def ours(unique_id: str) -> str:
        kind, _, rest = unique_id.partition(".")
        return f"dbt.{kind}:{rest}"

    expected = {
        ("depends_on", ours(uid), ours(dep))
        for uid, node in manifest["nodes"].items() if node["resource_type"] in ("model", "snapshot")
        for dep in node["depends_on"]["nodes"]
    }
    delta = example(J)
    assert edge_set(delta, "depends_on") == expected
    materialized = {n.name: n.props["materialized"] for n in delta.nodes if n.type == "dbt.model"}
    assert materialized == {
        node["name"]: node["config"]["materialized"]
        for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    relations = {
        ours(uid): node["relation_name"].replace('"', "").lower()
        for uid, node in [*manifest["nodes"].items(), *manifest["sources"].items()]
        if node.get("relation_name")
    }
    assert {src: dst.split(":", 2)[2] for (_t, src, dst) in edge_set(delta, "materializes_as")} == relations
    assert {ours(uid) for uid in manifest["macros"] if uid.startswith("macro.jaffle_shop.")} == \
        node_set(delta, "dbt.macro")
