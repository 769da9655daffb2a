"""Helpers tests share: creating users and running SQL as a given role."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import text

from workflow_builder.db import Database, system_session

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on an event loop of its own, in a thread of its own: the
    browser tests' synchronous Playwright leaves an event loop running in the main thread."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def unique(prefix: str) -> str:
    """Return `prefix` with a short random suffix, for names that must not collide."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_user(db: Database, *, role: str | None = None, email: str | None = None) -> UUID:
    """Insert an auth user (the trigger makes its public.users row); optionally set its role."""
    email = email or f"{unique('user')}@example.test"
    with system_session(db=db) as session:
        user_id: UUID = session.execute(
            text(
                "insert into auth.users (email, encrypted_password) values (:e, 'x') returning id"
            ),
            {"e": email},
        ).scalar_one()
        if role:
            session.execute(
                text(
                    "update public.users set role_id = (select id from public.user_roles "
                    "where name = :r) where id = :u"
                ),
                {"r": role, "u": user_id},
            )
    return user_id


def scalar(session: Any, sql: str, **params: Any) -> Any:
    """Run `sql` and return its single value."""
    return session.execute(text(sql), params).scalar()
