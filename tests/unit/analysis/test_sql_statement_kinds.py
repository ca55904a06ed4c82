"""Failure class: statement kinds. Utility statements never read a table; DROP / TRUNCATE / ALTER /
DELETE are effects without data lineage; renames are (old, new) pairs; and the graph carries each
as its own edge type."""

from __future__ import annotations

import pytest
from conftest import analyse_texts, edge_set

from freshpoc_tasks.analysis.sqlcore import analyse_sql


@pytest.mark.parametrize(("dialect", "sql", "kind"), [
    (None, "USE db1", "use"),
    ("postgres", "ANALYZE tab", "analyze"),
    ("spark", "CACHE TABLE tab1 SELECT * FROM tab2", "cache"),
    ("spark", "UNCACHE TABLE IF EXISTS tab1", "uncache"),
    ("spark", "REFRESH TABLE tab1", "refresh"),
    ("spark", "DESC FUNCTION abs", "describe"),
    ("spark", "CREATE OR REPLACE TEMPORARY FUNCTION f AS 'Udf' USING JAR '/tmp/u.jar'", "create_function"),
    ("spark", "DROP FUNCTION test_avg", "drop"),
    ("spark", "SHOW CREATE TABLE tab1", "show"),
    ("spark", "ADD JAR /tmp/u.jar", "add"),
    ("spark", "SET spark.sql.variable.substitute=true", "set"),
    (None, "GRANT SELECT ON tab1 TO analyst", "grant"),
])
def test_utility_statements_touch_no_table(dialect, sql, kind):
    [info] = analyse_sql(sql, dialect)
    assert (info.kind, info.reads, info.writes, info.effects, info.renames, info.error) == (
        kind, [], [], [], [], None)


@pytest.mark.parametrize(("sql", "effects"), [
    ("DROP TABLE IF EXISTS db.tab1", [("drops", "db.tab1")]),
    ("DROP VIEW v1", [("drops", "v1")]),
    ("TRUNCATE TABLE tab1", [("truncates", "tab1")]),
    ("ALTER TABLE tab1 ADD COLUMN c INT", [("alters", "tab1")]),
    ("DELETE FROM tab1 WHERE id IN (SELECT id FROM tab2)", [("deletes", "tab1")]),
])
def test_changes_without_lineage_are_effects_not_reads(sql, effects):
    [info] = analyse_sql(sql)
    assert (info.writes, info.effects) == ([], effects)
    assert info.reads == (["tab2"] if "tab2" in sql else [])


@pytest.mark.parametrize(("dialect", "sql", "renames"), [
    (None, "ALTER TABLE tab1 RENAME TO tab2", [("tab1", "tab2")]),
    ("mysql", "RENAME TABLE tab1 TO tab2, tab3 TO tab4", [("tab1", "tab2"), ("tab3", "tab4")]),
])
def test_renames_are_pairs(dialect, sql, renames):
    [info] = analyse_sql(sql, dialect)
    assert (info.reads, info.writes, info.renames) == ([], [], renames)


@pytest.mark.parametrize(("dialect", "sql"), [
    ("hive", "ALTER TABLE tab1 EXCHANGE PARTITION (pt='part1') WITH TABLE tab2"),
    ("snowflake", "ALTER TABLE tab1 SWAP WITH tab2"),
])
def test_partition_exchange_moves_rows_in(dialect, sql):
    [info] = analyse_sql(sql, dialect)
    assert (info.reads, info.writes) == (["tab2"], ["tab1"])


def test_a_later_statement_sees_a_renamed_or_dropped_table_schema():
    infos = analyse_sql("create table a (x int, y int); alter table a rename to b; "
                        "insert into c select * from b; drop table b; insert into d select * from b")
    assert infos[2].columns == {"x": [("b", "x")], "y": [("b", "y")]}
    assert infos[4].columns == {"*": [("b", "*")]}


def test_effect_edges_in_the_graph():
    delta = analyse_texts({"ops.sql": "drop table s.old; truncate table s.t; alter table s.t rename to s.u;"
                                      " delete from s.u where 1 = 0"})
    t = "sql.table:default:"
    st = "sql.statement:ops.sql#"
    assert edge_set(delta, "reads", "writes", "drops", "truncates", "alters", "deletes", "renames",
                    "renamed_to") == {
        ("drops", f"{st}0", f"{t}s.old"),
        ("truncates", f"{st}1", f"{t}s.t"),
        ("renames", f"{st}2", f"{t}s.t"),
        ("renames", f"{st}2", f"{t}s.u"),
        ("renamed_to", f"{t}s.t", f"{t}s.u"),
        ("deletes", f"{st}3", f"{t}s.u"),
    }
    roles = {(e.dst.rpartition(":")[2], e.props["role"]) for e in delta.edges if e.type == "renames"}
    assert roles == {("s.t", "from"), ("s.u", "to")}
    assert delta.diagnostics == []
