"""One hit per graph node, and the modes search accepts."""

from __future__ import annotations

import pytest

from freshpoc_tasks.search.hits import SearchHit, best_per_node, check_mode


def _hit(xid: str, score: float, part: int = 0) -> SearchHit:
    return SearchHit(xid=xid, score=score, snippet="", name="", node_type="file", language="markdown",
                     repo_id="local/t", path="", part=part)


def test_a_node_with_several_chunks_takes_one_place_with_its_best_score():
    hits = [_hit("a", 0.5, 0), _hit("b", 0.7), _hit("a", 0.9, 2), _hit("c", 0.7)]
    assert [(h.xid, h.score, h.part) for h in best_per_node(hits, 10)] == [
        ("a", 0.9, 2), ("b", 0.7, 0), ("c", 0.7, 0)]
    assert [h.xid for h in best_per_node(hits, 2)] == ["a", "b"]


def test_unknown_modes_are_refused():
    assert check_mode("bm25") == "bm25"
    with pytest.raises(ValueError, match="unknown search mode 'semantic'; use one of hybrid, bm25, vector"):
        check_mode("semantic")
