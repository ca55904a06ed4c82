"""deploy/: Helm values, the Strimzi resources and the connections Secret agree with each other
and with the code (topics, queues, connection ids), and deploy/validate.py says what it skips.

Rendering with the charts themselves (``helm template``) is deploy/validate.py's job; the test
at the end runs it for Dgraph's chart when ``FRESHPOC_DGRAPH_CHART`` names a checkout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from freshpoc_tasks.contracts.events import ALL_TOPICS
from freshpoc_tasks.stack.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
STRIMZI = list(yaml.safe_load_all((DEPLOY / "strimzi" / "kafka.yaml").read_text()))
SECRET = yaml.safe_load((DEPLOY / "kubernetes" / "freshpoc-connections.yaml").read_text())


def _values(name: str) -> dict:
    return yaml.safe_load((DEPLOY / "helm" / name).read_text())


def _validate_module():
    spec = importlib.util.spec_from_file_location("freshpoc_deploy_validate", DEPLOY / "validate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kinds(kind: str) -> list[dict]:
    return [d for d in STRIMZI if d["kind"] == kind]


def test_strimzi_kafka_is_three_kraft_nodes_with_replication_3_and_min_isr_2():
    (kafka,) = _kinds("Kafka")
    (pool,) = _kinds("KafkaNodePool")
    assert kafka["apiVersion"] == pool["apiVersion"] == "kafka.strimzi.io/v1"  # KRaft + pools only
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert pool["spec"]["replicas"] == 3 and set(pool["spec"]["roles"]) == {"controller", "broker"}
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert config["unclean.leader.election.enable"] is False


def test_strimzi_topics_are_the_topics_of_the_code():
    topics = _kinds("KafkaTopic")
    assert sorted(t["spec"]["topicName"] for t in topics) == sorted(ALL_TOPICS)
    for topic in topics:
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "freshpoc-kafka"


def test_dgraph_values_hold_one_group_of_three_alphas():
    values = _values("dgraph.yaml")
    assert values["alpha"]["replicaCount"] == 3
    assert values["zero"]["shardReplicaCount"] == 3  # replicas per group = alphas: one group


def test_airflow_celery_values_serve_every_queue_with_two_workers():
    from freshpoc_tasks.operators.groups import STAGE_ROLES

    values = _values("airflow-celery.yaml")
    assert values["executor"] == "CeleryExecutor"
    names = values["config"]["freshpoc"]
    assert set(names) == {f"{role}_queue" for role in set(STAGE_ROLES.values())}
    # the workers listen on Airflow's default queue (freshpoc_smoke, any task without a queue)
    # and on FreshPoC's three, named by templates over config: one source for the names
    command = values["workers"]["args"][-1]
    queues = command.split("--queues ", 1)[1].split(",")
    assert queues == ["{{ .Values.config.operators.default_queue }}",
                      *(f"{{{{ .Values.config.freshpoc.{key} }}}}" for key in names)]
    assert values["workers"]["replicas"] >= 3  # one lost: two consumers left on every queue
    assert values["redis"]["enabled"] is True


def test_airflow_kubernetes_values_keep_the_same_queue_names():
    celery, kubernetes = _values("airflow-celery.yaml"), _values("airflow-kubernetes.yaml")
    assert kubernetes["executor"] == "KubernetesExecutor"
    assert kubernetes["config"]["freshpoc"] == celery["config"]["freshpoc"]
    assert "celery" not in kubernetes["workers"] and kubernetes["redis"]["enabled"] is False
    for values in (celery, kubernetes):
        assert "name: freshpoc-connections" in values["extraEnvFrom"]
        assert values["images"]["airflow"]["tag"] == "3.3.2-freshpoc-0.1.0"


def test_connections_secret_lists_every_broker_and_alpha():
    assert SECRET["metadata"]["name"] == "freshpoc-connections"
    env = SECRET["stringData"]
    settings = load_settings(ROOT / "airflow_settings.yaml")
    assert set(env) == {f"AIRFLOW_CONN_{c['connection_id'].upper()}" for c in settings.connections}
    (kafka,) = _kinds("Kafka")
    (pool,) = _kinds("KafkaNodePool")
    cluster, pool_name = kafka["metadata"]["name"], pool["metadata"]["name"]
    brokers = {f"{cluster}-{pool_name}-{i}.{cluster}-kafka-brokers:9092"
               for i in range(pool["spec"]["replicas"])}
    alphas = {f"freshpoc-dgraph-alpha-{i}.freshpoc-dgraph-alpha-headless:9080"
              for i in range(_values("dgraph.yaml")["alpha"]["replicaCount"])}
    for conn in settings.connections:
        value = json.loads(env[f"AIRFLOW_CONN_{conn['connection_id'].upper()}"])
        assert value["conn_type"] == conn["conn_type"]
        if conn["conn_type"] == "kafka":
            assert set(value["extra"]["bootstrap.servers"].split(",")) == brokers
        if conn["conn_type"] == "dgraph":
            assert set(value["extra"]["alphas"].split(",")) == alphas
            assert f"{value['host']}:{value['port']}" in alphas


def test_validate_says_which_chart_path_is_missing(tmp_path):
    script = [sys.executable, str(DEPLOY / "validate.py"), "--compose", str(tmp_path / "none"),
              "--dgraph-chart", str(tmp_path / "no-such-chart")]
    res = subprocess.run(script, capture_output=True, text=True, timeout=60)
    lines = res.stdout.splitlines()
    assert f"SKIP  helm dgraph: chart path missing or not a chart: {tmp_path / 'no-such-chart'}" in \
        "\n".join(lines)
    assert any(line.startswith("SKIP  helm airflow-celery: no chart path given") for line in lines)
    assert lines[-1] == "0 failed, 6 skipped" and res.returncode == 0
    strict = subprocess.run([*script, "--strict"], capture_output=True, text=True, timeout=60)
    assert strict.returncode == 1


def test_rendered_manifest_checks_catch_a_wrong_topology():
    """The checks validate.py applies to helm's output, on manifests written here."""
    validate = _validate_module()

    def statefulset(name: str, replicas: int, command: str) -> dict:
        return {"kind": "StatefulSet", "metadata": {"name": name}, "spec": {
            "replicas": replicas, "template": {"spec": {"containers": [{"command": [command]}]}}}}

    good = [statefulset("r-dgraph-alpha", 3, "dgraph alpha"),
            statefulset("r-dgraph-zero", 3, "dgraph zero --replicas 3")]
    assert validate.dgraph_problems(good)[0] == []
    bad = [statefulset("r-dgraph-alpha", 1, "dgraph alpha"),
           statefulset("r-dgraph-zero", 1, "dgraph zero --replicas 5")]
    assert len(validate.dgraph_problems(bad)[0]) == 2

    cfg = {"kind": "ConfigMap", "data": {"airflow.cfg": "[core]\nexecutor = CeleryExecutor\n[freshpoc]\n"}}

    def worker(queue: str, replicas: int) -> dict:
        return {"kind": "Deployment", "metadata": {"name": f"w-{queue}"}, "spec": {
            "replicas": replicas, "template": {"spec": {"containers": [
                {"args": ["bash", "-c", f"exec airflow celery worker --queues {queue}"]}]}}}}

    served = [cfg, worker("git", 2), worker("analysis", 2), worker("graph", 2)]
    assert validate.airflow_problems(served, "CeleryExecutor")[0] == []
    problems = validate.airflow_problems([cfg, worker("git", 2), worker("analysis", 1)],
                                         "CeleryExecutor")[0]
    assert problems == ["queue 'analysis' served by 1 worker(s), want >= 2",
                        "queue 'graph' served by 0 worker(s), want >= 2"]


def test_helm_template_renders_the_dgraph_values():
    """``helm template`` of Dgraph's chart with deploy/helm/dgraph.yaml: 3 alphas, replicas 3."""
    chart = os.environ.get("FRESHPOC_DGRAPH_CHART")
    validate = _validate_module()
    helm = validate.find_helm(None)
    if not chart or helm is None:
        pytest.skip("needs FRESHPOC_DGRAPH_CHART (charts/dgraph of dgraph-io/charts) and a helm "
                    f"binary (found: {helm})")
    docs = validate.helm_template(helm, "freshpoc", Path(chart), DEPLOY / "helm" / "dgraph.yaml")
    problems, summary = validate.dgraph_problems(docs)
    assert problems == [], summary
    names = {d["metadata"]["name"] for d in docs}
    assert {"freshpoc-dgraph-alpha", "freshpoc-dgraph-alpha-headless"} <= names
