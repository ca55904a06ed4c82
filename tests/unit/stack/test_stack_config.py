"""Pure parts of the stack command: settings parsing, supervisord rendering, table format."""

from __future__ import annotations

import configparser
import json
import shlex
from pathlib import Path

import pytest

from freshpoc_tasks.stack.config import DEFAULT_PORTS, StackConfig
from freshpoc_tasks.stack.manager import Row, format_table
from freshpoc_tasks.stack.services import all_services
from freshpoc_tasks.stack.settings import SettingsError, load_settings
from freshpoc_tasks.stack.supervisor import Supervisor

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cfg(tmp_path, monkeypatch) -> StackConfig:
    monkeypatch.setenv("FRESHPOC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FRESHPOC_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FRESHPOC_PORT_KAFKA", "19092")
    monkeypatch.setenv("FRESHPOC_DGRAPH_VERSION", "v25.0.0")
    return StackConfig.from_env()


def test_environment_overrides_ports_versions_and_paths(cfg, tmp_path):
    assert cfg.ports["kafka"] == 19092
    assert cfg.ports["postgres"] == DEFAULT_PORTS["postgres"]
    assert cfg.versions["dgraph"] == "v25.0.0"
    assert cfg.state_dir == tmp_path / "state"
    assert cfg.bin_dir == tmp_path / "cache" / "bin"


def test_default_ports_are_unique():
    assert len(set(DEFAULT_PORTS.values())) == len(DEFAULT_PORTS)


def test_settings_file_has_the_freshpoc_connections():
    settings = load_settings(ROOT / "airflow_settings.yaml")
    ids = {c["connection_id"]: c["conn_type"] for c in settings.connections}
    assert ids == {"freshpoc_kafka": "kafka", "freshpoc_kafka_watcher": "kafka",
                   "freshpoc_dgraph": "dgraph", "freshpoc_s3": "aws",
                   "freshpoc_weaviate": "weaviate", "freshpoc_postgres": "postgres"}
    s3 = next(c for c in settings.connections if c["connection_id"] == "freshpoc_s3")
    assert json.loads(s3["extra"])["endpoint_url"] == "http://127.0.0.1:9000"


def test_settings_errors_name_the_entry(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("airflow:\n  connections:\n    - conn_type: http\n")
    with pytest.raises(SettingsError, match="connection #1 needs conn_id"):
        load_settings(bad)
    bad.write_text("airflow: [unclosed\n")
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(bad)


def test_supervisord_config_round_trips_commands_and_environment(cfg):
    services = all_services(cfg)
    text = Supervisor(cfg).render(services)
    parsed = configparser.RawConfigParser()
    parsed.read_string(text)
    programs = {s[len("program:"):] for s in parsed.sections() if s.startswith("program:")}
    assert programs == {p.name for s in services for p in s.programs}
    for svc in services:
        for prog in svc.programs:
            section = parsed[f"program:{prog.name}"]
            # supervisord doubles % for its own expansion, then splits like a shell.
            assert shlex.split(section["command"].replace("%%", "%")) == prog.command
            assert section["autostart"] == "false"
            assert section["stopasgroup"] == "true"
    kafka = next(s for s in services if s.name == "kafka")
    assert 19092 in kafka.ports


def test_airflow_is_configured_for_the_stack(cfg):
    from freshpoc_tasks.stack.services import airflow_env

    env = airflow_env(cfg)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "True"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(cfg.checkout / "dags")
    assert env["AIRFLOW_HOME"] == str(cfg.state_dir / "airflow")
    # Secrets are generated once and then stable.
    assert airflow_env(cfg)["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]


def test_status_table_is_aligned():
    rows = [Row("postgres", "15", 5432, "healthy", "", "/l/p.log", "pg_isready -h 127.0.0.1 -p 5432"),
            Row("kafka", "4.4.0", 9092, "stopped", "", "/l/k.log")]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["SERVICE", "VERSION", "PORT", "STATE", "HEALTH", "LOG"]
    assert lines[1].index("15") == lines[2].index("4.4.0") == lines[0].index("VERSION")
    assert lines[1].index("/l/p.log") == lines[2].index("/l/k.log") == lines[0].index("LOG")
    assert lines[2].split()[4] == "-"  # no endpoint known


def test_every_service_names_its_own_health_endpoint():
    from freshpoc_tasks.stack.services import all_services

    cfg = StackConfig.from_env()
    endpoints = {s.name: s.health_endpoint for s in all_services(cfg)}
    assert endpoints["dgraph"] == f"http://127.0.0.1:{cfg.ports['dgraph_http']}/health"
    assert endpoints["minio"] == f"http://127.0.0.1:{cfg.ports['minio']}/minio/health/live"
    assert endpoints["airflow"] == f"{cfg.airflow_url}/api/v2/monitor/health"
    assert all(endpoints.values()), endpoints
