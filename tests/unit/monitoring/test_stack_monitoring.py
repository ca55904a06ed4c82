"""The local stack runs statsd_exporter and Prometheus on the files of include/monitoring, and
Airflow with the metric settings the mapping expects."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from freshpoc_tasks.stack.config import StackConfig
from freshpoc_tasks.stack.services import (
    airflow_env,
    monitoring_file,
    prometheus,
    prometheus_config,
    statsd_exporter,
)


def test_statsd_exporter_uses_the_committed_mapping(tmp_path: Path) -> None:
    cfg = StackConfig.from_env()
    command = statsd_exporter(cfg).programs[0].command
    mapping = [a.split("=", 1)[1] for a in command if a.startswith("--statsd.mapping-config=")]
    assert mapping == [str(monitoring_file(cfg, "statsd_mapping.yml"))]
    assert Path(mapping[0]).is_file()


def test_airflow_sends_tags_and_not_the_legacy_names() -> None:
    env = airflow_env(StackConfig.from_env())
    assert env["AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED"] == "True"
    assert env["AIRFLOW__METRICS__LEGACY_NAMES_ON"] == "False"


def test_prometheus_loads_the_rules_and_scrapes_the_servers(tmp_path: Path) -> None:
    cfg = StackConfig.from_env()
    conf = yaml.safe_load(prometheus_config(cfg))
    assert conf["rule_files"] == [str(monitoring_file(cfg, "prometheus", "rules.yml"))]
    assert Path(conf["rule_files"][0]).is_file()
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in conf["scrape_configs"]}
    assert jobs["statsd_exporter"] == [f"127.0.0.1:{cfg.ports['statsd_http']}"]
    assert jobs["dgraph-alpha"] == [f"127.0.0.1:{cfg.ports['dgraph_http']}"]
    assert all(t.startswith("127.0.0.1:") for targets in jobs.values() for t in targets)
    config_flag = "--config.file=" + str(cfg.data("prometheus") / "prometheus.yml")
    assert config_flag in prometheus(cfg).programs[0].command
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if Path(promtool).exists():  # the whole file, rules included, as Prometheus will read it
        path = tmp_path / "prometheus.yml"
        path.write_text(prometheus_config(cfg))
        out = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def test_kafka_runs_the_jmx_exporter_agent_on_loopback() -> None:
    cfg = StackConfig.from_env()
    from freshpoc_tasks.stack.services import kafka, minio

    svc = kafka(cfg)
    agents = [a for a in svc.programs[0].command if a.startswith("-javaagent:")]
    assert len(agents) == 1
    jar, _, rest = agents[0].removeprefix("-javaagent:").partition("=")
    host_port, _, conf = rest.rpartition(":")
    assert jar.endswith(f"jmx_prometheus_javaagent-{cfg.versions['jmx_exporter']}.jar")
    assert host_port == f"127.0.0.1:{cfg.ports['kafka_metrics']}"
    assert Path(conf) == monitoring_file(cfg, "kafka_jmx.yml") and Path(conf).is_file()
    assert cfg.ports["kafka_metrics"] in svc.ports  # the loopback check covers it
    assert minio(cfg).programs[0].environment["MINIO_PROMETHEUS_AUTH_TYPE"] == "public"
    jobs = {j["job_name"]: j for j in yaml.safe_load(prometheus_config(cfg))["scrape_configs"]}
    assert jobs["kafka"]["static_configs"][0]["targets"] == [f"127.0.0.1:{cfg.ports['kafka_metrics']}"]
    assert jobs["minio"]["metrics_path"] == "/minio/v2/metrics/cluster"


def test_postgres_exporter_reads_the_stack_postgres_over_its_socket() -> None:
    from freshpoc_tasks.stack.services import all_services, postgres_exporter

    cfg = StackConfig.from_env()
    svc = postgres_exporter(cfg)
    prog = svc.programs[0]
    assert f"--web.listen-address=127.0.0.1:{cfg.ports['postgres_exporter']}" in prog.command
    dsn = prog.environment["DATA_SOURCE_NAME"]
    assert f"host={cfg.data('postgres') / 'run'}" in dsn and ":" + str(cfg.ports["postgres"]) in dsn
    assert "password" not in dsn.lower()
    names = [s.name for s in all_services(cfg)]
    assert names.index("postgres") < names.index("postgres_exporter") < names.index("prometheus")
    jobs = {j["job_name"]: j for j in yaml.safe_load(prometheus_config(cfg))["scrape_configs"]}
    assert jobs["postgres"]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{cfg.ports['postgres_exporter']}"]


def test_a_changed_rules_or_mapping_file_changes_the_program_definition(tmp_path: Path) -> None:
    """So `freshpoc stack up` restarts Prometheus / statsd_exporter after an edit of the file."""
    from freshpoc_tasks.stack.services import config_fingerprint

    rules = tmp_path / "rules.yml"
    rules.write_text("groups: []\n")
    before = config_fingerprint("global: {}", rules)
    assert config_fingerprint("global: {}", rules) == before
    rules.write_text("groups: [{name: x, rules: []}]\n")
    assert config_fingerprint("global: {}", rules) != before
    other = config_fingerprint("global: {scrape_interval: 5s}", rules)
    assert other != config_fingerprint("global: {}", rules)
    cfg = StackConfig.from_env()
    assert "FRESHPOC_CONFIG_SHA256" in prometheus(cfg).programs[0].environment
    assert "FRESHPOC_CONFIG_SHA256" in statsd_exporter(cfg).programs[0].environment
