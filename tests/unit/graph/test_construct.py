"""construct_fast: the diff items it builds are the ones pydantic would."""

from __future__ import annotations

import pydantic
import pytest

from freshpoc_tasks.graph.construct import construct_fast
from freshpoc_tasks.graph.diff import EdgeChange, GraphDiff, NodeChange


@pytest.mark.parametrize("cls, values", [
    (NodeChange, {"id": "py.module:r:a", "type": "py.module", "path": "a.py"}),
    (NodeChange, {"id": "file:r:b", "type": "file"}),
    (NodeChange, {"id": "x", "type": "t", "path": None, "fields": {"doc": ["a", "b"]}}),
    (EdgeChange, {"type": "calls", "src": "a", "dst": "b"}),
])
def test_construct_fast_builds_what_model_construct_does(cls, values):
    fast, slow = construct_fast(cls)(**values), cls.model_construct(**values)
    assert fast == slow == cls(**values)
    assert list(fast.__dict__.items()) == list(slow.__dict__.items())
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.to_json_line() == slow.to_json_line()
    with pytest.raises(pydantic.ValidationError):  # still frozen
        fast.type = "other"


def test_construct_fast_refuses_default_factories():
    with pytest.raises(TypeError):
        construct_fast(GraphDiff)
