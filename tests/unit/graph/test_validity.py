"""Validity runs: assignment, canonical merging, order independence, idempotence."""

from __future__ import annotations

import itertools

import pytest

from freshpoc_tasks.graph import validity as v

P1, P2, P3, P4 = (10, "a"), (20, "b"), (30, "c"), (40, "d")


@pytest.mark.parametrize(("runs", "start", "end", "value", "expected"), [
    ([], P1, None, "h", [(P1, None, "h")]),
    ([(P1, None, "h")], P2, None, "h", [(P1, None, "h")]),
    ([(P1, None, "h")], P2, None, None, [(P1, P2, "h")]),
    ([(P1, None, "h")], P2, None, "k", [(P1, P2, "h"), (P2, None, "k")]),
    ([(P1, P3, "h")], P2, P3, None, [(P1, P2, "h")]),
    ([(P1, P2, "h"), (P3, None, "h")], P2, P3, "h", [(P1, None, "h")]),
    ([(P1, None, "h")], P2, P3, None, [(P1, P2, "h"), (P3, None, "h")]),
    ([(P2, None, "h")], P1, P2, "h", [(P1, None, "h")]),
])
def test_assign(runs, start, end, value, expected):
    assert v.assign(runs, start, end, value) == expected
    assert v.assign(expected, start, end, value) == expected  # idempotent


def _replay(order, facts):
    """Process commits in ``order``; each commit assigns [p, next processed point)."""
    runs: list[v.Run] = []
    timeline: list[v.Point] = []
    for p in order:
        timeline = sorted({*timeline, p})
        runs = v.assign(runs, p, v.next_point(timeline, p), facts[p])
    return runs


def test_any_processing_order_gives_the_same_runs():
    facts = {P1: "h", P2: None, P3: "k", P4: "k"}
    expected = [(P1, P2, "h"), (P3, None, "k")]
    for order in itertools.permutations([P1, P2, P3, P4]):
        assert _replay(order, facts) == expected, order
    assert [v.value_at(expected, p) for p in (P1, P2, P3, P4)] == ["h", None, "k", "k"]


def test_envelope_and_codec():
    runs = [(P1, P2, "h"), (P3, None, "k")]
    assert v.envelope(runs) == (10, v.OPEN)
    assert v.envelope([(P1, P2, "h")]) == (10, 20)
    assert v.envelope([]) == (v.OPEN, v.OPEN)
    assert v.decode(v.encode(runs)) == runs
    assert v.decode_timeline(v.encode_timeline([P2, P1])) == [P1, P2]


def test_microseconds():
    from datetime import UTC, datetime

    when = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert v.to_us(when) == 1704164645000006
    assert v.from_us(v.to_us(when)) == when


def test_encode_is_byte_equal_to_the_json_encoder():
    """``encode`` builds the text from pieces (it runs for every node and edge of a write); the
    stored runs must stay exactly what the JSON encoder gave, odd strings and types included."""
    import json

    plain = json.JSONEncoder(separators=(",", ":")).encode

    def reference(runs):
        return plain([[list(s), list(e) if e else None, x] for s, e, x in runs])

    odd = ["", "a\"b\\c", "line\nbreak\x00", "é日本", "\ud800", "x" * 100]
    cases = [[], [(P1, None, "h")], [(P1, P2, "h"), (P3, None, "k")], [(v.TIMELESS, None, "h")]]
    cases += [[((-5, s), (7, s), s)] for s in odd]
    cases += [[((True, "a"), None, "h")], [([1, "a"], None, "h")], [(P1, None, 3)], [(P1, (2.5, "b"), "h")]]
    for runs in cases:
        assert v.encode(runs) == reference(runs), runs


def test_assign_to_nothing_is_one_run_or_none():
    assert v.assign([], P1, P2, "h") == [(P1, P2, "h")]
    assert v.assign([], P1, None, None) == []


def test_a_gap_is_a_hole_between_runs_and_present_reads_it():
    gap = [(P1, P2, "h"), (P3, None, "h")]
    touching = [(P1, P2, "h"), (P2, None, "k")]
    assert v.has_gap(gap) and not v.has_gap(touching)
    assert not v.has_gap([]) and not v.has_gap([(P1, None, "h")])
    # The envelope (10, OPEN) says present at 25; the runs say absent.
    assert v.envelope(gap) == (10, v.OPEN)
    assert [v.present(gap, t) for t in (9, 10, 19, 20, 25, 30, 99)] == [False, True, True, False,
                                                                          False, True, True]
    assert all(v.present(touching, t) for t in (10, 20, 25, 99)) and not v.present(touching, 9)
    assert v.boundaries(gap) == [10, 20, 30] and v.boundaries([]) == []
    closed = [(P1, P2, "h"), (P3, P4, "h")]
    assert v.present(closed, 35) and not v.present(closed, 40)
