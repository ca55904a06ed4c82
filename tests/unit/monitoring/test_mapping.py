"""The statsd_exporter mapping (include/monitoring/statsd_mapping.yml) on a private exporter.

A private statsd_exporter (the binary the stack builds, on free ports) is fed what Airflow and
FreshPoC's operators send — FreshPoC's through the real path, ``operators.metrics`` → Airflow's
statsd logger — and its ``/metrics`` page must show the Prometheus names and labels the rules and
dashboards query. Skipped only where the stack has not built statsd_exporter yet (``make unit``
on a new machine); ``make test`` builds it first.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from freshpoc_tasks.operators import metrics
from tests.unit.monitoring import promtext
from tests.unit.monitoring.promtext import one

ROOT = Path(__file__).resolve().parents[3]
MAPPING = ROOT / "include" / "monitoring" / "statsd_mapping.yml"


def exporter_binary() -> Path | None:
    from freshpoc_tasks.stack.config import StackConfig

    cfg = StackConfig.from_env()
    built = cfg.bin_dir / f"statsd_exporter-{cfg.versions['statsd_exporter']}"
    if built.exists():
        return built
    found = shutil.which("statsd_exporter")
    return Path(found) if found else None


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Exporter:
    def __init__(self, udp: int, http: int) -> None:
        self.udp, self.http = udp, http

    def send(self, *lines: str) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for line in lines:
                s.sendto(line.encode(), ("127.0.0.1", self.udp))

    def samples(self, settle: float = 0.6) -> list[tuple[str, dict[str, str], float]]:
        time.sleep(settle)  # the exporter flushes its event queue every 200 ms
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics", timeout=5) as resp:
            return promtext.parse(resp.read().decode())


@pytest.fixture()
def exporter(tmp_path: Path) -> Iterator[Exporter]:
    binary = exporter_binary()
    if binary is None:
        pytest.skip("statsd_exporter is not built yet (freshpoc stack up builds it)")
    udp, http = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    log = (tmp_path / "exporter.log").open("w")
    proc = subprocess.Popen([str(binary), f"--statsd.mapping-config={MAPPING}",
                             f"--statsd.listen-udp=127.0.0.1:{udp}", "--statsd.listen-tcp=",
                             f"--web.listen-address=127.0.0.1:{http}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"statsd_exporter did not start: {(tmp_path / 'exporter.log').read_text()}")
                time.sleep(0.1)
        yield Exporter(udp, http)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture()
def airflow_stats(exporter: Exporter, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Airflow's Stats as a task sets it up on the stack, sending to the private exporter."""
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    for key, value in {"STATSD_ON": "True", "STATSD_HOST": "127.0.0.1",
                       "STATSD_PORT": str(exporter.udp), "STATSD_PREFIX": "airflow",
                       "STATSD_INFLUXDB_ENABLED": "True", "LEGACY_NAMES_ON": "False"}.items():
        monkeypatch.setenv(f"AIRFLOW__METRICS__{key}", value)
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
    try:
        yield
    finally:
        from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger

        stats.initialize(factory=NoStatsLogger, export_legacy_names=False)


def test_freshpoc_metrics_reach_prometheus_names_with_labels(exporter: Exporter, airflow_stats: None) -> None:
    repo = "github.com/acme/shop"
    metrics.emit_graph(repo, 42.0, {"nodes_created": 7, "nodes_updated": 2, "nodes_closed": 1,
                                    "edges_created": 5},
                       {"a.py": {"nodes_created": 3, "edges_created": 2},
                        "b.py": {"nodes_created": 4}, "m.sql": {"nodes_updated": 2, "edges_created": 3}},
                       {"a.py": "python", "b.py": "python", "m.sql": "sql"}, retries=1,
                       transactions=3, timings={"read_s": 0.2, "plan_s": 0.1, "write_s": 1.5})
    metrics.emit_mine(repo, 5.0, {"files": 12, "files_skipped": 3, "commits": 40}, {"binary": 3})
    metrics.emit_analyse(repo, 9.0, {"analysed": 8, "cached": 2, "failed": 1, "limited": 0},
                         {"python": {"files": 6, "failed": 1, "seconds": 2.0}})
    metrics.emit_embed(repo, {"embedded": 4, "unchanged": 10, "deleted": 0}, 3.0)
    metrics.emit_report(repo, 2.0, 1.25)
    metrics.event_produced(repo, "graph", "graph.applied")
    metrics.dead_lettered("ingest", RuntimeError("boom"))
    s = exporter.samples()

    nodes = {lab["change"]: v for lab, v in promtext.select(s, "freshpoc_graph_nodes_total", repo=repo)}
    assert nodes == {"created": 7, "updated": 2, "closed": 1}
    # Per input file, by language: python files wrote 3 and 4 nodes, the SQL file 2.
    assert one(s, "freshpoc_graph_file_nodes_count", repo=repo, language="python") == 2
    assert one(s, "freshpoc_graph_file_nodes_sum", repo=repo, language="python") == 7
    buckets = {lab["le"]: v for lab, v in promtext.select(s, "freshpoc_graph_file_nodes_bucket",
                                                          repo=repo, language="python")}
    assert (buckets["2"], buckets["5"], buckets["+Inf"]) == (0, 2, 2)
    assert one(s, "freshpoc_graph_file_edges_sum", language="sql") == 3
    assert one(s, "freshpoc_graph_writer_retries_total", repo=repo) == 1
    assert one(s, "freshpoc_stage_duration_seconds_sum", repo=repo, stage="write_graph") == 42
    assert one(s, "freshpoc_graph_phase_duration_seconds_sum", phase="write") == 1.5
    assert one(s, "freshpoc_mine_files_mined_total", repo=repo) == 9
    assert one(s, "freshpoc_mine_files_skipped_total", repo=repo, reason="binary") == 3
    assert one(s, "freshpoc_analysis_results_total", outcome="failed") == 1
    assert one(s, "freshpoc_analysis_parse_failures_total", analyzer="python") == 1
    assert one(s, "freshpoc_analysis_duration_seconds_sum", analyzer="python") == 2
    assert one(s, "freshpoc_embed_chunks_total", outcome="unchanged") == 10
    assert one(s, "freshpoc_report_build_duration_seconds_sum", repo=repo) == 1.25
    assert one(s, "freshpoc_events_produced_total", topic="graph.applied", stage="graph") == 1
    assert one(s, "freshpoc_dlq_messages_total", stage="ingest", reason="RuntimeError") == 1
    assert not [n for n, _l, _v in s if n.startswith("airflow_freshpoc")]  # nothing left unmapped


