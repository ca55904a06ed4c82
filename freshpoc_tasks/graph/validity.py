"""Commit-range validity: which processed commits of a repository an entity is present in.

A repository's processed commits form a *timeline* of points ``(committed_at in µs, sha)``,
ordered by time (the sha only breaks ties). An entity's validity is a list of *runs*
``(from_point, to_point | None, hash)``: it is present, with properties whose hash is ``hash``,
at every timeline point ``p`` with ``from <= p < to`` (``to=None``: still present). Runs are
canonical — consecutive runs with the same hash that touch are merged — so the same facts always
give the same runs, whatever order commits were processed in.

Processing commit ``C`` assigns its value to the half-open range ``[C, next processed point)``.
Because the timeline points partition time, that is exactly "the entity at C", and it works
for a backfill between two processed commits as well as for the newest one; doing it twice
changes nothing, which is what makes a rerun after a crash converge.

DQL cannot evaluate a run list, so every entity also carries its *envelope* (``vf`` = first
from, ``vt`` = last to or :data:`OPEN`) for ``@filter``/``@facets`` range tests. The envelope
is exact unless an entity disappeared and came back (a *gap*: a run ends where no run starts).
A node with one gap carries it (``vhf``/``vht``, indexed, :func:`holes`), which DQL tests as
exactly as the envelope; one with more is marked (``vg``, with its run boundaries ``vb``), so a
question reads those few apart and decides them from their runs (:func:`present`). An edge's
runs ride in its ``vs`` facet (``vg`` when they have a gap) and are decided where an answer is read.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring_ascii as _escape  # what _COMPACT uses

Point = tuple[int, str]
Run = tuple[Point, Point | None, str]

OPEN = 253402300799999999  # 9999-12-31T23:59:59.999999Z in µs: "still valid" in range filters
TIMELESS: Point = (0, "")  # start of entities that belong to no repository's timeline


def to_us(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    from datetime import timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def value_at(runs: Sequence[Run], point: Point) -> str | None:
    for start, end, value in runs:
        if start <= point and (end is None or point < end):
            return value
    return None


def next_point(timeline: Sequence[Point], point: Point) -> Point | None:
    """The first processed point after ``point`` (``point`` itself may or may not be listed)."""
    i = bisect.bisect_right(timeline, point)
    return timeline[i] if i < len(timeline) else None


def prev_point(timeline: Sequence[Point], point: Point) -> Point | None:
    i = bisect.bisect_left(timeline, point)
    return timeline[i - 1] if i > 0 else None


def _before(a: Point | None, b: Point | None) -> bool:
    """a < b where None means +infinity."""
    if a is None:
        return False
    return b is None or a < b


def assign(runs: Sequence[Run], start: Point, end: Point | None, value: str | None) -> list[Run]:
    """Set ``[start, end)`` to ``value`` (None: absent) and return canonical runs."""
    if not runs:  # a new entity (every one of a first write): nothing to cut or merge
        return [(start, end, value)] if value is not None else []
    out: list[Run] = []
    for s, e, v in runs:
        if _before(s, start):  # the part before the range survives
            out.append((s, e if _before(e, start) else start, v))
        if _before(end, e):  # the part after the range survives
            out.append((end if _before(s, end) else s, e, v))  # type: ignore[arg-type]
    if value is not None:
        out.append((start, end, value))
    out.sort(key=lambda r: r[0])
    merged: list[Run] = []
    for s, e, v in out:
        if merged and merged[-1][2] == v and merged[-1][1] == s:
            merged[-1] = (merged[-1][0], e, v)
        else:
            merged.append((s, e, v))
    return merged


def envelope(runs: Sequence[Run]) -> tuple[int, int]:
    """(vf, vt) for range filters; a never-present entity gets (OPEN, OPEN) and matches nothing."""
    if not runs:
        return OPEN, OPEN
    last = runs[-1][1]
    return runs[0][0][0], OPEN if last is None else last[0]


def holes(runs: Sequence[Run]) -> list[tuple[int, int]]:
    """The times ``[from, to)`` (µs) between the first start and the last end where the entity
    was absent: where the envelope says "present" and the runs do not."""
    return [(a[1][0], b[0][0]) for a, b in itertools.pairwise(runs) if a[1] != b[0]]


def hole_marks(runs: Sequence[Run]) -> dict[str, object]:
    """The predicates a node with a gap carries (none without one): ``vhf``/``vht`` for its one
    hole, ``vg``/``vb`` for more."""
    found = holes(runs)
    if len(found) == 1:
        return {"vhf": found[0][0], "vht": found[0][1]}
    return {"vg": True, "vb": boundaries(runs)} if found else {}


def has_gap(runs: Sequence[Run]) -> bool:
    return bool(holes(runs))


def boundaries(runs: Sequence[Run]) -> list[int]:
    """The times (µs) where a run starts or ends: presence changes only there, so a node that
    changed between two times has one of them in between (what the diff's gap root ranges over)."""
    return sorted({p[0] for start, end, _h in runs for p in (start, end) if p is not None})


def present(runs: Sequence[Run], t_us: int) -> bool:
    """Present at time ``t_us`` (µs), run by run: the envelope's ``vf <= t < vt``, exact over gaps."""
    return any(start[0] <= t_us and (end is None or t_us < end[0]) for start, end, _h in runs)


def last_value(runs: Sequence[Run]) -> str | None:
    return runs[-1][2] if runs else None


# One encoder for the process: ``json.dumps`` with options builds a new encoder on every call, and
# the writer's planner encodes every node's runs (a third of planning a repository's write).
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode


@lru_cache(maxsize=4096)
def _encode_point(point: Point) -> str:
    return _COMPACT(list(point))


def encode(runs: Sequence[Run]) -> str:
    """Runs as compact JSON (``[[[us,"sha"],null,"hash"]]``), byte-equal to ``_COMPACT``'s.

    Built from pieces: a write encodes the runs of every node and edge (hundreds of thousands)
    and they share a handful of points, each encoded once; strings go through the JSON module's
    own C escaper. Anything but the ``(int, str)`` points and ``str`` values runs make goes to
    the general encoder.
    """
    parts = []
    for s, e, v in runs:
        if type(v) is not str or type(s) is not tuple or (e is not None and type(e) is not tuple):
            return _COMPACT([[list(s), list(e) if e else None, v] for s, e, v in runs])
        parts.append(f"[{_point_text(s)},{_point_text(e) if e else 'null'},{_escape(v)}]")
    return f"[{','.join(parts)}]"


def _point_text(point: Point) -> str:
    if type(point[0]) is int and type(point[1]) is str and len(point) == 2:
        return _encode_point(point)
    return _COMPACT(list(point))


def decode(text: str | None) -> list[Run]:
    if not text:
        return []
    return [((s[0], s[1]), (e[0], e[1]) if e else None, v) for s, e, v in json.loads(text)]


def encode_timeline(timeline: Sequence[Point]) -> str:
    return _COMPACT([list(p) for p in timeline])


def decode_timeline(text: str | None) -> list[Point]:
    return sorted((p[0], p[1]) for p in json.loads(text)) if text else []
