"""The per-repository tasks' failure callback: what it puts on the dead-letter topic, and that
``freshpoc dlq replay`` can re-submit it (the letter's payload is a spec the pipeline accepts)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from freshpoc_tasks.cli import dlq
from freshpoc_tasks.hooks import events
from freshpoc_tasks.operators.pipeline import failure_reason, is_permanent, stage_failed

INGEST = {"repo_id": "local/shop-1a2b3c4d", "location": "/srv/shop", "commit": "c" * 40,
          "committed_at": "2026-01-01T00:00:00+00:00", "skip": False}


class _Ti:
    def __init__(self, xcom=None):
        self.map_index, self.xcom, self.pulled = 2, xcom, []

    def xcom_pull(self, task_ids, map_indexes):
        self.pulled.append((task_ids, map_indexes))
        return self.xcom


@pytest.fixture
def sent(monkeypatch):
    letters = []
    monkeypatch.setattr(events.EventPublisher, "dead_letter", lambda self, letter: letters.append(letter))
    return letters


def _context(task, ti=None, exc=None):
    return {"task": task, "ti": ti or _Ti(), "run_id": "manual__1",
            "exception": exc or RuntimeError("broker said no\nsecond line")}


def test_a_stage_that_fails_for_good_dead_letters_a_replayable_spec(sent):
    task = SimpleNamespace(task_id="process.write_graph", ingest=INGEST, kafka_conn_id="freshpoc_kafka")
    stage_failed(_context(task))
    (letter,) = sent
    assert (letter.stage, letter.repo_id, letter.commit, letter.run_id) == (
        "write_graph", "local/shop-1a2b3c4d", "c" * 40, "manual__1")
    assert letter.reason == "RuntimeError: broker said no"
    assert dlq.replay_spec(json.loads(letter.to_json_line())) == {
        "repo": "/srv/shop", "ref": "c" * 40, "force": False}


def test_embed_reads_its_repository_from_the_ingest_xcom(sent):
    ti = _Ti(xcom=json.dumps(INGEST))
    stage_failed(_context(SimpleNamespace(task_id="process.embed", repo_id="local/shop-1a2b3c4d"), ti))
    assert ti.pulled == [("process.ingest", 2)]
    assert [(x.stage, x.repo_id, x.commit) for x in sent] == [("embed", "local/shop-1a2b3c4d", "c" * 40)]


def test_ingest_failure_names_the_requested_spec(sent):
    spec = {"repo": "https://example.org/x.git", "ref": "main", "as_of": None, "force": True}
    stage_failed(_context(SimpleNamespace(task_id="process.ingest", repo=spec)))
    (letter,) = sent
    assert (letter.stage, letter.repo_id, letter.commit) == ("ingest", "https://example.org/x.git", None)
    assert json.loads(letter.payload)["ref"] == "main" and json.loads(letter.payload)["force"] is True


def test_a_spec_the_plan_already_dead_lettered_is_not_sent_twice(sent):
    spec = {"repo": "/nowhere", "error": "UnsafeLocationError: not a directory"}
    stage_failed(_context(SimpleNamespace(task_id="process.ingest", repo=spec)))
    assert sent == []


def test_a_broker_down_does_not_raise_from_the_callback(monkeypatch, caplog):
    def down(self, letter):
        raise events.DeliveryError("broker unreachable")

    monkeypatch.setattr(events.EventPublisher, "dead_letter", down)
    stage_failed(_context(SimpleNamespace(task_id="process.mine", ingest=INGEST)))
    assert "could not dead-letter mine" in caplog.text


def test_failure_reason_and_permanence():
    from freshpoc_tasks.mining._git import GitError
    from freshpoc_tasks.mining.access import RefNotFoundError, UnsafeLocationError

    assert failure_reason(ValueError("a\nb")) == "ValueError: a"
    assert len(failure_reason(ValueError("x" * 5000))) == 2000
    assert is_permanent(UnsafeLocationError("refused")) and is_permanent(RefNotFoundError("no ref"))
    assert not is_permanent(GitError("cannot clone: connection refused"))
