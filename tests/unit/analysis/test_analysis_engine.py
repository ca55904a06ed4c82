"""Engine: ontology gate, content-addressed cache, determinism and JSONL round trip."""

from __future__ import annotations

import gc
import gzip

from conftest import load_example

from freshpoc_tasks.analysis.base import Analyzer
from freshpoc_tasks.analysis.engine import (
    ResultCache,
    RunStats,
    analyse_repository,
    discover_analyzers,
)
from freshpoc_tasks.analysis.model import AnalysisConfig, FileResult, SourceFile, paused_gc
from freshpoc_tasks.analysis.ontology import load_ontology, parse_ontology
from freshpoc_tasks.analysis.python import PythonAnalyzer
from freshpoc_tasks.analysis.stage import write_stage
from freshpoc_tasks.contracts.base import read_jsonl, write_jsonl
from freshpoc_tasks.contracts.graph import GRAPH_RECORDS, Edge, GraphDelta, Node


class _Rogue(Analyzer):
    name = "rogue"
    version = "1"

    def accepts(self, file, ctx):
        return file.path.endswith(".txt")

    def _analyze(self, file, text, ctx, budget):
        r = FileResult(path=file.path, analyzer=self.name)
        r.nodes.append(Node(id=ctx.nid("blob.thing", "x"), type="blob.thing", scope=ctx.repo_id, key="x",
                            name="x"))
        r.nodes.append(Node(id=ctx.nid("py.module", "m"), type="py.module", scope=ctx.repo_id, key="m",
                            name="m"))
        # inherits must go class -> class; module -> module is not declared
        r.edges.append(Edge(type="inherits", src=ctx.nid("py.module", "m"), dst=ctx.nid("py.module", "m")))
        r.edges.append(Edge(type="frobnicates", src=ctx.nid("py.module", "m"), dst=ctx.file_id(file.path)))
        return r


def test_ontology_declares_what_every_stage_needs():
    onto = load_ontology()
    assert onto.version.count(".") == 2
    assert {"repository", "file", "commit", "person", "folder"} <= onto.node_types.keys()
    analysis_types = {"py.module", "py.class", "py.function", "py.distribution", "sql.statement",
                      "sql.table", "sql.column", "dbt.project", "dbt.model", "dbt.source", "dbt.seed",
                      "dbt.snapshot", "dbt.macro", "dbt.test", "pulumi.project", "pulumi.stack",
                      "pulumi.resource", "airflow.dag", "airflow.task"}
    assert analysis_types <= onto.node_types.keys()
    assert onto.allows_edge("derives_from", "sql.column", "sql.column")
    assert not onto.allows_edge("derives_from", "sql.table", "sql.column")


def test_ontology_rejects_edges_to_undeclared_nodes_and_bad_versions():
    import pytest

    with pytest.raises(ValueError, match="undeclared"):
        parse_ontology({"version": "1.0.0", "node_types": {"a": {}}, "edge_types": {"e": {"from": ["a"],
                                                                                            "to": ["b"]}}})
    with pytest.raises(ValueError, match="semver"):
        parse_ontology({"version": "1.0", "node_types": {}})


def test_undeclared_types_are_proposed_not_emitted():
    files = [SourceFile.from_text("a.txt", "hi")]
    delta = analyse_repository(files, "local/t", analyzers=[_Rogue()])
    assert [n.type for n in delta.nodes] == ["py.module"]
    assert delta.edges == []
    assert sorted((p.category, p.type) for p in delta.proposed) == [
        ("edge", "frobnicates(py.module->file)"),
        ("edge", "inherits(py.module->py.module)"),
        ("node", "blob.thing"),
    ]


def test_cache_skips_unchanged_files_and_gives_the_same_delta(tmp_path):
    files = load_example("py_inventory")
    cache = ResultCache(tmp_path)
    first_stats, second_stats = RunStats(), RunStats()
    first = analyse_repository(files, "local/py_inventory", cache=cache, stats=first_stats)
    second = analyse_repository(files, "local/py_inventory", cache=cache, stats=second_stats)
    assert (first_stats.analysed, first_stats.cached) == (4, 0)
    assert (second_stats.analysed, second_stats.cached) == (0, 4)
    assert first == second

    changed = [f if f.path != "src/inventory/db.py" else SourceFile.from_text(f.path, b"x = 1\n")
               for f in files]
    third_stats = RunStats()
    analyse_repository(changed, "local/py_inventory", cache=cache, stats=third_stats)
    assert (third_stats.analysed, third_stats.cached) == (1, 3)


def test_new_analyzer_version_invalidates_its_cache(tmp_path):
    class Newer(PythonAnalyzer):
        version = "999"

    files = load_example("py_inventory")
    cache = ResultCache(tmp_path)
    analyse_repository(files, "local/p", analyzers=[PythonAnalyzer()], cache=cache)
    stats = RunStats()
    analyse_repository(files, "local/p", analyzers=[Newer()], cache=cache, stats=stats)
    assert stats.analysed == 4


