"""Failure class: statements sqlglot rejects. Their tables come off the token stream, and that
reading must not invent tables (IF of IF NOT EXISTS, CTE names, SELECT … INTO variables) nor miss
them (comma lists, bracketed joins, ALTER … APPEND FROM)."""

from __future__ import annotations

import pytest

from freshpoc_tasks.analysis.sqlcore import analyse_sql


@pytest.mark.parametrize(("dialect", "sql", "reads", "writes"), [
    # each statement carries syntax this sqlglot cannot parse ("((" or a T-SQL compound assignment)
    (None, "CREATE TABLE IF NOT EXISTS s.t AS SELECT a FROM u WHERE ((", ["u"], ["s.t"]),
    (None, "INSERT INTO t SELECT a FROM s1 x, s2 AS y, db.s3 WHERE ((", ["s1", "s2", "db.s3"], ["t"]),
    (None, "SELECT a FROM x LEFT JOIN (y yy INNER JOIN z ON z.id = yy.id) ON yy.id = x.id WHERE ((",
     ["x", "y", "z"], []),
    ("tsql", "WITH foo AS (SELECT * FROM n) UPDATE z SET z.q += foo.y FROM foo", ["n"], ["z"]),
    ("mysql", "SELECT c1, c2 INTO var1, var2 FROM test_table", ["test_table"], []),
    # the alias updated stands for the table it names
    ("tsql", "UPDATE sr SET sr.Name += ' - x' FROM Production.ScrapReason AS sr "
             "JOIN Production.WorkOrder AS wo ON sr.ScrapReasonID = wo.ScrapReasonID",
     ["production.workorder"], ["production.scrapreason"]),
    ("teradata", "CREATE VIEW foo AS SELECT Name, DOB (TITLE 'Birthdate') FROM Employee",
     ["employee"], ["foo"]),
])
def test_token_fallback(dialect, sql, reads, writes):
    [info] = analyse_sql(sql, dialect)
    assert (info.parsed, info.reads, info.writes) == (False, reads, writes)
    assert info.error


def test_alter_append_from_moves_rows():
    [info] = analyse_sql("ALTER TABLE target_table APPEND FROM source_table", "redshift")
    assert (info.reads, info.writes) == (["source_table"], ["target_table"])
