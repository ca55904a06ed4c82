"""Session-wide test set-up shared by unit and integration tests.

Airflow reads its configuration when first imported, so the local stack's Airflow settings and
the ``freshpoc_*`` connections (as ``AIRFLOW_CONN_*`` variables built from airflow_settings.yaml)
are put in the environment here, before any test module imports Airflow or a hook.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _connection_env() -> dict[str, str]:
    from freshpoc_tasks.stack.settings import load_settings

    env = {}
    for conn in load_settings(ROOT / "airflow_settings.yaml").connections:
        body = {k: v for k, v in conn.items() if k not in {"connection_id", "description"}}
        if "extra" in body:
            body["extra"] = json.loads(body["extra"])
        env[f"AIRFLOW_CONN_{conn['connection_id'].upper()}"] = json.dumps(body)
    return env


def _prepare_environment() -> None:
    from freshpoc_tasks.stack.config import StackConfig
    from freshpoc_tasks.stack.services import airflow_env

    os.environ.setdefault("FRESHPOC_CHECKOUT", str(ROOT))
    cfg = StackConfig.from_env()
    for key, value in {**airflow_env(cfg), **_connection_env()}.items():
        if key != "PATH":
            os.environ.setdefault(key, value)


_prepare_environment()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
