"""The search route of the query API, served by Airflow's api-server, on a freshly processed
example project: hits are graph nodes with their neighbours, behind Airflow's auth."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from freshpoc_tasks.stack.examples import materialise_example

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def jaffle(airflow_api, tmp_path_factory) -> str:
    name = f"jaffle_search_{uuid.uuid4().hex[:8]}"
    path, _sha = materialise_example(ROOT / "include/examples/jaffle_shop",
                                     tmp_path_factory.mktemp("search") / name)
    run_id = airflow_api.trigger("freshpoc_pipeline", {"repo": path})
    assert airflow_api.wait("freshpoc_pipeline", run_id, timeout=900) == "success"
    return f"local/{name}"


def test_search_needs_a_token(stack):
    resp = httpx.get(f"{stack.cfg.airflow_url}/freshpoc/search", params={"q": "orders"})
    assert resp.status_code == 401


def test_search_answers_with_graph_nodes_and_neighbours(stack, airflow_api, jaffle):
    resp = httpx.get(f"{stack.cfg.airflow_url}/freshpoc/search",
                     params={"q": "which model keeps one row per customer with what they paid",
                             "repo": jaffle, "limit": 5},
                     headers={"Authorization": f"Bearer {airflow_api.token}"}, timeout=60)
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    xids = [i["xid"] for i in items]
    assert f"dbt.model:{jaffle}:jaffle_shop.customers" in xids
    top = next(i for i in items if i["xid"] == f"dbt.model:{jaffle}:jaffle_shop.customers")
    assert top["node_type"] == "dbt.model"
    # Neighbours come from Dgraph: the customers model depends on its upstream models.
    assert {(n["edge"], n["direction"], n["xid"]) for n in top["neighbours"]} >= {
        ("depends_on", "out", f"dbt.model:{jaffle}:jaffle_shop.stg_customers")}


def test_search_page_has_the_search_box(stack, airflow_api, jaffle):
    resp = httpx.get(f"{stack.cfg.airflow_url}/freshpoc/search/page",
                     params={"q": "customer orders", "repo": jaffle},
                     headers={"Authorization": f"Bearer {airflow_api.token}"}, timeout=60)
    assert resp.status_code == 200
    assert "<form action='/freshpoc/search/page'" in resp.text
    assert "<li><b>" in resp.text
