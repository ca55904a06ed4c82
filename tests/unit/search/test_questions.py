"""The labelled question set: big enough, and every expected node really becomes a chunk."""

from __future__ import annotations

from pathlib import Path

import pytest

from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.model import SourceFile
from freshpoc_tasks.search.chunker import chunk_delta, words
from freshpoc_tasks.search.evaluation import Question, load_questions, recall_at_k, symbol_of
from freshpoc_tasks.search.ranking import asks_for_tests, is_test

ROOT = Path(__file__).resolve().parents[3]


def test_question_set_points_at_chunked_nodes():
    qs = load_questions(ROOT / "include" / "search" / "questions.yaml")
    assert qs.repo_id == "local/examples"
    assert len(qs.questions) >= 30
    assert len({q.text for q in qs.questions}) == len(qs.questions)
    examples = ROOT / "include" / "examples"
    files = [SourceFile.from_text(p.relative_to(examples).as_posix(), p.read_bytes())
             for p in sorted(examples.rglob("*")) if p.is_file()]
    chunks = chunk_delta(analyse_repository(files, qs.repo_id), {f.path: f.content for f in files})
    known = {c.xid for c in chunks}
    assert [x for q in qs.questions for x in q.expected if x not in known] == []
    # paraphrased: no question contains the name of the node it expects
    names = {c.xid: words(c.name) for c in chunks}
    assert [q.text for q in qs.questions
            if any(names[x] and names[x] in words(q.text) for x in q.expected)] == []


def test_recall_counts_any_expected_node_in_the_first_k_distinct():
    questions = [Question("a", ("x",)), Question("b", ("y", "z")), Question("c", ("w",))]
    ranked = {"a": ["x", "x"], "b": ["q", "q", "q", "z"], "c": ["p", "q", "r", "s", "t", "w"]}
    r = recall_at_k(questions, ranked.__getitem__, k=2)
    assert (r.found, r.total, r.value) == (2, 3, 2 / 3)
    assert r.misses == (("c", ("p", "q")),)


def test_malformed_question_files_name_the_entry(tmp_path):
    bad = tmp_path / "q.yaml"
    bad.write_text("repo_id: local/x\nquestions:\n  - q: fine\n    expected: [a]\n  - q: no answer\n")
    with pytest.raises(ValueError, match="question 2 needs a non-empty list of expected xids"):
        load_questions(bad)


REAL = ("flask", "requests")


@pytest.mark.parametrize("name", REAL)
def test_real_repository_sets_are_big_enough_and_split_in_halves(name):
    qs = load_questions(ROOT / "include" / "search" / f"{name}.yaml")
    assert qs.repository == name and qs.repo_id.endswith(f"/{name}")
    assert len(qs.questions) >= 40
    assert len({q.text for q in qs.questions}) == len(qs.questions)
    tuning, held = qs.halves()
    assert len(held) >= 20 and len(tuning) >= 20
    assert not {q.text for q in tuning} & {q.text for q in held}
    # symbols, not our ids: what someone who knows the project writes
    assert all(":" not in e for q in qs.questions for e in q.expected)
    # a question expecting tests says so (the ranking keeps tests down otherwise); both halves
    # have a few, and mostly questions about the implementation
    for half in (tuning, held):
        about_tests = [q for q in half if all(is_test(e.replace(".", "/") + ".py") for e in q.expected)]
        assert about_tests and len(about_tests) < len(half) / 4
        assert all(asks_for_tests(q.text) for q in about_tests)


def test_expected_symbols_match_nodes_of_any_type():
    q = Question("where are blueprints registered", ("flask.sansio.app.App.register_blueprint",
                                                     "py.class:github.com/pallets/flask:flask.Flask"))
    assert q.answered_by("py.function:github.com/pallets/flask:flask.sansio.app.App.register_blueprint")
    assert q.answered_by("py.class:github.com/pallets/flask:flask.Flask")
    assert not q.answered_by("py.function:github.com/pallets/flask:flask.Flask")
    assert not q.answered_by("py.function:x:flask.sansio.app.App.register_blueprint_x")
    assert symbol_of("sql.statement:local/x:a/b.sql#0") == "a/b.sql#0"
