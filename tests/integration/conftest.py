"""Integration tests run against the local stack that `make test` brings up.

They never start servers themselves and never replace one with a fake: if the stack is not
healthy the whole integration session fails with the status table, which says what is down.
"""

from __future__ import annotations

import pytest

from freshpoc_tasks.stack.manager import Stack, format_table


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> Stack:
    stack = Stack()
    rows = stack.status()
    if not all(r.state == "healthy" for r in rows):
        pytest.fail("the local stack is not healthy; run 'freshpoc stack up'\n" + format_table(rows))
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
