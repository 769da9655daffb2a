"""Row operations every domain's services repeat, leaving visibility to row-level security.

A row the caller cannot see does not exist for them (404). A row they can see but RLS does
not let them change is a 403: the UPDATE or DELETE matched nothing although the row is there.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import delete, inspect
from sqlalchemy.orm import Session

from workflow_builder.api.errors import forbidden, not_found
from workflow_builder.api.orm import Base

RowT = TypeVar("RowT", bound=Base)


def get_or_404(session: Session, model: type[RowT], row_id: UUID, what: str) -> RowT:
    """Return the row with `row_id` if the caller can see it, else raise 404."""
    row = session.get(model, row_id)
    if row is None:
        raise not_found(what)
    return row


def lock_or_404(session: Session, model: type[RowT], row_id: UUID, what: str) -> RowT:
    """Return the visible row with `row_id`, locked for update until the request ends.

    Row-level security only lets a caller lock rows they may also update, so a row that is
    visible but cannot be locked is a 403.
    """
    # Lock only this table's row: the eagerly joined lookup rows are not the caller's to lock.
    row = session.get(model, row_id, with_for_update={"of": model}, populate_existing=True)
    if row is None:
        get_or_404(session, model, row_id, what)
        raise forbidden(f"You may read this {what.lower()} but not change it")
    return row


def apply_changes(row: Base, changes: dict[str, Any]) -> None:
    """Set each attribute named in `changes` on `row`."""
    for name, value in changes.items():
        setattr(row, name, value)


def save(session: Session, row: RowT) -> RowT:
    """Write pending changes of `row` and read back what the database computed."""
    session.flush()
    session.refresh(row)
    return row


def delete_visible(session: Session, model: type[Base], row_id: UUID, what: str) -> None:
    """Delete the row with `row_id`: 404 if the caller cannot see it, 403 if RLS keeps it."""
    get_or_404(session, model, row_id, what)
    primary_key = inspect(model).primary_key[0]
    deleted = session.execute(
        delete(model).where(primary_key == row_id).returning(primary_key)
    ).first()
    if deleted is None:
        raise forbidden(f"You may read this {what.lower()} but not delete it")
    # The loaded copy (and rows the database deleted with it by cascade) must not be flushed
    # or returned later in this transaction.
    session.expunge_all()
