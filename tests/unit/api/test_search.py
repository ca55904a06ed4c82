"""Search routes over a recorded searcher: every hit names its repository and kind, on the page
as in the JSON, and the page wears the reports' stylesheet."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from freshpoc_tasks.api.search import build_search_router, kind_label
from freshpoc_tasks.search.hits import SearchHit

HITS = [
    SearchHit(xid="py.function:local/a-1:pkg.m.total", score=0.9, snippet="def total(x): ...",
              name="total", node_type="py.function", language="python", repo_id="local/a-1", path="pkg/m.py"),
    SearchHit(xid="py.function:local/b-2:pkg.m.total", score=0.8, snippet="def total(x): ...",
              name="total", node_type="py.function", language="python", repo_id="local/b-2", path="pkg/m.py"),
    SearchHit(xid="dbt.model:local/a-1:shop.<x>", score=0.5, snippet="select <b>", name="<x>",
              node_type="dbt.model", language="sql", repo_id="local/a-1", path="models/x.sql"),
]


def _client() -> tuple[TestClient, list[dict]]:
    calls: list[dict] = []

    def searcher(q, **kw):
        calls.append({"q": q, **kw})
        return [h for h in HITS if kw.get("repo_id") in (None, h.repo_id)]

    app = FastAPI()
    app.include_router(build_search_router(lambda: searcher, lambda: lambda xid: []))
    return TestClient(app, root_path="/freshpoc"), calls


def test_kind_labels_come_from_the_ontology():
    assert kind_label("py.function") == "Python function or method"
    assert kind_label("dbt.model") == "dbt model"
    assert kind_label("sql.table") == "SQL relation in a warehouse"
    assert kind_label("airflow.task") == "Airflow task"
    assert kind_label("no.such_type") == "no.such_type"


def test_json_hits_name_their_repository_and_kind():
    client, calls = _client()
    body = client.get("/search", params={"q": "total"}).json()
    assert calls[0]["q"] == "total" and calls[0]["repo_id"] is None
    assert [(i["repo_id"], i["kind"]) for i in body["items"]] == [
        ("local/a-1", "Python function or method"), ("local/b-2", "Python function or method"),
        ("local/a-1", "dbt model")]
    assert body["items"][1]["repository"] == {
        "repo_id": "local/b-2", "report": "/freshpoc/reports/repository?format=html&repo=local%2Fb-2"}
    assert body["repositories"] == ["local/a-1", "local/b-2"]


def test_page_tells_the_same_function_in_two_repositories_apart():
    client, _ = _client()
    page = client.get("/search/page", params={"q": "total"}).text
    assert page.count("<li><b>total</b>") == 2
    assert ">local/a-1</a>" in page and ">local/b-2</a>" in page
    assert "3 hits across 2 repositories" in page
    assert "&lt;x&gt;" in page and "<x>" not in page and "select &lt;b&gt;" in page
    assert "font-family:system-ui" in page  # the HTML reports' stylesheet


def test_page_keeps_the_repository_filter_in_its_search_box():
    client, calls = _client()
    page = client.get("/search/page", params={"q": "total", "repo": "local/b-2"}).text
    assert calls[-1]["repo_id"] == "local/b-2"
    assert "<input type='hidden' name='repo' value='local/b-2'>" in page
    assert "1 hit in local/b-2" in page
