"""Integration tests run against the local stack that `make test` brings up.

They never start servers themselves and never replace one with a fake: if the stack is not
healthy the whole integration session fails with the status table, which says what is down.
"""

from __future__ import annotations

import os

import pytest

from freshpoc_tasks.stack.manager import Stack, format_table

PROFILE = os.environ.get("FRESHPOC_TEST_PROFILE", "default")
if PROFILE == "cluster":
    # Before any test module imports Airflow: tests/conftest.py has set the default profile's
    # Airflow configuration, connections and ports; all of them are replaced, so that the
    # Airflow CLI (backfill), `freshpoc dlq replay` and the hooks reach the cluster profile only
    # (with connections alone, a backfill and a replay ran on the default stack).
    import sys

    from freshpoc_tasks.stack.cluster import client_env, cluster_config

    assert "airflow" not in sys.modules, "Airflow was imported before the cluster profile's env"
    os.environ.update(client_env(cluster_config()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> Stack:
    """The default profile, or with FRESHPOC_TEST_PROFILE=cluster the cluster profile (issue 18:
    the same tests on CeleryExecutor workers, three alphas and three brokers), whose client
    environment this process then has (set above; later use_local_stack calls add nothing)."""
    profile = PROFILE
    stack = Stack(profile=profile)
    rows = stack.status()
    if not all(r.state == "healthy" for r in rows):
        up = "freshpoc stack up" + (f" --profile {profile}" if profile != "default" else "")
        pytest.fail(f"the local stack is not healthy; run '{up}'\n" + format_table(rows))
    return stack


@pytest.fixture(scope="session")
def airflow_api(stack: Stack):
    from freshpoc_tasks.stack.airflow_rest import AirflowRest

    with AirflowRest(stack.cfg.airflow_url) as api:
        yield api


@pytest.fixture(scope="session")
def tokens(stack: Stack) -> dict[str, str]:
    """Airflow bearer tokens of the stack's admin and viewer users (the query API's and the MCP
    server's tests both check who may read)."""
    import httpx

    out = {}
    for user in ("admin", "viewer"):
        resp = httpx.post(f"{stack.cfg.airflow_url}/auth/token", json={"username": user, "password": user})
        resp.raise_for_status()
        out[user] = resp.json()["access_token"]
    return out
