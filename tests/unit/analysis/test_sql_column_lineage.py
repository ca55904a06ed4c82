"""Failure classes of column lineage, one test each, with the exact expected edges: MERGE and UPDATE
assignments, per-column fallback, declared column lists, ``*`` (expanded or ``tab.*``), unnamed
expressions, identifier normalisation, bracketed CTAS queries, table functions."""

from __future__ import annotations

import pytest
from conftest import analyse_texts, edge_set

from freshpoc_tasks.analysis.sqlcore import analyse_sql


def one(sql: str, dialect: str | None = None, schema=None):
    [info] = analyse_sql(sql, dialect, schema=schema)
    return info


def test_merge_gives_lineage_per_assigned_column():
    info = one("""MERGE INTO tgt t USING (SELECT k, max(v) AS v_max FROM src GROUP BY k) AS b ON t.k = b.k
WHEN MATCHED AND b.v_max > 0 THEN UPDATE SET t.v = b.v_max, t.n = t.n + 1
WHEN NOT MATCHED THEN INSERT (k, v, n) VALUES (b.k, b.v_max, 0)""")
    assert (info.reads, info.writes) == (["src"], ["tgt"])
    assert info.columns == {"v": [("src", "v")], "n": [("tgt", "n")], "k": [("src", "k")]}


def test_merge_insert_values_refer_to_the_source_only():
    info = one("""MERGE INTO tgt AS d USING (SELECT * FROM a UNION ALL SELECT * FROM b) AS s ON FALSE
WHEN NOT MATCHED THEN INSERT (platform, q) VALUES (platform, s.q)""", "bigquery")
    assert info.columns == {"platform": [("a", "platform"), ("b", "platform")], "q": [("a", "q"), ("b", "q")]}
    assert info.unresolved == {}


def test_update_set_gives_lineage_from_its_from_clause():
    info = one("""UPDATE public.tgt AS t SET name = s1.name, email = s2.email, touched = now()
FROM public.src1 AS s1 JOIN public.src2 AS s2 ON s1.id = s2.id WHERE t.id = s1.id""")
    assert (info.reads, info.writes) == (["public.src1", "public.src2"], ["public.tgt"])
    assert info.columns == {"name": [("public.src1", "name")], "email": [("public.src2", "email")],
                            "touched": []}


def test_one_unresolvable_column_costs_only_itself():
    info = one("""INSERT INTO tgt
SELECT t1.a, col1, (SELECT max(x) FROM t3 WHERE t3.id = t1.id) AS mx, t2.b + 1 AS b1
FROM t1 JOIN t2 ON t1.id = t2.id""")
    assert info.columns == {"a": [("t1", "a")], "col1": [], "mx": [("t3", "x")], "b1": [("t2", "b")]}
    assert info.unresolved == {"col1": ["col1"]}  # in t1 or t2: not guessed
    assert info.lineage_error is None


def test_schema_places_unqualified_columns_and_lateral_aliases():
    schema = {"person.person": {"firstname": "text", "lastname": "text", "id": "int"},
              "person.address": {"id": "int", "city": "text"}}
    info = one("""INSERT INTO tmp.contact
SELECT firstname AS user_name, user_name || ' ' || lastname AS full_name, city
FROM person.person p JOIN person.address a ON p.id = a.id""", schema=schema)
    assert info.columns == {
        "user_name": [("person.person", "firstname")],
        "full_name": [("person.person", "firstname"), ("person.person", "lastname")],
        "city": [("person.address", "city")],
    }
    assert info.unresolved == {}


def test_join_using_column_comes_from_both_sides():
    info = one("INSERT INTO tgt SELECT id, a FROM t1 JOIN t2 USING (id)",
               schema={"t1": {"id": "int", "a": "int"}, "t2": {"id": "int"}})
    assert info.columns == {"id": [("t1", "id"), ("t2", "id")], "a": [("t1", "a")]}


@pytest.mark.parametrize("sql", [
    "CREATE VIEW v (x, y) AS SELECT a, b + 1 FROM s",
    "CREATE VIEW v (x, y) AS (SELECT a, b + 1 FROM s)",
    "INSERT INTO v (x, y) SELECT a, b + 1 FROM s",
])
def test_declared_column_lists_map_positionally(sql):
    assert one(sql).columns == {"x": [("s", "a")], "y": [("s", "b")]}


