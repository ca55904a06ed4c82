"""Order hits the way a person asking "where is X done" wants: the implementation first.

A test exercises the code it tests with the same names and phrases, so on a question about a
behaviour the tests of that behaviour score as high as its implementation, and there are often
several of them ("keep the request context while streaming a response" returned four tests
before ``stream_with_context``). Generated files (protobuf stubs, vendored or minified copies,
migrations written by a tool) repeat names too. Both are demoted by a factor on their score,
unless the question itself asks for tests, fixtures or examples of testing. The factor is a
weight like hybrid search's alpha: chosen on the tuning half of the labelled questions
(``benchmarks/search_quality.py``) and reported on the held-out half.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import PurePosixPath

from freshpoc_tasks.search.hits import SearchHit, best_per_node

# Chosen on the tuning halves of include/search/{flask,requests}.yaml by benchmarks/search_quality.py
# (0.5 best for every mode, again with the 128/32-token cut); held-out hybrid recall@5 with it
# 0.95 (flask) / 1.00 (requests), without it 0.90 / 1.00.
TEST_PENALTY = 0.5

_ASKS_FOR_TESTS = re.compile(r"\b(tests?|tested|testing|unit ?tests?|test ?cases?|fixtures?|conftest|"
                             r"specs?|regression)\b", re.IGNORECASE)
_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs"})
_GENERATED_DIRS = frozenset({"_vendor", "vendor", "vendored", "third_party", "node_modules", "generated",
                             "gen", "build", "dist", "site-packages"})
_GENERATED_SUFFIXES = ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi", ".min.js", ".min.css", "_generated.py",
                       ".generated.py")


def asks_for_tests(question: str) -> bool:
    """Whether the question is about tests themselves ("tests for nested blueprints")."""
    return bool(_ASKS_FOR_TESTS.search(question))


def is_test(path: str, name: str = "") -> bool:
    """A test module or a test inside one: a tests/ folder, ``test_*.py``/``*_test.py``,
    ``conftest.py``, or a ``test_*`` function anywhere (a library's ``testing.py`` helpers for
    its users are not tests)."""
    p = PurePosixPath(path)
    if _TEST_DIRS & {part.lower() for part in p.parts[:-1]}:
        return True
    file = p.name.lower()
    if file.startswith("test_") or file.endswith(("_test.py", "_tests.py")) or file == "conftest.py":
        return True
    leaf = name.rsplit(".", 1)[-1]
    return leaf.startswith("test_")


def is_generated(path: str) -> bool:
    """A file written by a tool or copied in: protobuf stubs, minified bundles, vendored trees."""
    p = PurePosixPath(path)
    if _GENERATED_DIRS & {part.lower() for part in p.parts[:-1]}:
        return True
    return p.name.lower().endswith(_GENERATED_SUFFIXES)


def prefer_definitions(hits: Iterable[SearchHit], question: str, limit: int,
                       penalty: float = TEST_PENALTY) -> list[SearchHit]:
    """Hits re-ordered with tests and generated files demoted (score x ``penalty``), unless the
    question asks for tests (then only generated files are); one hit per node, best first."""
    tests_wanted = asks_for_tests(question)
    out = []
    for hit in hits:
        demote = is_generated(hit.path) or (not tests_wanted and is_test(hit.path, hit.name))
        out.append(replace(hit, score=hit.score * penalty) if demote and hit.score > 0 else hit)
    return best_per_node(out, limit)