def test_airflow_tagged_and_legacy_names_map_to_the_same_labelled_series(exporter: Exporter) -> None:
    # Airflow 3.3 with statsd_influxdb_enabled (tags), then the legacy dotted names of the same
    # events, as a deployment with legacy_names_on would send them.
    exporter.send(
        "airflow.ti.finish,dag_id=freshpoc_pipeline,task_id=process.ingest,state=success:1|c",
        "airflow.task.duration,dag_id=freshpoc_pipeline,task_id=process.mine:1500|ms",
        "airflow.dagrun.duration.failed,dag_id=freshpoc_pipeline:60000|ms",
        "airflow.pool.open_slots,pool_name=default_pool:128|g",
        "airflow.operator_failures,operator_name=MineOperator:1|c",
    )
    tagged = exporter.samples()
    exporter.send(
        "airflow.ti.finish.freshpoc_smoke.kafka.failed:1|c",
        "airflow.dag.freshpoc_smoke.dgraph.duration:500|ms",
        "airflow.dagrun.duration.failed.freshpoc_smoke:30000|ms",
        "airflow.dagrun.duration.success.freshpoc_smoke:20000|ms",
        "airflow.pool.open_slots.freshpoc_git:2|g",
        "airflow.operator_failures_IngestOperator:1|c",
        "airflow.SchedulerJob_start:1|c",
    )
    s = exporter.samples()
    finish = promtext.select(s, "airflow_ti_finish")
    assert ({"dag_id": "freshpoc_pipeline", "task_id": "process.ingest", "state": "success"}, 1) in finish
    assert ({"dag_id": "freshpoc_smoke", "task_id": "kafka", "state": "failed"}, 1) in finish
    assert one(s, "airflow_task_duration_sum", dag_id="freshpoc_pipeline",
                           task_id="process.mine") == 1.5
    assert one(s, "airflow_task_duration_sum", dag_id="freshpoc_smoke", task_id="dgraph") == 0.5
    failed = {lab["dag_id"]: v for lab, v in promtext.select(s, "airflow_dagrun_failed_count")}
    assert failed == {"freshpoc_pipeline": 1, "freshpoc_smoke": 1}
    assert one(s, "airflow_dagrun_duration_count", dag_id="freshpoc_smoke") == 1
    pools = {lab["pool_name"]: v for lab, v in promtext.select(s, "airflow_pool_open_slots")}
    assert pools == {"default_pool": 128, "freshpoc_git": 2}
    ops = {lab["operator_name"]: v for lab, v in promtext.select(s, "airflow_operator_failures")}
    assert ops == {"MineOperator": 1, "IngestOperator": 1}
    assert one(s, "airflow_job_start", job_name="SchedulerJob") == 1
    # No dag or task id ends up inside a metric name.
    assert not [n for n, _l, _v in s if "freshpoc_smoke" in n or "freshpoc_pipeline" in n]
    assert len(tagged) <= len(s)


def test_every_freshpoc_metric_has_a_mapping_of_its_kind() -> None:
    mappings = {m["match"]: m for m in yaml.safe_load(MAPPING.read_text())["mappings"]}
    for name, (kind, _tags) in metrics.CATALOGUE.items():
        m = mappings.get(f"airflow.{name}")
        assert m is not None, f"{name} has no mapping"
        suffix = {"counter": "_total", "timer": "_seconds", "distribution": ""}[kind]
        assert m["name"].endswith(suffix) and m["name"].startswith("freshpoc_"), m["name"]
        assert (m.get("scale") == 1000) == (kind == "distribution"), name
