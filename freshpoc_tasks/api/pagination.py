"""Pagination shared by every list route: a cursor (``after``) and, for short jumps, an offset.

Lists are ordered by a stable key (path, xid, rank). A page's ``next_after`` is a cursor to send
back as ``after``; clients treat it as opaque. For a ranked list it is the number of items seen
(the next stored page is read directly). For a list ordered by an indexed key (files by path,
the as-of listing by xid) it is ``"<position>:<key>"``, the position and key of the page's last
item (:func:`keyed_page`): the next page is read by walking the sorted index to that position
and is accepted when the item there still has that key. Measured at 111k nodes (2 cores), a
``gt(key, $after)`` filter, the obvious cursor, read every index entry after the key and cost
250-600 ms a page against 20-40 ms for the walk to page 2 and 35 ms to item 1,000; the filter
is kept for a cursor whose position no longer holds (the list changed under it) or that carries
none. ``offset`` is kept for compatibility and small jumps; it applies after the cursor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")
MAX_LIMIT = 500
MAX_OFFSET = 100_000
MAX_CURSOR = 2000


class PageParams(BaseModel):
    limit: int
    offset: int
    after: str = ""


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip (after the cursor)")] = 0,
    after: Annotated[str, Query(max_length=MAX_CURSOR, pattern=r"^[^\x00]*$", description=(
        "cursor: the previous page's next_after; empty for the first page"))] = "",
) -> PageParams:
    return PageParams(limit=limit, offset=offset, after=after)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None = None
    next_after: str | None = None

    @classmethod
    def of(cls, items: list[T], total: int, params: PageParams, cursor: str | None = None) -> Page[T]:
        """``cursor`` is the last item's key when the list has more after it (None: no cursor)."""
        nxt = params.offset + params.limit
        more = nxt < total if not params.after else len(items) == params.limit
        return cls(items=items, total=total, limit=params.limit, offset=params.offset,
                   next_offset=nxt if more and not params.after else None,
                   next_after=cursor if more and items else None)


_KEYED = re.compile(r"(\d{0,9}):(.*)", re.S)
Rows = list[dict[str, Any]]


def keyed_cursor(position: int | None, key: str) -> str:
    """The cursor of the item at ``position`` (None: unknown) whose key is ``key``."""
    return f"{'' if position is None else position}:{key}"


def parse_keyed(after: str) -> tuple[int | None, str]:
    """(position, key) of a keyed cursor; a bare key (a cursor of an older server) has none."""
    m = _KEYED.fullmatch(after)
    if m is None:
        return None, after
    return (int(m[1]) if m[1] else None), m[2]


def keyed_page(fetch: Callable[[str, int, int], Rows], params: PageParams,
               key: str) -> tuple[Rows, str | None]:
    """One page of a list sorted by its ``key`` field, and the cursor of its last row.

    ``fetch(after_key, first, offset)`` reads the list (after the key ``after_key`` when not
    empty, then ``offset`` rows skipped, ``first`` kept). With a positioned cursor the rows are
    read from the cursor's own row on (``offset`` = its position) and kept when that row still
    has the cursor's key; otherwise, or without a position, by the key (a range filter)."""
    position, after = parse_keyed(params.after) if params.after else (None, "")
    if after and position:
        rows = fetch("", params.offset + params.limit + 1, position - 1)
        if rows and rows[0].get(key) == after:
            rows = rows[1 + params.offset:]
            return rows, (keyed_cursor(position + params.offset + len(rows), rows[-1][key])
                          if rows else None)
    rows = fetch(after, params.limit, params.offset)
    start = None if after else params.offset
    return rows, (keyed_cursor(None if start is None else start + len(rows), rows[-1][key])
                  if rows else None)