def test_delta_streams_through_jsonl(tmp_path, example):
    delta = example("py_inventory")
    path = tmp_path / "analysis.jsonl.gz"
    written = write_jsonl(path, delta.iter_records())
    assert written == 1 + len(delta.nodes) + len(delta.edges)
    back = GraphDelta.from_records(read_jsonl(path, GRAPH_RECORDS))
    assert back == delta


def test_stage_file_holds_each_records_own_line(tmp_path):
    """write_stage encodes the records in bulk; every line is still the record's to_json_line,
    for every kind (header, nodes, edges, diagnostics, proposals)."""
    files = [*load_example("py_inventory"), SourceFile.from_text("src/broken.py", "def (:\n"),
             SourceFile.from_text("notes/a.txt", "rogue")]
    delta = analyse_repository(files, "local/p", analyzers=[PythonAnalyzer(), _Rogue()])
    assert delta.nodes and delta.edges and delta.diagnostics and delta.proposed
    path = write_stage(delta, tmp_path)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        assert fh.read() == "".join(r.to_json_line() + "\n" for r in delta.iter_records())
    assert GraphDelta.from_records(read_jsonl(path, GRAPH_RECORDS)) == delta


def test_builtin_analyzers_are_discoverable():
    names = {a.name for a in discover_analyzers()}
    assert {"python", "sql"} <= names


def test_progress_counts_every_file_once_whatever_order_workers_finish_in():
    files = [*load_example("py_inventory"), SourceFile.from_text("notes/readme.txt", "not analysed")]
    seen: list[tuple[int, int, str]] = []
    analyse_repository(files, "local/py_inventory", progress=lambda *args: seen.append(args))
    assert [n for n, _t, _p in seen] == list(range(1, len(files) + 1))
    assert {t for _n, t, _p in seen} == {len(files)}
    assert sorted(p for _n, _t, p in seen) == sorted(f.path for f in files)


def test_stats_and_limits_survive_the_round_trip_through_workers():
    files = load_example("py_inventory")
    inline, pooled = RunStats(), RunStats()
    a = analyse_repository(files, "local/p", stats=inline, config=AnalysisConfig(workers=0))
    b = analyse_repository(files, "local/p", stats=pooled, config=AnalysisConfig(workers=2))
    assert a == b
    assert (inline.files, inline.analysed, inline.failed) == (pooled.files, pooled.analysed, pooled.failed)
    assert dict(pooled.limited) == {}


def test_per_analyzer_figures_count_files_failures_and_worker_seconds(tmp_path):
    """The analyse stage's metrics: files and failures per analyzer, and the analysis seconds the
    workers measured (a cached result costs none)."""
    files = [*load_example("py_inventory"), SourceFile.from_text("src/broken.py", "def (:\n")]
    cache = ResultCache(tmp_path)
    cold, warm = RunStats(), RunStats()
    analyse_repository(files, "local/p", analyzers=[PythonAnalyzer()], cache=cache, stats=cold)
    analyse_repository(files, "local/p", analyzers=[PythonAnalyzer()], cache=cache, stats=warm)
    figures = cold.analyzer_figures()["python"]
    assert (figures["files"], figures["failed"]) == (5, cold.failed) and cold.failed >= 1
    assert figures["seconds"] > 0
    assert warm.analyzer_figures()["python"] == {"files": 5, "failed": cold.failed, "seconds": 0.0}


class _GcProbe(Analyzer):
    """Says on its one node whether the cyclic collector ran where the file was analysed."""

    name = "gc-probe"
    version = "1"

    def accepts(self, file, ctx):
        return True

    def _analyze(self, file, text, ctx, budget):
        r = FileResult(path=file.path, analyzer=self.name)
        r.nodes.append(Node(id=ctx.nid("py.module", file.path), type="py.module", scope=ctx.repo_id,
                            key=file.path, name=file.path, props={"gc": gc.isenabled()}))
        return r


def test_collector_is_paused_in_the_parent_only_and_put_back_as_it_was():
    """The engine builds its delta with the cyclic collector off (the records hold no cycles),
    but workers analyse hostile input under a memory budget, so they collect; the caller's
    setting is restored either way."""
    files = [SourceFile.from_text(f"m{i}.py", "x = 1\n") for i in range(40)]
    assert gc.isenabled()
    delta = analyse_repository(files, "local/gc", analyzers=[_GcProbe()], config=AnalysisConfig(workers=2))
    assert {n.props["gc"] for n in delta.nodes} == {True}
    assert gc.isenabled()
    with paused_gc():
        delta = analyse_repository(files, "local/gc", analyzers=[_GcProbe()],
                                   config=AnalysisConfig(workers=2))
        assert not gc.isenabled()
    assert {n.props["gc"] for n in delta.nodes} == {True}
    assert gc.isenabled()