def test_known_target_columns_map_positionally_skipping_static_partitions():
    schema = {"tmp.daily": {"card_key": "int", "card_id": "int", "dt": "int"}}
    info = one("INSERT OVERWRITE TABLE tmp.daily PARTITION (dt=20251217) SELECT k, id FROM tmp.cards",
               "hive", schema=schema)
    assert info.columns == {"card_key": [("tmp.cards", "k")], "card_id": [("tmp.cards", "id")]}


def test_star_expands_when_upstream_columns_are_known_else_gives_a_star_edge():
    infos = analyse_sql("""CREATE TABLE a AS SELECT x, y FROM raw.s;
INSERT INTO b SELECT * FROM a;
INSERT INTO c SELECT u.*, a.x FROM raw.u AS u JOIN a ON u.id = a.x;
INSERT INTO d SELECT * EXCEPT (y) FROM a""", "bigquery")
    assert infos[1].columns == {"x": [("a", "x")], "y": [("a", "y")]}
    assert infos[2].columns == {"*": [("raw.u", "*")], "x": [("a", "x")]}
    assert infos[3].columns == {"x": [("a", "x")]}


def test_star_edges_in_the_graph():
    delta = analyse_texts({"s.sql": "insert into m.t select * from r.s"})
    c = "sql.column:default:"
    assert edge_set(delta, "derives_from") == {("derives_from", f"{c}m.t.*", f"{c}r.s.*")}


def test_unnamed_expressions_are_named_by_their_sql():
    info = one("INSERT INTO t SELECT max(c1), c1 + c2, CAST(c3 AS DATE), count(*) FROM s")
    assert info.columns == {"MAX(c1)": [("s", "c1")], "c1 + c2": [("s", "c1"), ("s", "c2")],
                            "CAST(c3 AS DATE)": [("s", "c3")], "COUNT(*)": [("s", "*")]}


@pytest.mark.parametrize(("dialect", "sql", "table", "columns"), [
    ("postgres", 'INSERT INTO "Sch"."T" SELECT "col2", "Mixed" FROM src', "Sch.T", {"col2", "Mixed"}),
    ("postgres", 'INSERT INTO Sch.T SELECT COL2 FROM src', "sch.t", {"col2"}),
    ("snowflake", 'INSERT INTO "SCH"."T" SELECT "COL2", col3 FROM src', "sch.t", {"col2", "col3"}),
    ("bigquery", "INSERT INTO `Proj.Ds.T` SELECT `Col2` FROM src", "proj.ds.t", {"col2"}),
    ("tsql", "INSERT INTO [dbo].[T] SELECT [Col 2] FROM src", "dbo.t", {"col 2"}),
])
def test_identifiers_are_normalised_as_the_dialect_does(dialect, sql, table, columns):
    info = one(sql, dialect)
    assert info.writes == [table]
    assert set(info.columns) == columns
    assert all(up == [("src", c)] for c, up in info.columns.items())


def test_ctas_with_the_query_in_brackets_keeps_its_upstream():
    info = one("CREATE TABLE t AS (WITH c AS (SELECT a FROM s) SELECT a FROM c)")
    assert (info.reads, info.writes, info.columns) == (["s"], ["t"], {"a": [("s", "a")]})


def test_table_functions_give_columns_from_their_arguments_not_a_table():
    info = one("INSERT INTO t SELECT o.id, x FROM orders o CROSS JOIN UNNEST(o.items) AS u(x)", "trino")
    assert (info.reads, info.columns) == (["orders"], {"id": [("orders", "id")], "x": [("orders", "items")]})


def test_struct_fields_resolve_to_their_column():
    info = one("INSERT INTO t SELECT s.payload.user_id AS uid FROM raw.events s", "bigquery")
    assert info.columns == {"uid": [("raw.events", "payload")]}


def test_ambiguous_columns_are_a_diagnostic_not_an_edge():
    delta = analyse_texts({"j.sql": "insert into m.t select a.x, y from s.a a join s.b b on a.id = b.id"})
    c = "sql.column:default:"
    assert edge_set(delta, "derives_from") == {("derives_from", f"{c}m.t.x", f"{c}s.a.x")}
    assert [(d.code, d.line) for d in delta.diagnostics] == [("lineage_ambiguous", 1)]
    assert "y <- y" in delta.diagnostics[0].message
