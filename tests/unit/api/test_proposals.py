"""Ontology-proposal routes over an in-memory ledger: listing, the review page, decisions.

Who may do what is Airflow's auth manager's call and is tested on the running stack
(tests/integration/api/test_proposals.py); here the routes' own behaviour is pinned down.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from freshpoc_tasks.api import problems
from freshpoc_tasks.api.proposals import build_proposals_router


class MemoryLedger:
    """The ledger's three operations the routes use, on a list (same shapes as PostgreSQL's)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = [
            {"id": 1, "category": "node", "type": "sql.procedure", "analyzer": "sql",
             "example": "CREATE PROCEDURE <x>()", "seen": 3, "repo_ids": ["local/a", "local/b"],
             "status": "proposed", "decided_by": None, "note": None},
            {"id": 2, "category": "edge", "type": "calls_proc", "analyzer": "sql", "example": "a -> b",
             "seen": 1, "repo_ids": ["local/a"], "status": "rejected", "decided_by": "ann", "note": "no"},
        ]
        self.ready = False

    def ensure_tables(self) -> None:
        self.ready = True

    def proposals(self, status: str | None = None) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows if status in (None, r["status"])]

    def decide(self, proposal_id: int, approve: bool, by: str = "", note: str = "") -> list[str]:
        for r in self.rows:
            if r["id"] == proposal_id:
                r.update(status="approved" if approve else "rejected", decided_by=by, note=note)
                return list(r["repo_ids"]) if approve else []
        raise KeyError(f"no ontology proposal {proposal_id}")


class User:
    def get_name(self) -> str:
        return "admin"


def _client(may_decide: bool = True) -> tuple[TestClient, MemoryLedger]:
    ledger = MemoryLedger()

    async def anyone() -> User:
        return User()

    app = FastAPI()
    problems.install(app)
    app.include_router(build_proposals_router(lambda: ledger, anyone, anyone,
                                              may_decide=lambda user: may_decide))
    return TestClient(app, root_path="/freshpoc"), ledger


def test_list_and_one_and_status_filter():
    client, ledger = _client()
    assert [p["id"] for p in client.get("/proposals").json()] == [1, 2]
    assert ledger.ready
    assert [p["id"] for p in client.get("/proposals?status=rejected").json()] == [2]
    assert client.get("/proposals/1").json()["repo_ids"] == ["local/a", "local/b"]
    assert client.get("/proposals/9").status_code == 404
    assert client.get("/proposals?status=maybe").status_code == 400


def test_page_shows_decision_forms_only_to_deciders_and_escapes_values():
    client, ledger = _client(may_decide=True)
    ledger.rows[0]["example"] = "<script>alert(1)</script>"
    page = client.get("/proposals/page").text
    assert '<form class="inline" method="post" action="/freshpoc/proposals/1">' in page
    assert page.count("<form") == 1  # the rejected one shows its decision instead
    assert "rejected by ann: no" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "font-family:system-ui" in page  # the reports' stylesheet
    viewer, _ = _client(may_decide=False)
    page = viewer.get("/proposals/page").text
    assert "<form" not in page and "Only an admin can approve or reject" in page


def test_json_decision_answers_the_marked_repositories():
    client, ledger = _client()
    r = client.post("/proposals/1", json={"decision": "approve", "note": "needed"})
    assert r.status_code == 200
    assert r.json() == {"id": 1, "status": "approved", "decided_by": "admin",
                        "marked_for_reprocessing": ["local/a", "local/b"]}
    assert ledger.rows[0]["note"] == "needed"
    assert client.post("/proposals/9", json={"decision": "reject"}).status_code == 404
    bad = client.post("/proposals/1", json={"decision": "maybe"})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"


def test_form_decision_returns_to_the_page_and_cross_site_posts_are_refused():
    client, ledger = _client()
    r = client.post("/proposals/1", data={"decision": "reject", "note": "not now"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/freshpoc/proposals/page")
    assert ledger.rows[0]["status"] == "rejected"
    evil = client.post("/proposals/1", data={"decision": "approve"},
                       headers={"origin": "https://evil.example"}, follow_redirects=False)
    assert evil.status_code == 403 and ledger.rows[0]["status"] == "rejected"
    same = client.post("/proposals/1", data={"decision": "approve"},
                       headers={"origin": "http://testserver"}, follow_redirects=False)
    assert same.status_code == 303 and ledger.rows[0]["status"] == "approved"


@pytest.mark.parametrize("body", ["not json", "[1, 2]"])
def test_malformed_bodies_are_400(body):
    client, _ = _client()
    r = client.post("/proposals/1", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
