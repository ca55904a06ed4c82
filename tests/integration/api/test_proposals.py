"""Ontology proposals from the Airflow UI, with Airflow's real users and the shared ledger:
every user may review, only an admin may approve or reject.

In-process (Airflow's auth manager initialised with the stack's configuration, tokens from the
running api-server) over the ledger in the stack's PostgreSQL; the served plugin is checked too.
The proposal is made for a test repository and forgotten afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from freshpoc_tasks.contracts.graph import ProposedType
from freshpoc_tasks.hooks.ontology_ledger import OntologyLedgerHook


@pytest.fixture
def proposal(stack) -> Iterator[dict]:
    ledger = OntologyLedgerHook()
    ledger.ensure_tables()
    tag = uuid.uuid4().hex[:8]
    repo, tname = f"test/proposals-{tag}", f"test.kind_{tag}"
    ledger.propose(repo, [ProposedType(category="node", type=tname, analyzer="sql",
                                       example="CREATE PROCEDURE <p>()", count=2)])
    pid = next(r["id"] for r in ledger.proposals() if r["type"] == tname)
    try:
        yield {"id": pid, "repo": repo, "type": tname, "ledger": ledger}
    finally:
        assert ledger.forget_repository(repo) == 1
        assert not [r for r in ledger.proposals() if r["type"] == tname]
        assert not [m for m in ledger.reprocess_marks(open_only=False) if m["repo_id"] == repo]


@pytest.fixture(scope="module")
def client(stack, tokens):
    from airflow.api_fastapi.app import init_auth_manager
    from fastapi.testclient import TestClient

    from freshpoc_tasks.api.app import create_app

    init_auth_manager()
    with TestClient(create_app(), root_path="/freshpoc", raise_server_exceptions=False) as c:
        yield c


def _as(tokens, user: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"} if user else {}


def test_without_a_token_everything_is_401(client, proposal):
    pid = proposal["id"]
    for path in ("/proposals", "/proposals/page", f"/proposals/{pid}"):
        assert client.get(path).status_code == 401, path
    assert client.post(f"/proposals/{pid}", json={"decision": "approve"}).status_code == 401


def test_a_viewer_reviews_but_cannot_decide(client, tokens, proposal):
    pid, viewer = proposal["id"], _as(tokens, "viewer")
    listed = client.get("/proposals", headers=viewer)
    assert listed.status_code == 200
    mine = next(p for p in listed.json() if p["id"] == pid)
    assert (mine["type"], mine["repo_ids"], mine["seen"], mine["status"]) == (
        proposal["type"], [proposal["repo"]], 2, "proposed")
    page = client.get("/proposals/page", headers=viewer)
    assert page.status_code == 200 and proposal["type"] in page.text
    assert "&lt;p&gt;" in page.text and "<form" not in page.text
    denied = client.post(f"/proposals/{pid}", json={"decision": "approve"}, headers=viewer)
    assert (denied.status_code, denied.headers["content-type"]) == (403, "application/problem+json")
    assert client.get(f"/proposals/{pid}", headers=viewer).json()["status"] == "proposed"


def test_an_admin_approves_and_the_repository_is_marked_for_reprocessing(client, tokens, proposal):
    pid, admin = proposal["id"], _as(tokens, "admin")
    page = client.get("/proposals/page", headers=admin).text
    assert f'action="/freshpoc/proposals/{pid}"' in page
    r = client.post(f"/proposals/{pid}", json={"decision": "approve", "note": "integration test"},
                    headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": pid, "status": "approved", "decided_by": "admin",
                        "marked_for_reprocessing": [proposal["repo"]]}
    row = next(p for p in proposal["ledger"].proposals() if p["id"] == pid)
    assert (row["status"], row["decided_by"], row["note"]) == ("approved", "admin", "integration test")
    assert [m["repo_id"] for m in proposal["ledger"].reprocess_marks() if m["proposal_id"] == pid] == [
        proposal["repo"]]


def test_an_admin_rejects_from_the_page_form(client, tokens, proposal):
    pid, admin = proposal["id"], _as(tokens, "admin")
    r = client.post(f"/proposals/{pid}", data={"decision": "reject", "note": "not now"},
                    headers=admin, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/freshpoc/proposals/page")
    assert client.get(f"/proposals/{pid}", headers=admin).json()["status"] == "rejected"
    assert not [m for m in proposal["ledger"].reprocess_marks() if m["proposal_id"] == pid]


def test_the_api_server_serves_the_review_page(stack, tokens, proposal):
    base = f"{stack.cfg.airflow_url}/freshpoc"
    with httpx.Client(timeout=30) as c:
        assert c.get(f"{base}/proposals/page").status_code == 401
        page = c.get(f"{base}/proposals/page", headers=_as(tokens, "viewer"))
        assert page.status_code == 200 and proposal["type"] in page.text
        assert c.post(f"{base}/proposals/{proposal['id']}", json={"decision": "reject"},
                      headers=_as(tokens, "viewer")).status_code == 403
