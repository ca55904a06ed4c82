"""Ontology ledger on the shared PostgreSQL: versions, proposals, approval marks repositories."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from freshpoc_tasks.contracts.graph import ProposedType
from freshpoc_tasks.hooks.ontology_ledger import OntologyLedgerHook


@pytest.fixture
def ledger(stack) -> Iterator[OntologyLedgerHook]:
    hook = OntologyLedgerHook()
    hook.ensure_tables()
    hook.ensure_tables()  # idempotent
    yield hook
    # Leave the shared ledger as found: drop what these tests proposed.
    hook.run("DELETE FROM freshpoc.graph_reprocess_marks WHERE proposal_id IN (SELECT id FROM "
             "freshpoc.ontology_proposals WHERE type_name LIKE 'test.%%')", autocommit=True)
    hook.run("DELETE FROM freshpoc.ontology_proposals WHERE type_name LIKE 'test.%%'", autocommit=True)
    hook.run("DELETE FROM freshpoc.ontology_versions WHERE version LIKE '0.0.%%'", autocommit=True)


def test_versions_are_recorded_once_and_a_changed_schema_needs_a_bump(ledger):
    version = f"0.0.{uuid.uuid4().int % 10**9}"
    assert ledger.record_applied(version, "sha-a", "schema", "yaml") is True
    assert ledger.record_applied(version, "sha-a", "schema", "yaml") is False
    assert (version, "sha-a") in ledger.applied_versions()
    with pytest.raises(ValueError, match="bump the version"):
        ledger.record_applied(version, "sha-b", "schema2", "yaml")


def test_approving_a_proposal_marks_the_repositories_that_asked(ledger):
    tname = f"test.kind_{uuid.uuid4().hex[:8]}"
    a, b = f"test/a-{tname}", f"test/b-{tname}"
    p = ProposedType(category="node", type=tname, analyzer="python", example="x", count=2)
    assert ledger.propose(a, [p]) == 1
    ledger.propose(a, [p])  # same repository again: listed once
    ledger.propose(b, [p])
    rows = [r for r in ledger.proposals("proposed") if r["type"] == tname]
    assert len(rows) == 1 and rows[0]["repo_ids"] == [a, b] and rows[0]["seen"] == 2
    assert ledger.decide(rows[0]["id"], approve=True, by="tester") == [a, b]
    assert ledger.decide(rows[0]["id"], approve=True, by="tester") == []  # already marked
    marks = [m for m in ledger.reprocess_marks() if m["proposal_id"] == rows[0]["id"]]
    assert [m["repo_id"] for m in marks] == [a, b]
    assert ledger.clear_marks(a) == 1
    assert [m["repo_id"] for m in ledger.reprocess_marks() if m["proposal_id"] == rows[0]["id"]] == [b]


def test_rejecting_marks_nothing(ledger):
    tname = f"test.edge_{uuid.uuid4().hex[:8]}"
    ledger.propose("test/c", [ProposedType(category="edge", type=tname, analyzer="sql", example="a -> b")])
    pid = next(r["id"] for r in ledger.proposals() if r["type"] == tname)
    assert ledger.decide(pid, approve=False, by="tester", note="not useful") == []
    assert next(r for r in ledger.proposals("rejected") if r["id"] == pid)["note"] == "not useful"
