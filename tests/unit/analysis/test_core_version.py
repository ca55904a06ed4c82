"""The shared SQL core's version is part of every cache key and of the reprocessing fingerprint.

The sql, dbt, airflow and python analyzers read SQL through ``sqlcore``; a change there changes
their output without their own versions moving, so cached results and processed commits must
follow the core's version too."""

from __future__ import annotations

from freshpoc_tasks.analysis import engine, sqlcore
from freshpoc_tasks.analysis.model import SourceFile
from freshpoc_tasks.analysis.python import PythonAnalyzer
from freshpoc_tasks.analysis.stage import versions


def test_cache_key_follows_the_sql_core_version(monkeypatch):
    file = SourceFile.from_text("pkg/q.py", "QUERY = 'select a from t'\n", "python")
    analyzer = PythonAnalyzer()
    before = engine.ResultCache.key(file, analyzer, "fp")
    assert engine.ResultCache.key(file, analyzer, "fp") == before
    monkeypatch.setattr(engine, "SQLCORE_VERSION", sqlcore.VERSION + ".next")
    assert engine.ResultCache.key(file, analyzer, "fp") != before


def test_reprocessing_fingerprint_names_the_sql_core():
    found = versions()
    assert found["core:sqlcore"] == sqlcore.VERSION
    assert {"analyzer:sql", "analyzer:dbt", "analyzer:airflow", "analyzer:python", "ontology"} <= set(found)
