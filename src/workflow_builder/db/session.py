"""The two units of work everything else uses: as a user (under RLS) and as the system."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from sqlalchemy.orm import Session

from workflow_builder.db.engine import Database, get_database


@contextmanager
def user_session(user_id: UUID, *, db: Database | None = None) -> Iterator[Session]:
    """Yield a transaction running as `authenticated` for `user_id`; RLS decides what it sees."""
    with (db or get_database()).unit_of_work("authenticated", user_id) as session:
        yield session


@contextmanager
def anon_session(*, db: Database | None = None) -> Iterator[Session]:
    """Yield a transaction running as `anon` (no user): it can read nothing."""
    with (db or get_database()).unit_of_work("anon") as session:
        yield session


@contextmanager
def system_session(*, db: Database | None = None) -> Iterator[Session]:
    """Yield a transaction running as `service_role`, which bypasses RLS (workers, statistics)."""
    with (db or get_database()).unit_of_work("service_role") as session:
        yield session
