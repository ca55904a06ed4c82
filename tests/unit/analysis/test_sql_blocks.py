"""Failure class: statement boundaries. Procedures and script blocks are split on the tokenizer's
real boundaries -- a ``;`` inside ``BEGIN … END`` does not end the procedure -- and each inner
statement is analysed on its own, pointing at its block; the procedure's name is not a table."""

from __future__ import annotations

import pytest
from conftest import analyse_texts, node_set

from freshpoc_tasks.analysis.sqlcore import analyse_sql

BODY = ("BEGIN\nINSERT INTO tab2 (col1)\nSELECT col1 FROM tab1;\n"
        "INSERT INTO tab3 (col2) SELECT col2 FROM tab2;\nEND")


@pytest.mark.parametrize(("dialect", "header"), [
    ("bigquery", "CREATE PROCEDURE db1.proc1()\n"),
    ("tsql", "CREATE PROCEDURE db1.proc1\nAS\n"),
    ("oracle", "CREATE PROCEDURE db1.proc1\nAS\n"),
    ("snowflake", "CREATE PROCEDURE db1.proc1()\nRETURNS INT\nAS\n"),
])
def test_procedure_body_statements_are_analysed_one_by_one(dialect, header):
    infos = analyse_sql(header + BODY, dialect)
    assert [(i.kind, i.block, i.reads, i.writes) for i in infos] == [
        ("create_procedure", None, [], []),
        ("insert", 0, ["tab1"], ["tab2"]),
        ("insert", 0, ["tab2"], ["tab3"]),
    ]
    assert infos[1].columns == {"col1": [("tab1", "col1")]}
    assert infos[2].columns == {"col2": [("tab2", "col2")]}


def test_nested_blocks_case_and_transactions_keep_boundaries():
    sql = """BEGIN TRANSACTION;
INSERT INTO a SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END AS flag FROM b;
COMMIT;
CREATE PROCEDURE p AS
BEGIN
  SET NOCOUNT ON;
  BEGIN TRY
    WHILE @i > 0
      BEGIN
        INSERT INTO c SELECT y FROM d;
      END
  END TRY
  BEGIN CATCH
    SELECT ERROR_MESSAGE() AS error_info;
  END CATCH
END;
SELECT z FROM e"""
    infos = analyse_sql(sql, "tsql")
    tables = [(i.kind, i.block, i.reads, i.writes) for i in infos if i.reads or i.writes]
    assert tables == [("insert", None, ["b"], ["a"]), ("insert", 6, ["d"], ["c"]),
                      ("select", None, ["e"], [])]
    # the procedure, its TRY/CATCH block, the WHILE's block; the CATCH body's SELECT is block 5's too
    assert [(i.index, i.kind, i.block) for i in infos if i.kind in ("create_procedure", "block")] == [
        (3, "create_procedure", None), (5, "block", 3), (6, "block", 5)]
    assert [(i.kind, i.block, i.parsed) for i in infos[8:9]] == [("select", 5, True)]
    assert infos[1].columns == {"flag": [("b", "x")]}


def test_plsql_control_flow_keeps_its_statements_and_end_if_does_not_close_the_block():
    sql = """CREATE OR REPLACE PROCEDURE p IS
BEGIN
  IF 1 = 1 THEN
    INSERT INTO t1 SELECT a FROM s1;
  ELSE
    INSERT INTO t4 SELECT a FROM s4;
  END IF;
  INSERT INTO t2 SELECT b FROM s2;
END;
INSERT INTO t3 SELECT c FROM s3"""
    infos = analyse_sql(sql, "oracle")
    assert [(i.kind, i.block, i.reads, i.writes, i.parsed) for i in infos] == [
        ("create_procedure", None, [], [], True),
        ("insert", 0, ["s1"], ["t1"], True),
        ("insert", 0, ["s4"], ["t4"], True),
        ("insert", 0, ["s2"], ["t2"], True),
        ("insert", None, ["s3"], ["t3"], True),
    ]


def test_statement_nodes_carry_their_block():
    delta = analyse_texts({"p.sql": "CREATE PROCEDURE p() BEGIN INSERT INTO t SELECT a FROM s; END"},
                          sql_dialect="bigquery")
    assert node_set(delta, "sql.statement") == {"sql.statement:p.sql#0", "sql.statement:p.sql#1"}
    blocks = {n.key: n.props["block"] for n in delta.nodes if n.type == "sql.statement"}
    assert blocks == {"p.sql#0": -1, "p.sql#1": 0}
    assert node_set(delta, "sql.table") == {"sql.table:default:t", "sql.table:default:s"}


@pytest.mark.parametrize(("dialect", "sql", "kinds"), [
    ("postgres", "DO $$ BEGIN INSERT INTO t SELECT a FROM s; END $$",
     [("do", None), ("block", 0), ("insert", 1)]),
    ("postgres", "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ DECLARE x int; "
                 "BEGIN INSERT INTO t SELECT a FROM s; END $$",
     [("create_function", None), ("declare", 0), ("block", 0), ("insert", 2)]),
    ("snowflake", "CREATE PROCEDURE p() RETURNS INT LANGUAGE SQL AS $$ BEGIN INSERT INTO t SELECT a FROM s; "
                  "RETURN 1; END $$",
     [("create_procedure", None), ("block", 0), ("insert", 1), ("return", 1)]),
])
def test_routine_bodies_in_strings_are_analysed(dialect, sql, kinds):
    infos = analyse_sql(sql, dialect)
    assert [(i.kind, i.block) for i in infos] == kinds
    [insert] = [i for i in infos if i.kind == "insert"]
    assert (insert.reads, insert.writes, insert.columns) == (["s"], ["t"], {"a": [("s", "a")]})
    assert all(i.error is None for i in infos)


def test_a_string_body_in_another_language_is_not_sql():
    infos = analyse_sql("CREATE FUNCTION simple_udf AS 'SimpleUdf' USING JAR '/tmp/SimpleUdf.jar'", "spark")
    assert [(i.kind, i.reads, i.writes) for i in infos] == [("create_function", [], [])]


def test_statements_without_semicolons_are_split_where_the_next_one_starts():
    sql = """insert into tab1 select * from foo
insert into tab2 select a from bar
update t set x = y.x from t join y on t.id = y.id
delete from z where 1 = 1"""
    infos = analyse_sql(sql, "tsql")
    assert [(i.kind, i.parsed, i.reads, i.writes, i.effects) for i in infos] == [
        ("insert", True, ["foo"], ["tab1"], []),
        ("insert", True, ["bar"], ["tab2"], []),
        ("update", True, ["y"], ["t"], []),
        ("delete", True, [], [], [("deletes", "z")]),
    ]
    assert infos[1].columns == {"a": [("bar", "a")]}


def test_keywords_inside_a_statement_do_not_split_it():
    [info] = analyse_sql("CREATE TABLE t (a INT REFERENCES u (a) ON DELETE CASCADE ON UPDATE CASCADE)")
    assert (info.kind, info.reads, info.writes) == ("create_table", [], ["t"])  # a constraint reads no rows


@pytest.mark.parametrize("sql", [
    "ELSE " * 3000 + "insert into t select a from s",
    "BEGIN " * 2000 + "insert into t select a from s;" + " END" * 2000,
    "END " * 3000,
])
def test_hostile_nesting_is_bounded(sql):
    # no recursion limit reached, no quadratic blow-up: deep nesting is read flat past a bound
    infos = analyse_sql(sql, "tsql")
    assert len(infos) <= 30
