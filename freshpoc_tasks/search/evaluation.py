"""A labelled question set and recall@k, shared by the quality benchmark and its test.

Recall here is per question: a question counts as found when any of its expected nodes is
among the first ``k`` distinct nodes returned. Questions are data (YAML), so adding one never
means editing code. An expected entry is a whole graph id (``py.function:repo:key``) or just a
symbol, the node's natural key (``flask.helpers.url_for``), which matches a node of any type
with that key in the set's repository: what a person writing questions about a real project
knows is the symbol, not our id scheme.

Sets about real repositories are split by position into a tuning half (even positions) and a
held-out half (odd): weights are chosen on the first and reported on the second, so a number
is never measured on the questions it was tuned on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Question:
    text: str
    expected: tuple[str, ...]

    def answered_by(self, xid: str) -> bool:
        """Whether ``xid`` is one of the expected nodes (by whole id or by symbol)."""
        return any(xid == e or (":" not in e and symbol_of(xid) == e) for e in self.expected)


def symbol_of(xid: str) -> str:
    """The natural key of a graph id: ``py.function:github.com/o/r:pkg.mod.f`` -> ``pkg.mod.f``."""
    parts = xid.split(":", 2)
    return parts[2] if len(parts) == 3 else xid


@dataclass(frozen=True)
class QuestionSet:
    repo_id: str
    questions: tuple[Question, ...]
    repository: str = ""  # name of the reference checkout it is about (flask, requests ...), if any

    def halves(self) -> tuple[tuple[Question, ...], tuple[Question, ...]]:
        """(tuning half, held-out half): even and odd positions, so both cover the whole file."""
        return self.questions[0::2], self.questions[1::2]


def load_questions(path: str | Path) -> QuestionSet:
    """Read and check a question file; a malformed entry is an error naming its position."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    repo_id = doc.get("repo_id")
    if not isinstance(repo_id, str) or not repo_id:
        raise ValueError(f"{path}: repo_id is missing")
    out = []
    for n, entry in enumerate(doc.get("questions") or [], 1):
        text = entry.get("q") if isinstance(entry, dict) else None
        expected = entry.get("expected") if isinstance(entry, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path}: question {n} has no text")
        if not isinstance(expected, list) or not expected or not all(isinstance(x, str) for x in expected):
            raise ValueError(f"{path}: question {n} needs a non-empty list of expected xids")
        out.append(Question(text.strip(), tuple(expected)))
    repository = doc.get("repository") or ""
    return QuestionSet(repo_id, tuple(out), str(repository))


@dataclass(frozen=True)
class Recall:
    found: int
    total: int
    misses: tuple[tuple[str, tuple[str, ...]], ...]  # (question, top-k xids returned)

    @property
    def value(self) -> float:
        return self.found / self.total if self.total else 0.0


def recall_at_k(questions: Sequence[Question], ranker: Callable[[str], Sequence[str]], k: int = 5) -> Recall:
    """Ask ``ranker`` (question -> ranked xids) every question and count hits in its top ``k``."""
    found = 0
    misses = []
    for q in questions:
        top: list[str] = []
        for xid in ranker(q.text):
            if xid not in top:
                top.append(xid)
            if len(top) == k:
                break
        if any(q.answered_by(x) for x in top):
            found += 1
        else:
            misses.append((q.text, tuple(top)))
    return Recall(found, len(questions), tuple(misses))
