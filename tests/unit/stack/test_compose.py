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
ONE_SHOT = {"airflow-init", "minio-init", "kafka-init", "kafka-jmx-agent",  # run to completion
            "cluster-airflow-init", "cluster-minio-init", "cluster-kafka-init"}
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


@pytest.mark.parametrize("profiles", [[], ["cluster"]], ids=["default", "cluster"])
def test_compose_config_validates(profiles):
    """Compose's own validation: schema, interpolation, references, for each profile."""
    from freshpoc_tasks.stack.build import build_compose
    from freshpoc_tasks.stack.config import StackConfig

    compose = build_compose(StackConfig.from_env())
    flags = [arg for p in profiles for arg in ("--profile", p)]
    res = subprocess.run([str(compose), "-f", str(ROOT / "docker-compose.yaml"), *flags,
                          "config", "-q"], capture_output=True, text=True, cwd=ROOT, timeout=120)
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


# ---- profile "cluster" (issue 18) ------------------------------------------------------------
CLUSTER = {n: s for n, s in SERVICES.items() if "cluster" in (s.get("profiles") or [])}
DEFAULT = {n: s for n, s in SERVICES.items() if not s.get("profiles")}


def _env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in SERVICES[service]["environment"].items()}


def test_default_profile_is_untouched_by_the_cluster_profile():
    """The default services neither name nor wait for a cluster service, and the cluster keeps
    its own state: every cluster service is in the profile, waits only for cluster services and
    mounts only cluster-* volumes."""
    assert set(DEFAULT) == EXPECTED | {"postgres-exporter", "kafka-jmx-agent", "kafka-init",
                                       "minio-init"}
    assert set(SERVICES) == set(DEFAULT) | set(CLUSTER)
    for name, svc in DEFAULT.items():
        assert not any(t.startswith("cluster-") for t in svc.get("depends_on") or {}), name
    named_volumes = set(COMPOSE["volumes"])
    for name, svc in CLUSTER.items():
        assert name.startswith("cluster-") and svc["profiles"] == ["cluster"], name
        assert set(svc.get("depends_on") or {}) <= set(CLUSTER), name
        for spec in svc.get("volumes") or []:
            source = str(spec).split(":")[0]
            if source in named_volumes:
                assert source.startswith("cluster-"), f"{name} mounts {source}"
            else:  # bind mounts of the checkout are read-only inputs
                assert source.startswith("./") and str(spec).endswith(":ro"), f"{name}: {spec}"


def test_cluster_kafka_is_three_kraft_brokers_with_replication_3_and_min_isr_2():
    brokers = sorted(n for n in CLUSTER if n.startswith("cluster-kafka-") and n[-1].isdigit())
    assert brokers == ["cluster-kafka-1", "cluster-kafka-2", "cluster-kafka-3"]
    voters = {f"{i}@cluster-kafka-{i}:9093" for i in (1, 2, 3)}
    ids, cluster_ids = set(), set()
    for name in brokers:
        env = _env(name)
        ids.add(env["KAFKA_NODE_ID"])
        cluster_ids.add(env["CLUSTER_ID"])
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert f"PLAINTEXT://{name}:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
        volume = next(str(v) for v in SERVICES[name]["volumes"] if str(v).startswith(name))
        assert volume == f"{name}:{env['KAFKA_LOG_DIRS']}", "the logs live on the node's volume"
    assert ids == {"1", "2", "3"} and len(cluster_ids) == 1
    init = " ".join(CLUSTER["cluster-kafka-init"]["command"])
    assert "--replication-factor 3" in init and "--config min.insync.replicas=2" in init
    from freshpoc_tasks.contracts.events import ALL_TOPICS

    created = init.split("for t in ", 1)[1].split(";", 1)[0].split()
    assert sorted(created) == sorted(ALL_TOPICS), "every topic of contracts/events.py"


def test_cluster_dgraph_is_three_alphas_in_one_group_behind_one_zero():
    zero = [n for n in CLUSTER if "dgraph-zero" in n]
    alphas = sorted(n for n in CLUSTER if "dgraph-alpha" in n)
    assert zero == ["cluster-dgraph-zero"] and len(alphas) == 3
    assert "--replicas 3" in CLUSTER["cluster-dgraph-zero"]["command"]
    for name in alphas:
        command = CLUSTER[name]["command"]
        assert f"--my={name}:7080" in command and "--zero=cluster-dgraph-zero:5080" in command


def test_cluster_airflow_runs_celery_workers_on_the_pipeline_queues():
    from freshpoc_tasks.operators.groups import STAGE_ROLES

    airflow = [n for n in CLUSTER if n.startswith("cluster-airflow-")]
    for name in airflow:
        env = _env(name)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        broker = env["AIRFLOW__CELERY__BROKER_URL"]
        assert broker.startswith("redis://cluster-redis:"), name
        assert "cluster-postgres" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
    workers = [n for n in airflow if "celery worker" in " ".join(CLUSTER[n]["command"])]
    assert len(workers) >= 2
    for name in workers:
        env = _env(name)
        command = " ".join(CLUSTER[name]["command"]).replace("$$", "$")
        queues = {env.get(q[1:], q) for q in command.split('"')[1].split(",")}
        roles = set(STAGE_ROLES.values())
        expected = {env[f"AIRFLOW__FRESHPOC__{role.upper()}_QUEUE"] for role in roles}
        # every worker serves every queue (and Airflow's default one): one lost worker leaves
        # every kind of work served
        assert queues == expected | {"default"}, name


def test_cluster_connections_list_every_broker_and_alpha():
    settings = load_settings(ROOT / "airflow_settings.yaml")
    env = _env("cluster-airflow-scheduler")
    brokers = {f"cluster-kafka-{i}:9092" for i in (1, 2, 3)}
    alphas = {f"cluster-dgraph-alpha-{i}:9080" for i in (1, 2, 3)}
    for conn in settings.connections:
        compose_conn = json.loads(env[f"AIRFLOW_CONN_{conn['connection_id'].upper()}"])
        assert compose_conn["conn_type"] == conn["conn_type"]
        host = compose_conn.get("host")
        assert host is None or host.startswith("cluster-"), conn["connection_id"]
        extra = compose_conn.get("extra", {})
        if conn["conn_type"] == "kafka":
            assert set(extra["bootstrap.servers"].split(",")) == brokers
        if conn["conn_type"] == "dgraph":
            assert set(extra["alphas"].split(",")) == alphas
            assert f"{host}:{compose_conn['port']}" in alphas
