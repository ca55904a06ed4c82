"""The search route of the query API, served by Airflow's api-server, on a freshly processed
example project: hits are graph nodes with their neighbours, behind Airflow's auth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from freshpoc_tasks.stack.examples import materialise_example
from tests.integration.cleanup import scratch_name, scratch_repo

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def jaffle(airflow_api, tmp_path_factory) -> Iterator[str]:
    """A copy of jaffle_shop run through the pipeline; forgotten by every store afterwards."""
    from freshpoc_tasks.mining.access import repo_id_for

    path, _sha = materialise_example(ROOT / "include/examples/jaffle_shop",
                                     tmp_path_factory.mktemp("search") / scratch_name("jaffle_search"))
    with scratch_repo(repo_id_for(path)) as repo_id:
        run_id = airflow_api.trigger("freshpoc_pipeline", {"repo": path})
        assert airflow_api.wait("freshpoc_pipeline", run_id, timeout=900) == "success"
        yield repo_id


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
    assert (top["node_type"], top["kind"]) == ("dbt.model", "dbt model")
    # Every hit names its repository, with a link to that repository's report.
    assert {i["repo_id"] for i in items} == {jaffle} == {i["repository"]["repo_id"] for i in items}
    assert top["repository"]["report"] == (
        f"/freshpoc/reports/repository?format=html&repo={jaffle.replace('/', '%2F')}")
    # Neighbours come from Dgraph: the customers model depends on its upstream models.
    assert {(n["edge"], n["direction"], n["xid"]) for n in top["neighbours"]} >= {
        ("depends_on", "out", f"dbt.model:{jaffle}:jaffle_shop.stg_customers")}


def test_search_page_names_each_hits_repository_in_the_reports_style(stack, airflow_api, jaffle):
    resp = httpx.get(f"{stack.cfg.airflow_url}/freshpoc/search/page",
                     params={"q": "customer orders", "repo": jaffle},
                     headers={"Authorization": f"Bearer {airflow_api.token}"}, timeout=60)
    assert resp.status_code == 200
    page = resp.text
    assert "<form action='/freshpoc/search/page'" in page
    assert f"<input type='hidden' name='repo' value='{jaffle}'>" in page
    hits = page.count("<li><b>")
    assert hits >= 3 and page.count(f">{jaffle}</a>") == hits  # each hit says where it is from
    assert "<span class='tag'" in page and "dbt model" in page
    assert "font-family:system-ui" in page  # the HTML reports' stylesheet
