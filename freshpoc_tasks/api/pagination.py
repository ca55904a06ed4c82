"""Pagination shared by every list route: a cursor (``after``) and, for short jumps, an offset.

Lists are ordered by a stable key (path, xid, rank). A page's ``next_after`` is the key of its
last item: sending it back as ``after`` makes Dgraph start the next page there (``gt(key,
$after)`` over an indexed range, or the next stored page of a ranked list), so walking a long
list costs each page its own size instead of re-skipping everything before it. ``offset`` is
kept for compatibility and small jumps; it applies after the cursor.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

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
