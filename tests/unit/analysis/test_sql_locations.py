"""Failure class: storage locations. A bucket path, a directory or a file is a ``sql.location``
read or written, never a table (and a table function is not a table named after its schema)."""

from __future__ import annotations

import pytest
from conftest import analyse_texts, edge_set, node_set

from freshpoc_tasks.analysis.sqlcore import analyse_sql


@pytest.mark.parametrize(("dialect", "sql", "reads", "writes", "read_locs", "write_locs"), [
    ("postgres", "COPY tab1 FROM 's3://bucket/path'", [], ["tab1"], ["s3://bucket/path"], []),
    ("snowflake", "COPY INTO tab1 FROM 's3://bucket/path'", [], ["tab1"], ["s3://bucket/path"], []),
    ("snowflake", "COPY INTO tab1 FROM @stage/dir", [], ["tab1"], ["@stage/dir"], []),
    ("postgres", "COPY (SELECT * FROM a.b) TO '/tmp/out.csv'", ["a.b"], [], [], ["/tmp/out.csv"]),
    ("hive", "INSERT OVERWRITE DIRECTORY 'hdfs://path/to/folder' SELECT * FROM tab1", ["tab1"], [], [],
     ["hdfs://path/to/folder"]),
    ("spark", "SELECT * FROM parquet.`examples/src/main/`", [], [], ["examples/src/main/"], []),
    ("duckdb", "SELECT * FROM 'data/events.parquet'", [], [], ["data/events.parquet"], []),
    ("duckdb", "SELECT * FROM read_csv('s3://b/x.csv') JOIN dim ON true", ["dim"], [], ["s3://b/x.csv"], []),
    ("redshift", "UNLOAD ('select * from venue') TO 's3://b/unload/venue_' iam_role 'arn:aws:iam::1:role/R'",
     ["venue"], [], [], ["s3://b/unload/venue_"]),
    ("hive", "LOAD DATA INPATH '/tmp/x' INTO TABLE t", [], ["t"], ["/tmp/x"], []),
    ("snowflake", "COPY INTO @stage/out FROM (SELECT a FROM t)", ["t"], [], [], ["@stage/out"]),
    ("snowflake", "COPY INTO 's3://b/out/' FROM t", ["t"], [], [], ["s3://b/out/"]),
    ("bigquery", "EXPORT DATA OPTIONS(uri='gs://b/x/*.csv', format='CSV') AS SELECT a FROM t", ["t"], [], [],
     ["gs://b/x/*.csv"]),
])
def test_locations_are_not_tables(dialect, sql, reads, writes, read_locs, write_locs):
    [info] = analyse_sql(sql, dialect)
    assert (info.reads, info.writes, info.read_locations, info.write_locations) == (
        reads, writes, read_locs, write_locs)


@pytest.mark.parametrize(("dialect", "sql"), [
    (None, "SELECT * FROM db.my_func(1)"),
    ("snowflake", "SELECT seq4() FROM TABLE(generator(rowcount => 10)) v"),
    ("bigquery", "SELECT x FROM UNNEST([1, 2]) AS x"),
])
def test_table_functions_are_not_tables(dialect, sql):
    [info] = analyse_sql(sql, dialect)
    assert (info.reads, info.writes, info.read_locations) == ([], [], [])


def test_location_nodes_and_edges():
    delta = analyse_texts({"load.sql": "COPY raw.events FROM 's3://lake/events/';\n"
                                       "INSERT OVERWRITE DIRECTORY 's3://lake/out' SELECT * FROM raw.events"},
                          sql_dialect="hive")
    assert node_set(delta, "sql.location") == {"sql.location:default:s3://lake/events/",
                                               "sql.location:default:s3://lake/out"}
    loc = {n.key: n.props for n in delta.nodes if n.type == "sql.location"}
    assert loc["s3://lake/out"] == {"uri": "s3://lake/out", "scheme": "s3"}
    assert edge_set(delta, "reads", "writes") == {
        ("reads", "sql.statement:load.sql#0", "sql.location:default:s3://lake/events/"),
        ("writes", "sql.statement:load.sql#0", "sql.table:default:raw.events"),
        ("reads", "sql.statement:load.sql#1", "sql.table:default:raw.events"),
        ("writes", "sql.statement:load.sql#1", "sql.location:default:s3://lake/out"),
    }
    assert node_set(delta, "sql.table") == {"sql.table:default:raw.events"}
