"""SQL analyzer and core: statements, tables, CTEs, column lineage, fallbacks, dialects."""

from __future__ import annotations

import pytest
from conftest import analyse_texts, edge_set, node_set

from freshpoc_tasks.analysis.sqlcore import analyse_sql, table_refs_from_sql

SCRIPT = """
create table raw.events (id int, user_id int, kind text, ts timestamp);
create table mart.daily as
with clicks as (select user_id, ts from raw.events where kind = 'click')
select user_id, count(*) as n_clicks, max(ts) as last_click from clicks group by user_id;
insert into mart.copy select * from raw.events;
update mart.daily set n_clicks = 0 where user_id is null;
select from where;
"""


def test_statements_tables_ctes_and_star_expansion():
    infos = analyse_sql(SCRIPT, "duckdb")
    assert [(i.kind, i.reads, i.writes, i.ctes, i.parsed) for i in infos] == [
        ("create_table", [], ["raw.events"], [], True),
        ("create_table", ["raw.events"], ["mart.daily"], ["clicks"], True),
        ("insert", ["raw.events"], ["mart.copy"], [], True),
        ("update", [], ["mart.daily"], [], True),
        ("unparsed", [], [], [], False),
    ]
    # count(*) counts the rows of the table the CTE reads: an edge to its `*`
    assert infos[1].columns == {"user_id": [("raw.events", "user_id")], "n_clicks": [("raw.events", "*")],
                                "last_click": [("raw.events", "ts")]}
    # `*` expands over the columns the first statement's DDL declared
    assert infos[2].columns == {c: [("raw.events", c)] for c in ("id", "user_id", "kind", "ts")}


def test_unparseable_statement_falls_back_to_tables_from_tokens():
    [info] = analyse_sql("insert into out.t select a from in_.s where ((", "postgres")
    assert (info.parsed, info.reads, info.writes) == (False, ["in_.s"], ["out.t"])
    assert info.error


def test_statement_sqlglot_keeps_as_command_is_recorded_with_its_tables():
    sql = "create rule r as on insert to out.t do instead insert into out.log select 1"
    [info] = analyse_sql(sql, "postgres")
    assert (info.kind, info.parsed, info.writes) == ("command", False, ["out.log"])
    assert "unsupported syntax" in (info.error or "")


def test_alter_table_alters_and_writes_nothing():
    # ALTER … OWNER changes the definition, not the rows: an `alters` relation, never a write
    [info] = analyse_sql("alter table mart.daily owner to analyst", "postgres")
    assert (info.kind, info.parsed, info.reads, info.writes, info.effects) == (
        "alter", True, [], [], [("alters", "mart.daily")])


def test_sql_file_graph_and_diagnostics():
    delta = analyse_texts({"etl/load.sql": SCRIPT}, sql_dialect="duckdb")
    assert node_set(delta, "sql.statement") == {f"sql.statement:etl/load.sql#{i}" for i in range(5)}
    t = "sql.table:default:"
    assert edge_set(delta, "reads", "writes") == {
        ("writes", "sql.statement:etl/load.sql#0", f"{t}raw.events"),
        ("reads", "sql.statement:etl/load.sql#1", f"{t}raw.events"),
        ("writes", "sql.statement:etl/load.sql#1", f"{t}mart.daily"),
        ("reads", "sql.statement:etl/load.sql#2", f"{t}raw.events"),
        ("writes", "sql.statement:etl/load.sql#2", f"{t}mart.copy"),
        ("writes", "sql.statement:etl/load.sql#3", f"{t}mart.daily"),
    }
    c = "sql.column:default:"
    assert edge_set(delta, "derives_from") == {
        ("derives_from", f"{c}mart.daily.user_id", f"{c}raw.events.user_id"),
        ("derives_from", f"{c}mart.daily.last_click", f"{c}raw.events.ts"),
        ("derives_from", f"{c}mart.daily.n_clicks", f"{c}raw.events.*"),
        *{("derives_from", f"{c}mart.copy.{x}", f"{c}raw.events.{x}")
          for x in ("id", "user_id", "kind", "ts")},
    }
    assert [(d.code, d.line, d.severity) for d in delta.diagnostics] == [("sql_parse_error", 8, "warning")]


@pytest.mark.parametrize(("dialect", "sql", "reads"), [
    ("bigquery", "select * from `proj.ds.events`", ["proj.ds.events"]),
    ("snowflake", "select * from db.sch.t qualify row_number() over (order by x) = 1", ["db.sch.t"]),
    ("tsql", "select top 5 * from [dbo].[orders]", ["dbo.orders"]),
])
def test_dialect_is_configurable(dialect, sql, reads):
    [info] = analyse_sql(sql, dialect)
    assert (info.parsed, info.reads) == (True, reads)


def test_templated_sql_file_is_rendered_before_parsing():
    delta = analyse_texts({"q.sql": "insert into a.b select x from c.d where day = '{{ ds }}'"})
    assert edge_set(delta, "reads", "writes") == {
        ("reads", "sql.statement:q.sql#0", "sql.table:default:c.d"),
        ("writes", "sql.statement:q.sql#0", "sql.table:default:a.b")}
    assert delta.diagnostics == []


def test_table_refs_from_sql_for_python_literals():
    assert table_refs_from_sql("select a from s.t join u on u.id = t.id") == [("s.t", "read"), ("u", "read")]
    assert table_refs_from_sql("not sql at all") == []


def test_sql_inside_a_dbt_project_is_left_to_dbt():
    delta = analyse_texts({"dbt_project.yml": "name: p\n", "models/m.sql": "select 1 as x"})
    assert node_set(delta, "sql.statement") == set()
    assert "dbt.model:p.m" in node_set(delta)
