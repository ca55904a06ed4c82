"""A saved query's answer (named blocks of rows, plus scalars) is paged as one list of rows and
regrouped into its blocks on every page, so a model walks any answer with the same cursor."""

from __future__ import annotations

from typing import Any

from freshpoc_tasks.mcp.answers import GraphTools


class Answers:
    """A backend whose saved query answers fixed blocks (the shape Dgraph gives)."""

    kind = "test"
    store: Any = None

    def run_saved_query(self, name: str, params: dict[str, str]) -> dict[str, Any]:
        assert params == {"repo": "r", "first": "500"}
        return {"total": [{"count": 7}], "items": [{"path": f"f{i}"} for i in range(6)], "note": "x"}


def test_rows_of_every_block_are_paged_once_and_regrouped():
    tools = GraphTools(Answers())  # type: ignore[arg-type]
    pages, cursor = [], None
    while True:
        answer = tools.run_saved_query("files", {"repo": "r", "first": 500}, 3, cursor)
        pages.append(answer)
        cursor = answer["more"]
        if cursor is None:
            break
    assert [p["blocks"] for p in pages] == [
        {"total": [{"count": 7}], "items": [{"path": "f0"}, {"path": "f1"}]},
        {"total": [], "items": [{"path": "f2"}, {"path": "f3"}, {"path": "f4"}]},
        {"total": [], "items": [{"path": "f5"}]},
    ]
    assert {p["note"] for p in pages} == {"x"} and {p["total_rows"] for p in pages} == {7}
    assert [p["offset"] for p in pages] == [0, 3, 6]
