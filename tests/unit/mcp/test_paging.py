"""Every MCP list answer is bounded: at most ``limit`` items and about MAX_CHARS of JSON, with a
cursor that walks the rest exactly once."""

from __future__ import annotations

import pytest

from freshpoc_tasks.mcp.paging import (
    CursorError,
    decode_cursor,
    encode_cursor,
    page,
    page_window,
    size,
)


def test_cursor_round_trip_and_refusals():
    assert decode_cursor(None) == 0 and decode_cursor("") == 0
    assert decode_cursor(encode_cursor(12345)) == 12345
    for bad in ("12", "not-base64!", encode_cursor(3)[:-1] + "@", "bzot"):  # "bzot" is "o:-"
        with pytest.raises(CursorError, match="pass back the 'more' value"):
            decode_cursor(bad)


@pytest.mark.parametrize(("limit", "max_chars"), [(7, 1_000_000), (200, 400), (3, 250)])
def test_pages_walk_every_item_once_within_both_bounds(limit, max_chars):
    items = [{"xid": f"n{i:04d}", "pad": "x" * (i % 37)} for i in range(120)]
    seen, cursor, pages = [], None, 0
    while True:
        answer = page(items, cursor, limit, max_chars=max_chars)
        assert 1 <= len(answer["items"]) <= limit
        assert size({k: v for k, v in answer.items() if k not in ("total", "offset", "more")}) <= max_chars \
            or len(answer["items"]) == 1
        assert answer["total"] == 120 and answer["offset"] == len(seen)
        seen += answer["items"]
        pages += 1
        cursor = answer["more"]
        if cursor is None:
            break
    assert seen == items
    assert pages >= -(-120 // limit)


def test_one_huge_item_still_moves_the_cursor():
    answer = page_window([{"blob": "y" * 5000}, {"blob": "z"}], 0, 2, max_chars=100)
    assert len(answer["items"]) == 1 and decode_cursor(answer["more"]) == 1


def test_the_shell_counts_toward_the_size_cap():
    rows = [{"i": i} for i in range(50)]
    answer = page_window(rows, 0, 50, lambda xs: {"header": "h" * 300, "rows": xs}, max_chars=400)
    assert size({"header": answer["header"], "rows": answer["rows"]}) <= 400
    assert 0 < len(answer["rows"]) < 50 and answer["more"] is not None


def test_limit_is_checked():
    with pytest.raises(ValueError, match="limit must be between 1 and 200"):
        page([1, 2, 3], None, 0)
    with pytest.raises(ValueError, match="limit must be between 1 and 200"):
        page([1, 2, 3], None, 201)
