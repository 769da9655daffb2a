"""List endpoints: limit/offset pages with a total, and `sort=-created_at` style ordering."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from workflow_builder.api.errors import invalid

ItemT = TypeVar("ItemT")
MAX_LIMIT = 200
Column = ColumnElement[Any] | QueryableAttribute[Any]


class Page(BaseModel, Generic[ItemT]):
    """One page of a list, with the number of items all pages hold."""

    items: list[ItemT]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    """Which page of a list, and in which order."""

    limit: int
    offset: int
    sort: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")] = 0,
    sort: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Comma-separated fields; a leading '-' sorts descending.",
            examples=["-created_at"],
        ),
    ] = None,
) -> PageParams:
    """Read the paging query parameters."""
    return PageParams(limit=limit, offset=offset, sort=sort)


Paging = Annotated[PageParams, Depends(page_params)]


def order_by(
    sort: str | None, columns: Mapping[str, Column], default: str
) -> list[ColumnElement[Any]]:
    """Return ORDER BY terms for `sort`, answering 422 for a field that cannot be sorted on."""
    terms: list[ColumnElement[Any]] = []
    for raw in (sort or default).split(","):
        name = raw.strip()
        descending = name.startswith("-")
        name = name.lstrip("-+")
        if name not in columns:
            allowed = ", ".join(sorted(columns))
            raise invalid(
                "sort", f"cannot sort on {name!r}; choose from {allowed}", location="query"
            )
        column = columns[name]
        terms.append(column.desc() if descending else column.asc())
    return terms


def paginate(
    session: Session,
    statement: Select[Any],
    params: PageParams,
    *,
    sortable: Mapping[str, Column],
    default_sort: str,
    tiebreaker: Column,
    read: Callable[[Any], ItemT],
) -> Page[ItemT]:
    """Run `statement` for one page (ordered, with a stable tiebreaker) and count all rows."""
    terms = order_by(params.sort, sortable, default_sort)
    total = session.execute(
        select(func.count()).select_from(statement.order_by(None).subquery())
    ).scalar_one()
    rows = session.scalars(
        statement.order_by(*terms, tiebreaker).limit(params.limit).offset(params.offset)
    ).unique()
    return Page[ItemT](
        items=[read(row) for row in rows], total=total, limit=params.limit, offset=params.offset
    )
