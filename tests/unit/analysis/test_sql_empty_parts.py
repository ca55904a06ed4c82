"""Empty name parts (``..t``): what a template such as ``{{ params.db }}.{{ params.schema }}.t``
renders to when its values are unknown. sqlglot keeps such a part as a plain empty string, not an
identifier; the table is still the named part, never an internal error."""

from __future__ import annotations

import pytest

from freshpoc_tasks.analysis.sqlcore import analyse_sql


@pytest.mark.parametrize(("sql", "dialect", "writes", "reads"), [
    ("CREATE TABLE IF NOT EXISTS ..enriched_sales (a STRING)", "snowflake", ["enriched_sales"], []),
    ("INSERT INTO ..t SELECT a FROM x..y", "snowflake", ["t"], ["x.y"]),
    ("INSERT INTO ..t SELECT a FROM x..y", None, ["t"], ["x.y"]),
])
def test_empty_name_parts_leave_the_named_table(sql, dialect, writes, reads):
    (info,) = analyse_sql(sql, dialect)
    assert (sorted(info.writes), sorted(info.reads)) == (writes, reads)
