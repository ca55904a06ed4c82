"""docker-compose.yaml, checked without a Docker engine.

Structural rules are checked here in Python; `docker compose config -q` (Compose v2 built from
the Go module proxy by the stack's build code) validates schema and interpolation for real.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from freshpoc_tasks.stack.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]
ONE_SHOT = {"airflow-init", "minio-init", "kafka-init", "kafka-jmx-agent"}  # run to completion
EXPECTED = {
    "postgres", "kafka", "dgraph-zero", "dgraph-alpha", "minio", "weaviate", "statsd-exporter",
    "prometheus", "grafana", "loki", "alloy", "airflow-init", "airflow-api-server",
    "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
}


def test_every_expected_service_is_present():
    assert set(SERVICES) >= EXPECTED


@pytest.mark.parametrize("name", sorted(set(SERVICES) - ONE_SHOT))
def test_long_running_services_have_a_health_check(name):
    check = SERVICES[name].get("healthcheck")
    assert check and check.get("test") and not check.get("disable")


def test_depends_on_targets_exist_and_wait_for_health():
    for name, svc in SERVICES.items():
        for target, rule in (svc.get("depends_on") or {}).items():
            assert target in SERVICES, f"{name} depends on missing {target}"
            expected = ("service_completed_successfully" if target in ONE_SHOT
                        else "service_healthy")
            assert rule["condition"] == expected, f"{name} -> {target}"


def test_host_ports_are_unique_and_loopback():
    seen: dict[tuple[str, str], str] = {}
    for name, svc in SERVICES.items():
        for spec in svc.get("ports") or []:
            host_ip, host_port, rest = str(spec).split(":", 2)
            proto = rest.split("/")[1] if "/" in rest else "tcp"
            key = (host_port, proto)
            assert key not in seen, f"{name} and {seen.get(key)} both publish {host_port}/{proto}"
            seen[key] = name
            assert host_ip == "127.0.0.1"
    # The clash the seed had: Airflow and Dgraph on 8080.
    assert seen[("8080", "tcp")] == "airflow-api-server"


def test_images_are_pinned():
    for name, svc in SERVICES.items():
        image = svc.get("image")
        assert image, f"{name} has no image"
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest", f"{name} image {image} is not pinned"


def test_airflow_connections_match_airflow_settings():
    settings = load_settings(ROOT / "airflow_settings.yaml")
    env = SERVICES["airflow-scheduler"]["environment"]
    for conn in settings.connections:
        var = f"AIRFLOW_CONN_{conn['connection_id'].upper()}"
        assert var in env, f"{var} missing from compose"
        compose_conn = json.loads(env[var])
        assert compose_conn["conn_type"] == conn["conn_type"]
        for key in ("login", "password", "schema"):
            assert compose_conn.get(key) == conn.get(key), (var, key)
        local_extra = json.loads(conn.get("extra", "{}"))
        assert set(compose_conn.get("extra", {})) == set(local_extra), var
    for var in settings.variables:
        assert env[f"AIRFLOW_VAR_{var['key'].upper()}"] == var["value"]


def test_compose_config_validates(tmp_path):
    """Compose's own validation: schema, interpolation, references."""
    from freshpoc_tasks.stack.build import build_compose
    from freshpoc_tasks.stack.config import StackConfig

    compose = build_compose(StackConfig.from_env())
    res = subprocess.run([str(compose), "-f", str(ROOT / "docker-compose.yaml"), "config", "-q"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr


def _mounts(service: str) -> dict[str, Path]:
    """container path -> host path of a service's bind mounts (relative to the checkout)."""
    out = {}
    for spec in SERVICES[service].get("volumes") or []:
        host, container = str(spec).split(":")[:2]
        if host.startswith("./"):
            out[container] = ROOT / host
    return out


def test_compose_runs_the_monitoring_files_of_the_local_stack():
    """statsd_exporter, Prometheus and Grafana read include/monitoring, as the local stack does."""
    statsd = SERVICES["statsd-exporter"]
    mapping = _mounts("statsd-exporter")["/etc/statsd_exporter/statsd_mapping.yml"]
    assert mapping == ROOT / "include" / "monitoring" / "statsd_mapping.yml" and mapping.is_file()
    assert "--statsd.mapping-config=/etc/statsd_exporter/statsd_mapping.yml" in statsd["command"]
    from freshpoc_tasks.stack.config import DEFAULT_VERSIONS

    assert statsd["image"].endswith(":" + DEFAULT_VERSIONS["statsd_exporter"])

    prom = _mounts("prometheus")
    assert prom["/etc/prometheus/freshpoc"] == ROOT / "include" / "monitoring" / "prometheus"
    conf = yaml.safe_load(prom["/etc/prometheus/prometheus.yml"].read_text())
    assert conf["rule_files"] == ["/etc/prometheus/freshpoc/rules.yml"]
    from freshpoc_tasks.stack.config import StackConfig
    from freshpoc_tasks.stack.services import prometheus_config

    local = yaml.safe_load(prometheus_config(StackConfig.from_env()))
    jobs = {(j["job_name"], j["metrics_path"]) for j in conf["scrape_configs"]}
    assert jobs == {(j["job_name"], j["metrics_path"]) for j in local["scrape_configs"]}

    grafana = _mounts("grafana")
    boards = grafana["/var/lib/grafana/dashboards/freshpoc"]
    assert sorted(p.name for p in boards.glob("*.json")) == [
        "analyzers.json", "graph.json", "pipeline.json", "servers.json"]
    provider = yaml.safe_load(grafana["/etc/grafana/provisioning/dashboards/freshpoc.yaml"].read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/freshpoc"

    env = SERVICES["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED"] == "True"
    assert env["AIRFLOW__METRICS__LEGACY_NAMES_ON"] == "False"
