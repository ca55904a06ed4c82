"""What FreshPoC's operators send through Airflow's ``Stats``: names, tags and values on the wire.

The backend is Airflow's own statsd logger, built by ``stats_utils.get_stats_factory()`` from the
same ``[metrics]`` settings the local stack gives Airflow (InfluxDB-style tags on, legacy names
off), pointed at a UDP socket of the test: what arrives there is exactly what statsd_exporter
would receive from a task.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from freshpoc_tasks.operators import metrics


class Wire:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def lines(self) -> list[str]:
        out: list[str] = []
        self.sock.settimeout(0.5)
        while True:
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                return out
            out += data.decode().splitlines()

    def samples(self) -> list[tuple[str, dict[str, str], float, str]]:
        """(name, tags, value, statsd type) of every line received so far."""
        found = []
        for line in self.lines():
            head, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            name, *pairs = head.split(",")
            found.append((name, dict(p.split("=", 1) for p in pairs), float(value), kind))
        return found


@pytest.fixture()
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    for key, value in {"STATSD_ON": "True", "STATSD_HOST": "127.0.0.1",
                       "STATSD_PORT": str(sock.getsockname()[1]), "STATSD_PREFIX": "airflow",
                       "STATSD_INFLUXDB_ENABLED": "True", "LEGACY_NAMES_ON": "False"}.items():
        monkeypatch.setenv(f"AIRFLOW__METRICS__{key}", value)
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
    try:
        yield Wire(sock)
    finally:
        from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger

        stats.initialize(factory=NoStatsLogger, export_legacy_names=False)
        sock.close()


def by_name(samples, name):
    return [(tags, value, kind) for n, tags, value, kind in samples if n == f"airflow.{name}"]


def test_write_graph_result_becomes_counters_distribution_and_timers(wire: Wire) -> None:
    counts = {"nodes_created": 7, "nodes_updated": 2, "nodes_closed": 1,
              "edges_created": 5, "edges_updated": 0, "edges_closed": 3}
    by_file = {"src/app.py": {"nodes_created": 4, "edges_created": 3},
               "models/orders.sql": {"nodes_created": 3, "nodes_updated": 2, "edges_closed": 2},
               "": {"nodes_closed": 1, "edges_created": 2, "edges_closed": 1}}
    sent = metrics.emit_graph("github.com/acme/shop", 12.5, counts, by_file,
                              {"src/app.py": "python", "models/orders.sql": "sql"}, retries=2,
                              transactions=4, timings={"read_s": 0.25, "plan_s": 0.5, "write_s": 1.0})
    samples = wire.samples()
    assert sent == 4  # two files with a path, nodes and edges each; the pathless totals are not a file

    nodes = {t["change"]: v for t, v, k in by_name(samples, "freshpoc.graph.nodes") if k == "c"}
    edges = {t["change"]: v for t, v, k in by_name(samples, "freshpoc.graph.edges") if k == "c"}
    assert nodes == {"created": 7, "updated": 2, "closed": 1}
    assert edges == {"created": 5, "updated": 0, "closed": 3}
    assert all(t["repo"] == "github.com/acme/shop"
               for t, _v, _k in by_name(samples, "freshpoc.graph.nodes"))

    per_file = sorted((t["language"], v, k) for t, v, k in by_name(samples, "freshpoc.graph.file_nodes"))
    assert per_file == [("python", 4.0, "ms"), ("sql", 5.0, "ms")]
    per_file_edges = sorted((t["language"], v) for t, v, _k in by_name(samples, "freshpoc.graph.file_edges"))
    assert per_file_edges == [("python", 3.0), ("sql", 2.0)]

    assert by_name(samples, "freshpoc.graph.writer_retries") == [({"repo": "github.com/acme/shop"}, 2, "c")]
    assert by_name(samples, "freshpoc.graph.transactions")[0][1] == 4
    phases = {t["phase"]: v for t, v, k in by_name(samples, "freshpoc.graph.phase_duration")}
    assert phases == {"read": 250.0, "plan": 500.0, "write": 1000.0}  # milliseconds on the wire
    assert by_name(samples, "freshpoc.stage.duration") == [
        ({"repo": "github.com/acme/shop", "stage": "write_graph"}, 12500.0, "ms")]


def test_mine_analyse_embed_report_and_events(wire: Wire) -> None:
    metrics.emit_mine("local/shop-0a1b2c3d", 3.0, {"files": 10, "files_skipped": 4, "commits": 25},
                      {"binary": 2, "too_large": 1})
    metrics.emit_analyse("local/shop-0a1b2c3d", 8.0,
                         {"analysed": 6, "cached": 3, "failed": 1, "limited": 0},
                         {"python": {"files": 5, "failed": 1, "seconds": 1.5},
                          "sql": {"files": 4, "failed": 0, "seconds": 0.5}})
    metrics.emit_embed("local/shop-0a1b2c3d", {"chunks": 9, "embedded": 3, "unchanged": 6, "deleted": 1}, 4.0)
    metrics.emit_report("local/shop-0a1b2c3d", 2.0, 0.75)
    metrics.event_produced("local/shop-0a1b2c3d", "graph", "graph.applied")
    metrics.dead_lettered("ingest", RuntimeError("clone of https://x/y failed: 128"))
    metrics.dead_lettered("plan", "UnsafeLocationError: file:///etc is not a repository")
    samples = wire.samples()

    assert by_name(samples, "freshpoc.mine.files_mined")[0][1] == 6
    assert sorted((t["reason"], v) for t, v, _ in by_name(samples, "freshpoc.mine.files_skipped")) == [
        ("binary", 2), ("too_large", 1), ("unknown", 1)]
    assert by_name(samples, "freshpoc.mine.commits")[0][1] == 25
    outcomes = {t["outcome"]: v for t, v, _ in by_name(samples, "freshpoc.analysis.results")}
    assert outcomes == {"analysed": 6, "cached": 3, "failed": 1, "limited": 0}
    files = {t["analyzer"]: v for t, v, _ in by_name(samples, "freshpoc.analysis.files")}
    assert files == {"python": 5, "sql": 4}
    assert {t["analyzer"]: v for t, v, _ in by_name(samples, "freshpoc.analysis.parse_failures")} == {
        "python": 1, "sql": 0}
    assert {t["analyzer"]: v for t, v, _ in by_name(samples, "freshpoc.analysis.duration")} == {
        "python": 1500.0, "sql": 500.0}
    assert {t["outcome"]: v for t, v, _ in by_name(samples, "freshpoc.embed.chunks")} == {
        "embedded": 3, "unchanged": 6, "deleted": 1}
    assert by_name(samples, "freshpoc.report.build_duration") == [
        ({"repo": "local/shop-0a1b2c3d"}, 750.0, "ms")]
    stages = sorted(t["stage"] for t, _v, _k in by_name(samples, "freshpoc.stage.duration"))
    assert stages == ["analyse", "embed", "mine", "report"]
    assert by_name(samples, "freshpoc.events.produced") == [
        ({"repo": "local/shop-0a1b2c3d", "stage": "graph", "topic": "graph.applied"}, 1, "c")]
    assert sorted((t["stage"], t["reason"]) for t, _v, _k in by_name(samples, "freshpoc.dlq.messages")) == [
        ("ingest", "RuntimeError"), ("plan", "UnsafeLocationError")]


def test_every_name_sent_is_in_the_catalogue_with_its_tags(wire: Wire) -> None:
    metrics.emit_graph("r", 1, {"nodes_created": 1}, {"a.py": {"nodes_created": 1}}, {"a.py": "python"})
    metrics.emit_mine("r", 1, {"files": 2, "files_skipped": 1})
    metrics.emit_analyse("r", 1, {}, {"dbt": {"files": 1}})
    metrics.emit_embed("r", {}, 1)
    metrics.emit_report("r", 1, 1)
    metrics.event_produced("r", "mine", "code.mined")
    metrics.dead_lettered("request", ValueError("x"))
    seen = {(n.removeprefix("airflow."), tuple(sorted(t))) for n, t, _v, _k in wire.samples()}
    expected = {(n, tuple(sorted(tags))) for n, (_kind, tags) in metrics.CATALOGUE.items()}
    assert seen <= expected
    # Everything but the optional figures of a fuller result was exercised here.
    assert {n for n, _ in expected} - {n for n, _ in seen} <= {
        "freshpoc.analysis.duration", "freshpoc.graph.phase_duration"}


def test_tag_values_are_what_airflow_accepts_and_bounded() -> None:
    assert metrics.tag_value("github.com/pallets/flask") == "github.com/pallets/flask"
    assert metrics.tag_value("git@host:org/x y,z=1") == "git_host_org/x_y_z_1"
    assert metrics.tag_value(None) == "none"
    assert metrics.tag_value("") == "none"
    assert len(metrics.tag_value("x" * 500)) == metrics.MAX_TAG_LENGTH
    reason = metrics.reason_of("RepositoryUnavailable: repository 'x' cannot be processed")
    assert reason == "RepositoryUnavailable"
    assert metrics.reason_of("no colon here, just words") == "other"


def test_a_bad_call_is_logged_not_raised(wire: Wire, caplog: pytest.LogCaptureFixture) -> None:
    assert metrics.emit_graph("r", 1, {"nodes_created": "many"}) is None  # int("many") fails
    assert "emit_graph failed" in caplog.text
    with pytest.raises(ValueError, match="takes tags"):
        metrics._tags("freshpoc.graph.nodes", repo="r")


def test_many_files_arrive_whole(wire: Wire) -> None:
    """Per-file samples are paced: 5000 files (10000 datagrams) all reach a socket."""
    by_file = {f"f{i}.py": {"nodes_created": 1 + i % 7} for i in range(5000)}
    sent = metrics.emit_graph("r", 1, {}, by_file, dict.fromkeys(by_file, "python"))
    got = by_name(wire.samples(), "freshpoc.graph.file_nodes")
    assert sent == 10000
    assert len(got) == 5000
    assert sum(v for _t, v, _k in got) == sum(1 + i % 7 for i in range(5000))
