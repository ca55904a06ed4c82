"""Git's wildmatch (the glob of ``.gitattributes`` and ``.gitignore``) in linear time.

Why not a regular expression: a glob such as ``*a*a*a*a*a*a*b`` becomes a regex with one
unbounded quantifier per star, and Python's backtracking engine then takes exponential time on
a path that almost matches: 34 bytes in a hostile repository's ``.gitattributes`` held the
inventory for minutes.  Here a pattern is compiled to tokens and matched by simulating the
set of possible positions (a Thompson NFA, turned into a DFA lazily and cached):
O(len(path) x len(pattern)) whatever the input, one dictionary lookup per character usually.
Patterns with at most one star are handed to ``re`` instead (one quantifier cannot
backtrack more than quadratically, and ``re`` runs in C), which keeps the common ``*.ext``
and ``dir/**`` rules fast.

Semantics follow git's ``wildmatch`` with ``WM_PATHNAME``: ``*`` and ``?`` and classes never
match ``/``; ``**/`` matches zero or more folders, a trailing ``/**`` everything inside, any
other ``**`` is a plain ``*``; ``[!...]``/``[^...]`` negate, ``[:alpha:]``-style classes and
``\\`` escapes work.  Where git's matcher gives up on a pattern (an unclosed ``[``, an
unknown ``[:name:]``, a trailing backslash) or a range is reversed (``[z-a]``), the pattern
is refused with :class:`InvalidPattern` and the reason, so callers can record and skip it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

MAX_PATTERN_LENGTH = 1024
_DFA_CACHE = 4096  # remembered DFA steps per pattern

_POSIX: dict[str, str] = {
    "alnum": string.ascii_letters + string.digits,
    "alpha": string.ascii_letters,
    "blank": " \t",
    "cntrl": "".join(map(chr, range(32))) + "\x7f",
    "digit": string.digits,
    "graph": "".join(map(chr, range(33, 127))),
    "lower": string.ascii_lowercase,
    "print": "".join(map(chr, range(32, 127))),
    "punct": string.punctuation,
    "space": " \t\n\r\x0b\x0c",
    "upper": string.ascii_uppercase,
    "xdigit": string.hexdigits,
}


class InvalidPattern(ValueError):
    """A glob git would never match with; the message says why."""


@dataclass(frozen=True)
class _Class:
    negate: bool
    ranges: tuple[tuple[str, str], ...]

    def matches(self, ch: str) -> bool:
        if ch == "/":
            return False
        inside = any(lo <= ch <= hi for lo, hi in self.ranges)
        return inside != self.negate

    def regex(self) -> str:
        body = "".join(
            re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}" for lo, hi in self.ranges
        )
        if self.negate:
            return f"[^/{body}]"
        return f"(?!/)[{body}]" if body else "(?!)"


# Token kinds: a literal character, ``?``, a class, ``*`` (no slash), ``**`` at the end
# (anything), ``**/`` (zero or more folders).
_LIT, _ONE, _CLASS, _STAR, _ALL, _DIRS = range(6)
Token = tuple[int, object]


def _parse_class(pattern: str, i: int) -> tuple[_Class, int]:
    """Parse ``[...]`` starting after the ``[`` at ``i``; return the class and the next index."""
    n = len(pattern)
    negate = i < n and pattern[i] in "!^"
    if negate:
        i += 1
    ranges: list[tuple[str, str]] = []
    first = True
    while True:
        if i >= n:
            raise InvalidPattern("unclosed '['")
        ch = pattern[i]
        if ch == "]" and not first:
            return _Class(negate, tuple(ranges)), i + 1
        first = False
        if ch == "[" and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            if end == -1:
                raise InvalidPattern("unclosed '[:'")
            name = pattern[i + 2 : end]
            if name not in _POSIX:
                raise InvalidPattern(f"unknown character class [:{name}:]")
            ranges += [(c, c) for c in _POSIX[name]]
            i = end + 2
            continue
        if ch == "\\":
            i += 1
            if i >= n:
                raise InvalidPattern("trailing backslash")
            ch = pattern[i]
        lo = ch
        i += 1
        if i + 1 < n and pattern[i] == "-" and pattern[i + 1] != "]":
            hi = pattern[i + 1]
            i += 2
            if hi == "\\":
                if i >= n:
                    raise InvalidPattern("trailing backslash")
                hi = pattern[i]
                i += 1
            if hi < lo:
                raise InvalidPattern(f"reversed range {lo}-{hi}")
            ranges.append((lo, hi))
        else:
            ranges.append((lo, lo))


def tokenize(pattern: str) -> list[Token]:
    """The pattern as tokens, or :class:`InvalidPattern`."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidPattern(f"longer than {MAX_PATTERN_LENGTH} characters")
    tokens: list[Token] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            at_start = i == 0 or pattern[i - 1] == "/"
            if j - i >= 2 and at_start and j < n and pattern[j] == "/":
                if not (tokens and tokens[-1][0] == _DIRS):  # "**/**/" is one "**/"
                    tokens.append((_DIRS, None))
                i = j + 1
                continue
            if j - i >= 2 and at_start and j == n:
                tokens.append((_ALL, None))
            elif not (tokens and tokens[-1][0] == _STAR):
                tokens.append((_STAR, None))
            i = j
        elif ch == "?":
            tokens.append((_ONE, None))
            i += 1
        elif ch == "[":
            cls, i = _parse_class(pattern, i + 1)
            tokens.append((_CLASS, cls))
        elif ch == "\\":
            if i + 1 >= n:
                raise InvalidPattern("trailing backslash")
            tokens.append((_LIT, pattern[i + 1]))
            i += 2
        else:
            tokens.append((_LIT, ch))
            i += 1
    return tokens


class Glob:
    """One compiled pattern; :meth:`match` tests a whole path (``fnmatch`` style)."""

    __slots__ = ("_absorb", "_literal", "_needles", "_prefix", "_regex", "_start", "_steps", "_suffix",
                 "_tokens", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._tokens = tokenize(pattern)
        kinds = [kind for kind, _ in self._tokens]
        stars = sum(kind in (_STAR, _ALL, _DIRS) for kind in kinds)
        self._literal: str | None = None
        self._regex: re.Pattern[str] | None = None
        self._start = frozenset(self._closure({0}))
        self._steps: dict[tuple[frozenset[int], str], frozenset[int]] = {}
        # Cheap filters before the automaton: literal runs must appear in the path (at its
        # start or end when the pattern starts or ends with one), and a final "**" accepts
        # whatever follows once reached.
        runs: list[str] = []
        current: list[str] = []
        for kind, value in self._tokens:
            if kind == _LIT:
                current.append(str(value))
            else:
                runs.append("".join(current))
                current = []
        runs.append("".join(current))
        self._prefix = runs[0]
        self._suffix = runs[-1] if len(runs) > 1 else ""
        self._needles = tuple(run for run in runs[1:-1] if run)
        last = len(self._tokens) - 1
        self._absorb = 2 * last if last >= 0 and self._tokens[last][0] == _ALL else -1
        if all(kind == _LIT for kind in kinds):
            self._literal = "".join(str(v) for _, v in self._tokens)
        elif stars <= 1:
            self._regex = re.compile(self._to_regex(), re.DOTALL)

    def _to_regex(self) -> str:
        parts = []
        for kind, value in self._tokens:
            if kind == _LIT:
                parts.append(re.escape(str(value)))
            elif kind == _ONE:
                parts.append("[^/]")
            elif kind == _CLASS:
                assert isinstance(value, _Class)
                parts.append(value.regex())
            elif kind == _STAR:
                parts.append("[^/]*")
            elif kind == _ALL:
                parts.append(".*")
            else:
                parts.append("(?:.*/)?")
        return "".join(parts)

    def match(self, path: str) -> bool:
        if self._literal is not None:
            return path == self._literal
        if self._regex is not None:
            return self._regex.fullmatch(path) is not None
        return self._simulate(path)

    def _closure(self, states: set[int]) -> set[int]:
        """Add the states reachable without reading a character (a star may match nothing)."""
        tokens, stack = self._tokens, list(states)
        while stack:
            s = stack.pop()
            if s % 2 == 0 and s // 2 < len(tokens) and tokens[s // 2][0] in (_STAR, _ALL, _DIRS):
                nxt = s + 2
                if nxt not in states:
                    states.add(nxt)
                    stack.append(nxt)
        return states

    def _simulate(self, path: str) -> bool:
        """Run the NFA over ``path``, building the equivalent DFA lazily as characters arrive.

        Each (set of states, character) step is computed once and remembered, so the common
        case costs one dictionary lookup per character; the memory is capped by clearing the
        table when it grows past ``_DFA_CACHE`` entries (the time stays linear either way).
        """
        if not path.startswith(self._prefix) or not path.endswith(self._suffix):
            return False
        if any(needle not in path for needle in self._needles):
            return False
        steps = self._steps
        end = 2 * len(self._tokens)
        absorb = self._absorb
        states = self._start
        for ch in path:
            if absorb in states:
                return True
            key = (states, ch)
            nxt = steps.get(key)
            if nxt is None:
                if len(steps) >= _DFA_CACHE:
                    steps.clear()
                nxt = steps[key] = self._step(states, ch)
            if not nxt:
                return False
            states = nxt
        return end in states

    def _step(self, states: frozenset[int], ch: str) -> frozenset[int]:
        # State 2k: before token k; 2k+1: inside the folders of a "**/" token k.
        tokens = self._tokens
        nxt: set[int] = set()
        for s in states:
            k = s // 2
            if k >= len(tokens):
                continue
            kind, value = tokens[k]
            if s % 2:  # inside "**/": any character, and a slash may end it
                nxt.add(s)
                if ch == "/":
                    nxt.add(2 * k + 2)
            elif kind == _LIT:
                if ch == value:
                    nxt.add(s + 2)
            elif kind == _ONE:
                if ch != "/":
                    nxt.add(s + 2)
            elif kind == _CLASS:
                assert isinstance(value, _Class)
                if value.matches(ch):
                    nxt.add(s + 2)
            elif kind == _STAR:
                if ch != "/":
                    nxt.add(s)
            elif kind == _ALL:
                nxt.add(s)
            else:  # _DIRS
                nxt.add(s + 2 if ch == "/" else s + 1)
        return frozenset(self._closure(nxt)) if nxt else frozenset()
