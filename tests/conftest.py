"""Session-wide test set-up shared by unit and integration tests.

Airflow reads its configuration when first imported, so the local stack's Airflow settings and
the ``freshpoc_*`` connections (as ``AIRFLOW_CONN_*`` variables built from airflow_settings.yaml)
are put in the environment here, before any test module imports Airflow or a hook.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _prepare_environment() -> None:
    from freshpoc_tasks.stack.config import StackConfig
    from freshpoc_tasks.stack.services import client_env

    os.environ.setdefault("FRESHPOC_CHECKOUT", str(ROOT))
    for key, value in client_env(StackConfig.from_env()).items():
        os.environ.setdefault(key, value)


_prepare_environment()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
