"""Failure class: statements that write somewhere other than ``stmt.this``. SELECT … INTO writes its
INTO table, MATERIALIZED VIEW … TO writes its TO table, T-SQL's UPDATE of an alias writes the
aliased table; none of those targets is read."""

from __future__ import annotations

import pytest

from freshpoc_tasks.analysis.sqlcore import analyse_sql


@pytest.mark.parametrize("dialect", ["postgres", "redshift", "tsql"])
def test_select_into_writes_its_into_table(dialect):
    [info] = analyse_sql("SELECT * INTO films_recent FROM films WHERE date_prod >= '2002-01-01'", dialect)
    assert (info.reads, info.writes) == (["films"], ["films_recent"])


def test_select_into_with_union_reads_both_branches():
    sql = "SELECT a INTO s.all_films FROM films UNION ALL SELECT a FROM films_backup"
    [info] = analyse_sql(sql, "postgres")
    assert (info.reads, info.writes) == (["films", "films_backup"], ["s.all_films"])
    assert info.columns == {"a": [("films", "a"), ("films_backup", "a")]}


def test_materialized_view_to_writes_the_to_table():
    sql = "CREATE MATERIALIZED VIEW db.mv TO db.totals AS SELECT k, sum(v) AS total FROM db.events GROUP BY k"
    [info] = analyse_sql(sql, "clickhouse")
    assert (info.reads, info.writes) == (["db.events"], ["db.totals"])
    assert info.columns == {"k": [("db.events", "k")], "total": [("db.events", "v")]}


@pytest.mark.parametrize(("dialect", "sql"), [
    (None, "CREATE TABLE tab1 LIKE tab2"),
    ("snowflake", "CREATE TABLE tab1 CLONE tab2"),
])
def test_create_from_another_table_reads_it(dialect, sql):
    [info] = analyse_sql(sql, dialect)
    assert (info.reads, info.writes) == (["tab2"], ["tab1"])


def test_tsql_update_of_an_alias_writes_the_aliased_table():
    [info] = analyse_sql("UPDATE t SET t.c = s.c FROM dbo.tab1 t JOIN dbo.tab2 s ON t.id = s.id", "tsql")
    assert (info.reads, info.writes) == (["dbo.tab2"], ["dbo.tab1"])
    assert info.columns == {"c": [("dbo.tab2", "c")]}


def test_insert_into_a_cte_named_table_is_still_the_table():
    [info] = analyse_sql("WITH t AS (SELECT a FROM src) INSERT INTO tgt SELECT a FROM t")
    assert (info.reads, info.writes, info.ctes) == (["src"], ["tgt"], ["t"])
    assert info.columns == {"a": [("src", "a")]}


@pytest.mark.parametrize(("dialect", "sql", "reads", "writes"), [
    ("hive", "FROM src INSERT OVERWRITE TABLE a SELECT x INSERT INTO TABLE b SELECT y", ["src"], ["a", "b"]),
    ("snowflake", "INSERT ALL INTO t1 VALUES (a) INTO t2 VALUES (b) SELECT a, b FROM s", ["s"], ["t1", "t2"]),
])
def test_multi_table_inserts_write_every_target(dialect, sql, reads, writes):
    [info] = analyse_sql(sql, dialect)
    assert (info.reads, info.writes) == (reads, writes)


def test_alter_view_as_query_redefines_the_view():
    [info] = analyse_sql("ALTER VIEW v AS SELECT a FROM t")
    assert (info.reads, info.writes, info.effects, info.columns) == (["t"], ["v"], [], {"a": [("t", "a")]})


@pytest.mark.parametrize(("sql", "target"), [
    ("SELECT a INTO #tmp FROM dbo.s", "#tmp"),
    ("SELECT a INTO ##tmp FROM dbo.s", "##tmp"),
])
def test_tsql_temp_tables_keep_their_marker(sql, target):
    [info] = analyse_sql(sql, "tsql")
    assert (info.reads, info.writes) == (["dbo.s"], [target])
