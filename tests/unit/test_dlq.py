"""``freshpoc dlq``: what a letter re-submits, filters, and the idempotency of a replay plan."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

import pytest

from freshpoc_tasks.cli import dlq
from freshpoc_tasks.hooks.events import StoredLetter


def _letter(offset: int, stage: str, repo: str | None, payload: object, ts: str = "2026-12-01T10:00:00+00:00",
            partition: int = 0) -> StoredLetter:
    body = {"kind": "dead_letter", "stage": stage, "repo_id": repo, "reason": "boom", "ts": ts,
            "payload": payload if isinstance(payload, str) or payload is None else json.dumps(payload)}
    return StoredLetter.from_message(partition, offset, json.dumps(body).encode())


PLAN = {"repo": "/srv/a", "ref": None, "as_of": None, "force": False}


@pytest.mark.parametrize(("payload", "expected"), [
    (PLAN, {"repo": "/srv/a", "ref": None, "force": False}),
    ({"repo": "https://h/x.git", "ref": "abc", "force": True, "as_of": None},
     {"repo": "https://h/x.git", "ref": "abc", "force": True}),
    ('{"repo": "/srv/b", "ref": "main"}', {"repo": "/srv/b", "ref": "main", "force": False}),  # request
    ("not json", None),
    ('["/srv/a"]', None),
    ({"ref": "main"}, None),
    ({"repo": ""}, None),
    ({"repo": 3}, None),
    ({"repo": "/srv/a", "ref": 5, "force": "yes"}, {"repo": "/srv/a", "ref": None, "force": False}),
    (None, None),
])
def test_replay_spec(payload, expected):
    assert dlq.replay_spec(_letter(0, "plan", "x", payload).letter) == expected


def test_letter_ids_are_content_hashes_and_non_json_is_kept():
    a, b = _letter(0, "plan", "/srv/a", PLAN), _letter(5, "plan", "/srv/a", PLAN)
    assert a.letter_id == b.letter_id  # same bytes, same letter, wherever it sits
    assert a.letter_id != _letter(0, "plan", "/srv/a", PLAN, ts="2026-12-01T10:00:01+00:00").letter_id
    odd = StoredLetter.from_message(0, 1, b"\xff\x00not json")
    assert odd.letter["stage"] == "unknown" and odd.letter["reason"] == "not a JSON object"
    assert dlq.replay_spec(odd.letter) is None


def test_parse_since():
    assert dlq.parse_since("2026-12-01T10:00") == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert dlq.parse_since("2026-12-01T10:00+01:00") == datetime(2026, 12, 1, 9, tzinfo=UTC)
    before = datetime.now(UTC)
    since = dlq.parse_since("6h")
    assert before - timedelta(hours=6) <= since <= datetime.now(UTC) - timedelta(hours=6)
    since = dlq.parse_since("2d")
    assert datetime.now(UTC) - since >= timedelta(days=2)
    with pytest.raises(argparse.ArgumentTypeError):
        dlq.parse_since("yesterday")


def test_select_filters_by_time_stage_and_repository():
    letters = [
        _letter(0, "plan", "/srv/a", PLAN, ts="2026-12-01T09:00:00+00:00"),
        _letter(1, "mine", "local/a-1234abcd", {**PLAN, "ref": "c" * 40}, ts="2026-12-01T11:00:00+00:00"),
        _letter(2, "request", None, '{"repo": "/srv/b"}', ts="2026-12-01T12:00:00+00:00"),
        _letter(3, "request", None, "garbage", ts="not a time"),
    ]
    assert dlq.select(letters) == letters
    since = datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert [x.offset for x in dlq.select(letters, since=since)] == [1, 2]  # no time: not "since"
    assert [x.offset for x in dlq.select(letters, stages=["request"])] == [2, 3]
    assert [x.offset for x in dlq.select(letters, repos=["/srv/a"])] == [0, 1]  # by location
    assert [x.offset for x in dlq.select(letters, repos=["local/a-1234abcd"])] == [1]  # by id
    assert [x.offset for x in dlq.select(letters, repos=["/srv/b"], stages=["plan"])] == []


def test_replay_plan_groups_by_spec_and_is_idempotent():
    a1 = _letter(0, "plan", "/srv/a", PLAN, ts="2026-12-01T09:00:00+00:00")
    a2 = _letter(1, "plan", "/srv/a", PLAN, ts="2026-12-02T09:00:00+00:00")
    a_commit = _letter(2, "report", "local/a-1", {**PLAN, "ref": "c" * 40})
    junk = _letter(3, "request", None, "garbage")
    runs, unreplayable = dlq.plan_replays([a1, a2, a_commit, junk], replayed={})
    assert [(r.conf, [x.offset for x in r.letters]) for r in runs] == [
        ({"repo": "/srv/a", "ref": None, "force": False}, [0, 1]),
        ({"repo": "/srv/a", "ref": "c" * 40, "force": False}, [2]),
    ]
    assert unreplayable == [junk]
    # The run id depends on the letters only: planning again (an interrupted replay) asks for
    # the same runs; order of reading does not matter.
    again, _ = dlq.plan_replays([junk, a_commit, a2, a1], replayed={})
    assert sorted(r.run_id for r in again) == sorted(r.run_id for r in runs)
    assert all(r.run_id.startswith(dlq.RUN_PREFIX) and len(r.run_id) < 250 for r in runs)
    assert len({r.run_id for r in runs}) == 2
    # Once recorded, a letter is never re-submitted; a new letter gets a run of its own.
    done = {x.letter_id: r.run_id for r in runs for x in r.letters}
    assert dlq.plan_replays([a1, a2, a_commit], replayed=done) == ([], [])
    a3 = _letter(4, "plan", "/srv/a", PLAN, ts="2026-12-03T09:00:00+00:00")
    (third,), _ = dlq.plan_replays([a1, a2, a_commit, a3], replayed=done)
    assert [x.offset for x in third.letters] == [4] and third.run_id not in done.values()


def test_terminal_output_has_no_control_characters():
    assert dlq._clean("evil\x1b[2Jname\nnext", 100) == "evil?[2Jname?next"
    assert dlq._clean("x" * 50, 10) == "x" * 9 + "…"
    assert dlq._clean(None, 5) == "-"
