"""Definitions before tests and generated files, unless the question asks for tests."""

from __future__ import annotations

import pytest

from freshpoc_tasks.search.hits import SearchHit
from freshpoc_tasks.search.ranking import asks_for_tests, is_generated, is_test, prefer_definitions


def _hit(xid: str, score: float, path: str, name: str = "") -> SearchHit:
    return SearchHit(xid=xid, score=score, snippet="", name=name or xid.rsplit(".", 1)[-1],
                     node_type="py.function", language="python", repo_id="r", path=path)


@pytest.mark.parametrize(("path", "name", "expected"), [
    ("tests/test_helpers.py", "test_streaming_with_context", True),
    ("src/pkg/tests/helpers.py", "make_app", True),
    ("pkg/core_test.py", "check", True),
    ("conftest.py", "app", True),
    ("src/flask/testing.py", "FlaskClient", False),  # helpers for users' tests are code
    ("src/flask/helpers.py", "stream_with_context", False),
    ("src/pkg/util.py", "test_connection", True),
])
def test_what_counts_as_a_test(path, name, expected):
    assert is_test(path, name) is expected


def test_generated_and_vendored_files():
    assert is_generated("api/service_pb2.py") and is_generated("src/pip/_vendor/six.py")
    assert is_generated("static/app.min.js") and not is_generated("src/flask/app.py")


def test_questions_that_ask_for_tests():
    assert asks_for_tests("tests for blueprints nested inside other blueprints")
    assert asks_for_tests("where is this tested?")
    assert not asks_for_tests("keep the request context while streaming a response")
    assert not asks_for_tests("latest version of the protocol")  # a word containing "test" is not one


def test_the_implementation_outranks_its_tests():
    hits = [_hit("t1", 0.95, "tests/test_helpers.py", "test_streaming_with_context"),
            _hit("t2", 0.93, "tests/test_helpers.py", "test_stream_keeps_session"),
            _hit("impl", 0.80, "src/flask/helpers.py", "stream_with_context"),
            _hit("gen", 0.85, "src/flask/_vendor/x.py")]
    ranked = prefer_definitions(hits, "keep the request context while streaming", limit=3, penalty=0.5)
    assert [h.xid for h in ranked] == ["impl", "t1", "t2"]
    assert ranked[1].score == pytest.approx(0.475)
    # asked for tests: tests keep their score, generated files stay demoted
    asked = prefer_definitions(hits, "tests of streaming with context", limit=4, penalty=0.5)
    assert [h.xid for h in asked] == ["t1", "t2", "impl", "gen"]
    # penalty 1.0 is the server's order
    same = prefer_definitions(hits, "streaming", 4, penalty=1.0)
    assert [h.xid for h in same] == ["t1", "t2", "gen", "impl"]
