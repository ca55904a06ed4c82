"""YAML a hostile repository uses against the dbt analyzer: one refused file is recorded with its
reason and costs only itself (issue 15, found by tests/hostile)."""

from __future__ import annotations

import time

import pytest

from freshpoc_tasks.analysis.dbt import DbtAnalyzer
from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.model import AnalysisConfig, SourceFile
from freshpoc_tasks.analysis.safe_yaml import YamlRefused, refusal_code, safe_load

PROJECT = "name: p\nversion: '1.0'\nprofile: p\nconfig-version: 2\n"
PROFILES = "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: p.duckdb\n"
LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 10))


def test_a_second_document_is_refused_without_reading_the_rest():
    text = "name: x\n" + "---\n" * 200_000
    started = time.monotonic()
    with pytest.raises(YamlRefused) as err:
        safe_load(text)
    assert time.monotonic() - started < 0.5  # read up to the second document only
    assert refusal_code(err.value) == "yaml_error" and "single document" in str(err.value)
    assert safe_load("--- \na: 1\n...\n") == {"a": 1}


@pytest.mark.parametrize(("profiles", "code"), [
    (PROFILES + LAUGHS, "yaml_alias_budget"),
    (PROFILES + "      when: 0000-01-01\n", "yaml_error"),  # a date Python cannot hold
])
def test_a_refused_profiles_yml_is_recorded_and_models_still_come_out(profiles, code):
    files = [SourceFile.from_text(p, t) for p, t in {
        "dbt_project.yml": PROJECT, "profiles.yml": profiles, "models/ok.sql": "select 1 as id\n"}.items()]
    delta = analyse_repository(files, "local/p", config=AnalysisConfig(), analyzers=[DbtAnalyzer()])
    codes = {(d.path, d.code) for d in delta.diagnostics}
    assert ("profiles.yml", code) in codes
    assert any(n.path == "models/ok.sql" for n in delta.nodes)
    assert not [c for c in codes if c[0] == "models/ok.sql"]


def test_a_valid_profiles_yml_adds_nothing():
    files = [SourceFile.from_text(p, t) for p, t in {
        "dbt_project.yml": PROJECT, "profiles.yml": PROFILES, "models/ok.sql": "select 1 as id\n"}.items()]
    delta = analyse_repository(files, "local/p", config=AnalysisConfig(), analyzers=[DbtAnalyzer()])
    assert not delta.diagnostics and not [n for n in delta.nodes if n.path == "profiles.yml"]
