"""Bounded answers for the MCP tools: a page of items and a cursor for the rest.

A model reads every character a tool returns, and one answer about a hub node (a module every
file imports, a table every model reads) can run to megabytes. So each list answer is cut twice:
at ``limit`` items, and at :data:`MAX_CHARS` characters of JSON, whichever comes first; the
answer then carries ``more``, an opaque cursor the model passes back to get the next page. The
cursor is the offset of the next item, so the same question with the same cursor is the same
page on an unchanged graph (no server-side state, which a stateless HTTP transport cannot keep).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_CHARS = 24_000  # characters of JSON per answer: a few thousand tokens
_PREFIX = "o:"
BAD_CURSOR = "cursor is not one this server gave: pass back the 'more' value unchanged"


class CursorError(ValueError):
    """The cursor was not one this server gave (answered as a tool error)."""


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for; 0 without one."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_PREFIX):
            raise ValueError(text)
        offset = int(text[len(_PREFIX):])
    except ValueError:
        raise CursorError(BAD_CURSOR) from None
    if offset < 0:
        raise CursorError(BAD_CURSOR)
    return offset


def check_limit(limit: int) -> int:
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    return int(limit)


def size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str))


def page(items: Sequence[Any], cursor: str | None, limit: int,
         shell: Callable[[list[Any]], dict[str, Any]] | None = None,
         max_chars: int = MAX_CHARS) -> dict[str, Any]:
    """The page of ``items`` starting at ``cursor``: at most ``limit`` items and, with the rest of
    the answer (``shell(page_items)``, default ``{"items": ...}``), at most ``max_chars`` of JSON.
    At least one item is always given, so a cursor always moves on. Adds ``total``, ``offset`` and
    ``more`` (the next cursor, or None when this page is the last)."""
    offset = decode_cursor(cursor)
    return page_window(list(items[offset: offset + check_limit(limit)]), offset, len(items), shell, max_chars)


def page_window(window: list[Any], offset: int, total: int,
                shell: Callable[[list[Any]], dict[str, Any]] | None = None,
                max_chars: int = MAX_CHARS) -> dict[str, Any]:
    """Like :func:`page` for a window already cut at ``offset`` (by a route's own paging)."""
    make = shell or (lambda xs: {"items": xs})
    keep = len(window)
    if keep > 1 and size(make(window)) > max_chars:
        lo, hi = 1, keep - 1  # the longest prefix that fits (at least one item)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if size(make(window[:mid])) <= max_chars:
                lo = mid
            else:
                hi = mid - 1
        keep = lo
    answer = make(window[:keep])
    nxt = offset + keep
    answer.update(total=total, offset=offset, more=encode_cursor(nxt) if nxt < total else None)
    return answer
