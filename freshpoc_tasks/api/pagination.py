"""Offset pagination shared by every list route.

Offsets (not cursors) because every list is ordered by a stable key in Dgraph (path, xid, key)
and Dgraph pages with ``first``/``offset`` natively; the bounds keep a single request cheap.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")
MAX_LIMIT = 500
MAX_OFFSET = 100_000


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None = None

    @classmethod
    def of(cls, items: list[T], total: int, params: PageParams) -> Page[T]:
        nxt = params.offset + params.limit
        return cls(items=items, total=total, limit=params.limit, offset=params.offset,
                   next_offset=nxt if nxt < total else None)
