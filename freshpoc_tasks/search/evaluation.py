"""A labelled question set and recall@k, shared by the quality benchmark and its test.

Recall here is per question: a question counts as found when any of its expected nodes is
among the first ``k`` distinct nodes returned. Questions are data (YAML), so adding one never
means editing code.
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


@dataclass(frozen=True)
class QuestionSet:
    repo_id: str
    questions: tuple[Question, ...]


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
    return QuestionSet(repo_id, tuple(out))


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
        if set(top) & set(q.expected):
            found += 1
        else:
            misses.append((q.text, tuple(top)))
    return Recall(found, len(questions), tuple(misses))
