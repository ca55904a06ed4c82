"""Garbage in: every analyzer records a classified reason per file, never raises, never hangs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freshpoc_tasks.analysis.airflow import AirflowAnalyzer
from freshpoc_tasks.analysis.dbt import DbtAnalyzer
from freshpoc_tasks.analysis.engine import builtin_analyzers
from freshpoc_tasks.analysis.model import AnalysisConfig, Budget, RepoContext, SourceFile
from freshpoc_tasks.analysis.pulumi import PulumiAnalyzer
from freshpoc_tasks.analysis.python import PythonAnalyzer
from freshpoc_tasks.analysis.sql import SqlAnalyzer

# Each analyzer with a path it claims and the neighbour files that make it claim it.
SETUPS = {
    "python": (PythonAnalyzer(), "pkg/mod.py", {}),
    "sql": (SqlAnalyzer(), "etl/q.sql", {}),
    "dbt": (DbtAnalyzer(), "models/m.sql", {"dbt_project.yml": "name: p\n"}),
    "dbt_yaml": (DbtAnalyzer(), "models/schema.yml", {"dbt_project.yml": "name: p\n"}),
    "pulumi": (PulumiAnalyzer(), "__main__.py", {"Pulumi.yaml": "name: x\nruntime: python\n"}),
    "airflow": (AirflowAnalyzer(), "dags/d.py", {}),
}


def run(key: str, content: bytes, budget_s: float = 10.0, **config: object):
    analyzer, path, extra = SETUPS[key]
    files = {p: SourceFile.from_text(p, t) for p, t in extra.items()}
    if key == "airflow":
        content = b"import airflow\n" + content
    files[path] = SourceFile.from_text(path, content)
    ctx = RepoContext("local/g", files, AnalysisConfig(**config))
    assert analyzer.accepts(files[path], ctx)
    return analyzer.analyze_file(files[path], ctx, Budget(budget_s))


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


@pytest.mark.parametrize("key", sorted(SETUPS))
def test_undecodable_bytes(key):
    result = run(key, b"select \xff\xfe\x00 from t")
    assert codes(result) == ["decode_error"] and result.nodes == []


@pytest.mark.parametrize(("key", "content", "expected"), [
    ("python", b"def broken(:\n", "syntax_error"),
    ("python", b"x = " + b"(" * 10_000 + b"1" + b")" * 10_000, "syntax_error"),
    ("python", b"x = " + b"-" * 10_000 + b"1", "resource_limit"),
    ("python", b"if x:\n" + b"".join(b" " * i + b"if x:\n" for i in range(1, 120)), "syntax_error"),
    ("pulumi", b"import pulumi_aws as aws\nx = " + b"[" * 10_000 + b"]" * 10_000, "syntax_error"),
    ("airflow", b"with DAG('d'):\n  pass\n  )", "syntax_error"),
    ("dbt", b"{% for %}", "jinja_syntax_error"),
    ("dbt", b"{{ {} + 1 }}", "jinja_render_error"),
    ("dbt_yaml", b"models: [: :", "yaml_error"),
])
def test_broken_input_is_classified(key, content, expected):
    assert expected in codes(run(key, content))


def test_ten_thousand_deep_sql_nesting_is_recorded_not_raised():
    result = run("sql", b"select " + b"(" * 10_000 + b"1" + b")" * 10_000 + b" from t")
    assert "internal_error" not in codes(result)
    assert result.diagnostics, "the statement cannot be analysed; that must be said"


def test_five_megabyte_sql_file_stops_at_the_time_budget():
    row = b"insert into big.t (a, b, c) values (1, 'two', 3.0);\n"
    content = row * (5 * 1024 * 1024 // len(row) + 1)
    assert len(content) > 5 * 1024 * 1024
    result = run("sql", content, budget_s=0.2)
    assert codes(result) == ["timeout"]


def test_oversized_file_is_skipped_with_reason():
    result = run("python", b"x = 1\n" * 100, max_file_bytes=100)
    assert codes(result) == ["too_large"]


def test_every_builtin_analyzer_is_covered_here():
    assert {a.name for a in builtin_analyzers()} == {a.name for a, _p, _e in SETUPS.values()}


SQL_WORDS = ["select", "from", "where", "join", "on", "insert", "into", "values", "create", "table", "as",
             "with", "union", "all", "group", "by", "order", "(", ")", ",", ";", "*", "=", "'x'", "1", "a",
             "b.c", "t", "null", "case", "when", "then", "end", "--", "/*", "*/", "`", '"', "{{", "}}", "{%",
             "%}", "ref('m')", "over", "partition", "merge", "using", "update", "set", "delete", "."]

random_sql = st.lists(st.sampled_from(SQL_WORDS), max_size=40).map(" ".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(SETUPS)), data=st.binary(max_size=300))
def test_random_bytes_never_escape(key, data):
    result = run(key, data)
    assert "internal_error" not in codes(result), result.diagnostics


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(SETUPS)), sql=random_sql)
def test_random_sql_never_escapes(key, sql):
    result = run(key, sql.encode())
    assert "internal_error" not in codes(result), result.diagnostics


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(["python", "pulumi", "airflow"]), text=st.text(max_size=200))
def test_random_text_never_escapes(key, text):
    result = run(key, text.encode("utf-8", "surrogatepass"))
    assert "internal_error" not in codes(result), result.diagnostics
