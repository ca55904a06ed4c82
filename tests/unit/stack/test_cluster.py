"""The cluster profile's definitions (stack/cluster.py), without starting anything: its ports and
state never meet the default profile's, its connections name every broker and alpha, Kafka and
Dgraph are configured for three nodes, and every worker serves every queue the DAGs use."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import Path

import pytest

from freshpoc_tasks.stack import cluster
from freshpoc_tasks.stack.config import DEFAULT_PORTS, StackConfig
from freshpoc_tasks.stack.manager import Stack, StackError
from freshpoc_tasks.stack.supervisor import Supervisor

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> StackConfig:
    monkeypatch.setenv("FRESHPOC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FRESHPOC_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FRESHPOC_CHECKOUT", str(ROOT))
    monkeypatch.delenv("FRESHPOC_CLUSTER_STATE_DIR", raising=False)
    return cluster.cluster_config()


def test_state_and_ports_are_apart_from_the_default_profile(cfg, tmp_path, monkeypatch):
    assert cfg.state_dir == tmp_path / "state-cluster"
    assert cfg.cache_dir == tmp_path / "cache"  # binaries are shared
    ports = [p for name, p in cfg.ports.items() if not name.startswith("dgraph_alpha_offset")]
    ports += [p for i in range(1, cluster.ALPHAS + 1) for p in cluster.alpha_ports(cfg, i).values()]
    assert len(set(ports)) == len(ports)
    assert not set(ports) & set(DEFAULT_PORTS.values())
    monkeypatch.setenv("FRESHPOC_CLUSTER_STATE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("FRESHPOC_CLUSTER_PORT_AIRFLOW", "28080")
    other = cluster.cluster_config()
    assert other.state_dir == tmp_path / "elsewhere"
    assert other.airflow_url == "http://127.0.0.1:28080"


def test_every_service_port_is_a_cluster_port(cfg):
    stack = Stack(cfg, profile="cluster")
    used = {p for svc in stack.services for p in svc.ports}
    assert not used & set(DEFAULT_PORTS.values())
    names = [s.name for s in stack.services]
    assert names == ["postgres", "redis", "kafka", "dgraph", "minio", "weaviate", "airflow",
                     "celery-worker-1", "celery-worker-2"]
    assert [n for g in stack.groups for n in g] == names  # every service starts, once
    with pytest.raises(StackError, match="unknown profile"):
        Stack(cfg, profile="huge")


def test_connections_list_every_broker_and_alpha(cfg):
    conns = {k: json.loads(v) for k, v in cluster.connection_env(cfg).items()}
    assert set(conns) == {f"AIRFLOW_CONN_FRESHPOC_{n}" for n in
                          ("KAFKA", "KAFKA_WATCHER", "DGRAPH", "S3", "WEAVIATE", "POSTGRES")}
    brokers = "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
    assert conns["AIRFLOW_CONN_FRESHPOC_KAFKA"]["extra"]["bootstrap.servers"] == brokers
    assert conns["AIRFLOW_CONN_FRESHPOC_KAFKA_WATCHER"]["extra"]["bootstrap.servers"] == brokers
    assert conns["AIRFLOW_CONN_FRESHPOC_KAFKA_WATCHER"]["extra"]["group.id"] == "freshpoc-on-push"
    dgraph = conns["AIRFLOW_CONN_FRESHPOC_DGRAPH"]
    assert dgraph["extra"]["alphas"] == "127.0.0.1:19082,127.0.0.1:19083,127.0.0.1:19084"
    assert (dgraph["port"], dgraph["extra"]["http_port"]) == (19082, 18082)
    assert conns["AIRFLOW_CONN_FRESHPOC_S3"]["extra"]["endpoint_url"] == "http://127.0.0.1:19000"
    weaviate = conns["AIRFLOW_CONN_FRESHPOC_WEAVIATE"]
    assert (weaviate["port"], weaviate["extra"]["grpc_port"]) == (18081, 60051)
    assert conns["AIRFLOW_CONN_FRESHPOC_POSTGRES"]["port"] == 15432
    # Nothing still points at a default-profile port.
    numbers = {int(n) for n in re.findall(r"\d+", json.dumps(conns))}
    assert not numbers & set(DEFAULT_PORTS.values())


def test_client_env_replaces_every_default_profile_setting(cfg, monkeypatch):
    """A test process of the cluster profile starts with the default profile's client env
    (tests/conftest.py): the cluster's must replace all of it, the Airflow CLI's database and
    StackConfig.from_env()'s ports included, or a backfill or a replay reaches the default stack."""
    from freshpoc_tasks.stack.services import client_env as default_client_env

    env = cluster.client_env(cfg)
    assert set(default_client_env(StackConfig.from_env())) - {"PATH"} <= set(env)
    assert env["AIRFLOW_HOME"] == str(cfg.airflow_home)
    assert ":15432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    numbers = {int(n) for k, v in env.items() if k.startswith(("AIRFLOW", "FRESHPOC_PORT_"))
               for n in re.findall(r"(?<![\w.])\d{4,5}(?![\w.])", v)}
    assert not numbers & set(DEFAULT_PORTS.values())
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    moved = StackConfig.from_env()
    assert moved.airflow_url == cfg.airflow_url
    assert moved.ports["kafka"] == cfg.ports["kafka_1"]
    assert moved.ports["dgraph_grpc"] == cluster.alpha_ports(cfg, 1)["grpc"]
    assert cluster.cluster_config().state_dir == cfg.state_dir  # not "<folder>-cluster"


