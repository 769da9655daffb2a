"""The auth dependency: who is calling, and the unit of work their request runs in.

Routers use three names from here:

- `DbSession`: the request's transaction, running as the Postgres role `authenticated` with
  `auth.uid()` = the caller, so row-level security decides what every query sees. It commits
  when the route returns and rolls back when it raises, before the response is sent.
- `Caller`: the signed-in user (`CurrentUser`: id, email, role, permissions).
- `require("workflows:write")`: a dependency answering 403 when the caller's role lacks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID
from weakref import WeakKeyDictionary

import anyio
from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Uuid, bindparam, or_, select, text, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from workflow_builder.api.errors import ProblemError, forbidden
from workflow_builder.auth.models import ApiKey
from workflow_builder.auth.security import is_api_key, read_token, sha256_hex
from workflow_builder.db import Database, get_database, system_session, user_session

# last_used_at is advisory; writing it at most once a minute spares most API-key calls a write.
_LAST_USED_RESOLUTION = timedelta(minutes=1)

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An access token from /api/v1/auth/signin, or an API key.",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key from /api/v1/api-keys."
)


@dataclass(frozen=True)
class Principal:
    """A verified credential: the user, and the sign-in session of a token (an API key has none)."""

    user_id: UUID
    session_id: UUID | None = None


@dataclass(frozen=True)
class CurrentUser:
    """The calling user and what their role allows."""

    id: UUID
    email: str
    role: str
    permissions: frozenset[str]
    session_id: UUID | None

    def can(self, permission: str) -> bool:
        """Whether the user's role grants `permission`."""
        return permission in self.permissions


def unauthorized(detail: str) -> ProblemError:
    """Return the 401 problem asking for credentials."""
    return ProblemError(
        401, "unauthorized", "Not signed in", detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _principal_from_api_key(key: str) -> Principal:
    now = datetime.now(UTC)
    with system_session() as session:
        row = session.execute(
            select(ApiKey.id, ApiKey.user_id).where(
                ApiKey.key_hash == sha256_hex(key),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
            )
        ).first()
        if row is None:
            raise unauthorized("The API key is unknown, revoked or expired")
        session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == row.id,
                or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at < now - _LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=now)
        )
    return Principal(user_id=row.user_id)


async def get_principal(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """Verify the request's credential (bearer JWT, bearer API key or X-API-Key).

    A JWT is checked on the event loop (it needs no database); an API key is looked up in a
    worker thread, a transaction of its own.
    """
    if api_key:
        return await run_in_threadpool(_principal_from_api_key, api_key)
    if bearer is None:
        raise unauthorized("Send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'")
    if is_api_key(bearer.credentials):
        return await run_in_threadpool(_principal_from_api_key, bearer.credentials)
    claims = read_token(bearer.credentials, expected="access")
    if claims is None:
        raise unauthorized("The access token is invalid or expired")
    return Principal(user_id=claims.user_id, session_id=claims.session_id)


async def get_optional_principal(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal | None:
    """Verify the request's credential if it sends one (routes that also work without)."""
    if bearer is None and not api_key:
        return None
    return await get_principal(bearer, api_key)


OptionalPrincipal = Annotated[Principal | None, Depends(get_optional_principal)]


# The caller, their role, and whether the token's sign-in session is still live, in one query.
_CALLER = text(
    """select u.email, r.name as role, r.permissions,
      cast(:session_id as uuid) is null or exists (
        select 1 from auth_sessions s where s.id = cast(:session_id as uuid)
          and s.revoked_at is null and s.expires_at > now()) as live
    from users u join user_roles r on r.id = u.role_id where u.id = :user_id"""
).bindparams(bindparam("session_id", type_=Uuid()), bindparam("user_id", type_=Uuid()))

# Requests that hold a transaction, per event loop and database (see `RequestGate`).
_gates: WeakKeyDictionary[asyncio.AbstractEventLoop, WeakKeyDictionary[Database, RequestGate]] = (
    WeakKeyDictionary()
)


class RequestGate:
    """Bounds how many requests of one process hold a transaction at the same time.

    A request's transaction outlives any one worker thread: it opens in one, the route runs in
    another, and it commits in a third, and between those steps the request waits for a free
    thread while it keeps its pooled connection. Without a bound, a burst of requests can take
    every thread while waiting for a connection that the requests holding the connections
    cannot give back, because they are waiting for a thread: the process stalls until the
    pool's timeout. The gate is awaited on the event loop, before a connection is taken, and
    admits fewer requests than the pool has connections, so the rest of the pool stays free for
    the work that takes and gives back its connection within one thread (API-key lookups,
    sign-in, webhooks).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = asyncio.Semaphore(size)

    @classmethod
    def of(cls, database: Database) -> RequestGate:
        """Return this event loop's gate for `database`."""
        gates = _gates.setdefault(asyncio.get_running_loop(), WeakKeyDictionary())
        gate = gates.get(database)
        if gate is None:
            capacity = database.pool_capacity
            gate = gates[database] = cls(max(1, capacity - capacity // 3))
        return gate

    async def __aenter__(self) -> None:
        await self._slots.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()


def _open(
    principal: Principal, database: Database
) -> tuple[AbstractContextManager[Session], Session]:
    """Open the request's transaction and check its caller, in one worker thread."""
    scope = user_session(principal.user_id, db=database)
    session = scope.__enter__()
    try:
        caller = session.execute(
            _CALLER, {"user_id": principal.user_id, "session_id": principal.session_id}
        ).first()
        if caller is None:
            raise unauthorized("The account no longer exists")
        if not caller.live:
            raise unauthorized("The session has ended; sign in again")
        session.info["caller"] = CurrentUser(
            id=principal.user_id,
            email=caller.email,
            role=caller.role,
            permissions=frozenset(caller.permissions),
            session_id=principal.session_id,
        )
    except BaseException as exc:
        scope.__exit__(type(exc), exc, exc.__traceback__)
        raise
    return scope, session


async def get_session(
    principal: Annotated[Principal, Depends(get_principal)],
) -> AsyncIterator[Session]:
    """Yield the request's transaction, running under RLS as the calling user.

    Opening it also checks the caller: a deleted account or an ended sign-in session is a 401.
    The transaction commits when the route returns and rolls back when it raises.
    """
    database = get_database()
    async with RequestGate.of(database):
        scope, session = await run_in_threadpool(_open, principal, database)
        failure: BaseException | None = None
        try:
            yield session
        except BaseException as exc:
            failure = exc
            raise
        finally:
            # Shielded, so that a request cancelled mid-way (its client gone) still ends its
            # transaction and gives its connection back before leaving the gate.
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(
                    scope.__exit__,
                    type(failure) if failure else None,
                    failure,
                    failure.__traceback__ if failure else None,
                )


DbSession = Annotated[Session, Depends(get_session, scope="function")]


async def get_current_user(session: DbSession) -> CurrentUser:
    """Return the calling user, as checked when the request's transaction opened."""
    caller: CurrentUser = session.info["caller"]
    return caller


Caller = Annotated[CurrentUser, Depends(get_current_user)]


def require(permission: str) -> Any:
    """Return a dependency that answers 403 unless the caller's role grants `permission`."""

    async def check(user: Caller) -> CurrentUser:
        if not user.can(permission):
            raise forbidden(
                f"Your role '{user.role}' lacks the permission '{permission}'",
                permission=permission,
            )
        return user

    check.__name__ = f"require_{permission.replace(':', '_')}"
    return Depends(check)