def test_airflow_processes_see_the_cluster_ports(cfg, monkeypatch):
    """Task code that asks ``StackConfig.from_env()`` for the stack's ports, in a scheduler,
    api-server or Celery worker of this profile, gets this profile's: none of its programs
    carries a default-profile port."""
    services = cluster.airflow_celery(cfg)
    programs = [p for svc in services for p in svc.programs]
    assert {p.name for p in programs} >= {"celery-worker-1", "celery-worker-2"}
    for program in programs:
        env = program.environment
        ports = {k: int(v) for k, v in env.items() if k.startswith("FRESHPOC_PORT_")}
        assert len(ports) == len(DEFAULT_PORTS), program.name
        assert not set(ports.values()) & set(DEFAULT_PORTS.values()), program.name
    for key, value in programs[0].environment.items():
        if key.startswith("FRESHPOC_PORT_"):
            monkeypatch.setenv(key, value)
    moved = StackConfig.from_env()
    assert moved.ports["dgraph_grpc"] == cluster.alpha_ports(cfg, 1)["grpc"]
    assert moved.ports["kafka"] == cfg.ports["kafka_1"]

def test_kafka_nodes_form_one_replicated_quorum(cfg):
    props = [dict(line.split("=", 1) for line in cluster.kafka_properties(cfg, i).splitlines()
                  if line) for i in (1, 2, 3)]
    assert [p["node.id"] for p in props] == ["1", "2", "3"]
    assert {p["controller.quorum.voters"] for p in props} == {
        "1@127.0.0.1:19192,2@127.0.0.1:19193,3@127.0.0.1:19194"}
    for p in props:
        assert p["default.replication.factor"] == p["offsets.topic.replication.factor"] == "3"
        assert p["min.insync.replicas"] == p["transaction.state.log.min.isr"] == "2"
        assert p["unclean.leader.election.enable"] == "false"
    assert len({p["log.dirs"] for p in props}) == 3


def test_dgraph_zero_replicates_three_alphas_in_their_own_folders(cfg):
    dgraph = next(s for s in cluster.cluster_services(cfg) if s.name == "dgraph")
    zero, *alphas = dgraph.programs
    assert zero.command[zero.command.index("--replicas") + 1] == "3"
    assert len(alphas) == 3
    assert len({a.command[a.command.index("--postings") + 1] for a in alphas}) == 3
    zero_addr = f"--zero=127.0.0.1:{cfg.ports['dgraph_zero_grpc']}"
    assert all(zero_addr in a.command for a in alphas)


def test_airflow_runs_the_celery_executor_and_workers_serve_every_queue(cfg):
    from typing import get_args

    from freshpoc_tasks.operators.groups import Role

    services = {s.name: s for s in cluster.cluster_services(cfg)}
    env = services["airflow"].programs[0].environment
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == f"redis://127.0.0.1:{cfg.ports['redis']}/0"
    assert "127.0.0.1:15432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert all(p.environment is env for p in services["airflow"].programs)
    workers = [services[f"celery-worker-{i}"] for i in (1, 2)]
    for w in workers:
        (prog,) = w.programs
        assert prog.environment is env
        queues = set(prog.command[prog.command.index("--queues") + 1].split(","))
        assert set(get_args(Role)) | {"default"} <= queues
    hosts = {w.programs[0].command[w.programs[0].command.index("--celery-hostname") + 1]
             for w in workers}
    assert len(hosts) == 2


def test_supervisord_configuration_names_every_program_once(cfg):
    stack = Stack(cfg, profile="cluster")
    cp = configparser.RawConfigParser()
    cp.read_string(Supervisor(cfg).render(stack.services))
    programs = [s.split(":", 1)[1] for s in cp.sections() if s.startswith("program:")]
    assert len(programs) == len(set(programs))
    assert {"kafka-1", "kafka-2", "kafka-3", "dgraph-zero", "dgraph-alpha-1", "dgraph-alpha-2",
            "dgraph-alpha-3", "redis", "celery-worker-1", "celery-worker-2",
            "airflow-scheduler"} <= set(programs)
    assert str(cfg.state_dir) in cp["supervisord"]["logfile"]
    redis = shlex.split(cp["program:redis"]["command"])
    assert redis[redis.index("--bind") + 1] == "127.0.0.1"


def test_program_environments_reach_supervisord_intact(cfg):
    """The cluster's Airflow programs carry JSON connections: supervisord's own parser must read
    back every value exactly (it knows no backslash escapes)."""
    from supervisor.datatypes import dict_of_key_value_pairs

    stack = Stack(cfg, profile="cluster")
    cp = configparser.RawConfigParser()
    cp.read_string(Supervisor(cfg).render(stack.services))
    checked = 0
    for svc in stack.services:
        for prog in svc.programs:
            if prog.environment:
                text = cp[f"program:{prog.name}"]["environment"].replace("%%", "%")
                assert dict_of_key_value_pairs(text) == prog.environment
                checked += 1
    assert checked >= 6  # the Airflow programs and both workers at least
