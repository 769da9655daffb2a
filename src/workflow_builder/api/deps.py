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
import functools
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID
from weakref import WeakKeyDictionary

import anyio
from fastapi import APIRouter, Depends, Response
from fastapi._compat import ModelField
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Uuid, bindparam, or_, select, text, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from workflow_builder.api.errors import ProblemError, forbidden
from workflow_builder.auth.cache import auth_cache
from workflow_builder.auth.models import ApiKey
from workflow_builder.auth.security import is_api_key, read_token, sha256_hex
from workflow_builder.db import Database, get_database, system_session, user_session
from workflow_builder.db.engine import begin_request

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
    """A verified credential: the user, and the sign-in session of a token or the API key."""

    user_id: UUID
    session_id: UUID | None = None
    api_key_id: UUID | None = None


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


def _principal_from_api_key(
    key_hash: str, database: Database
) -> tuple[Principal, datetime | None, bool]:
    """Look the key up (a transaction of its own); return its principal, its expiry and whether
    it may be cached (revocations reach this process)."""
    now = datetime.now(UTC)
    with system_session(db=database) as session:
        row = session.execute(
            select(ApiKey.id, ApiKey.user_id, ApiKey.expires_at).where(
                ApiKey.key_hash == key_hash,
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
    cacheable = auth_cache.listening(database.url)
    return Principal(user_id=row.user_id, api_key_id=row.id), row.expires_at, cacheable


async def _api_key_principal(key: str) -> Principal:
    """Return the principal of an API key: from the cache (auth/cache.py, keyed by the key's
    SHA-256), else looked up in a worker thread."""
    key_hash = sha256_hex(key)
    database = get_database()
    cached: Principal | None = auth_cache.get(("api_key", key_hash))
    if cached is not None:
        return cached
    generation = auth_cache.generation
    principal, expires_at, cacheable = await run_in_threadpool(
        _principal_from_api_key, key_hash, database
    )
    if cacheable:
        auth_cache.put(
            ("api_key", key_hash),
            principal,
            user_id=principal.user_id,
            credential_id=principal.api_key_id,
            generation=generation,
            seconds=(expires_at - datetime.now(UTC)).total_seconds() if expires_at else None,
        )
    return principal


async def get_principal(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """Verify the request's credential (bearer JWT, bearer API key or X-API-Key).

    A JWT is checked on the event loop (it needs no database); an API key is looked up in a
    worker thread, a transaction of its own, unless the cache knows it.
    """
    if api_key:
        return await _api_key_principal(api_key)
    if bearer is None:
        raise unauthorized("Send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'")
    if is_api_key(bearer.credentials):
        return await _api_key_principal(bearer.credentials)
    return _token_principal(bearer.credentials)


def _token_principal(token: str) -> Principal:
    """Return the principal of a valid, unexpired access token: from the cache (keyed by the
    token's SHA-256, never past the token's expiry) once its signature was verified."""
    key = ("token", sha256_hex(token))
    cached: Principal | None = auth_cache.get(key)
    if cached is not None:
        return cached
    generation = auth_cache.generation
    claims = read_token(token, expected="access")
    if claims is None:
        raise unauthorized("The access token is invalid or expired")
    principal = Principal(user_id=claims.user_id, session_id=claims.session_id)
    if claims.expires_at is not None:
        # Only the signature's verdict: whether the session is still live is `caller_of`'s
        # question, asked on every request that uses the caller or the database.
        auth_cache.put(
            key,
            principal,
            user_id=claims.user_id,
            credential_id=claims.session_id,
            generation=generation,
            seconds=(claims.expires_at - datetime.now(UTC)).total_seconds(),
        )
    return principal


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


def _load_caller(principal: Principal, database: Database) -> tuple[CurrentUser, bool]:
    """Read the caller and check their sign-in session, in a transaction of its own as them;
    return it and whether it may be cached (revocations reach this process)."""
    with user_session(principal.user_id, db=database) as session:
        caller = session.execute(
            _CALLER, {"user_id": principal.user_id, "session_id": principal.session_id}
        ).first()
    if caller is None:
        raise unauthorized("The account no longer exists")
    if not caller.live:
        raise unauthorized("The session has ended; sign in again")
    found = CurrentUser(
        id=principal.user_id,
        email=caller.email,
        role=caller.role,
        permissions=frozenset(caller.permissions),
        session_id=principal.session_id,
    )
    return found, auth_cache.listening(database.url)


async def caller_of(principal: Principal, database: Database) -> CurrentUser:
    """Return the caller `principal` stands for: from the cache (auth/cache.py), else read in a
    worker thread. A deleted account or an ended sign-in session is a 401."""
    key = ("caller", principal.user_id, principal.session_id)
    cached: CurrentUser | None = auth_cache.get(key)
    if cached is not None:
        return cached
    generation = auth_cache.generation
    caller, cacheable = await run_in_threadpool(_load_caller, principal, database)
    if cacheable:
        auth_cache.put(
            key,
            caller,
            user_id=principal.user_id,
            credential_id=principal.session_id,
            generation=generation,
        )
    return caller


# Requests that hold a transaction, per event loop and database (see `RequestGate`).
_gates: WeakKeyDictionary[asyncio.AbstractEventLoop, WeakKeyDictionary[Database, RequestGate]] = (
    WeakKeyDictionary()
)


class RequestGate:
    """Bounds how many requests of one process hold a transaction at the same time.

    A request's transaction normally lives within the one worker thread that runs its route
    (`one_hop`), but a route on the event loop or a sync dependency can hold it across several
    threads, and between those steps the request waits for a free thread while it keeps its
    pooled connection. Without a bound, a burst of such requests can take every thread while
    waiting for a connection that the requests holding the connections cannot give back,
    because they are waiting for a thread: the process stalls until the pool's timeout. The
    gate is awaited on the event loop, before a connection is taken, and admits fewer requests
    than the pool has connections, so the rest of the pool stays free for the work that takes
    and gives back its connection within one thread (API-key lookups, sign-in, webhooks).
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


def _finish(session: Session, commit: bool) -> None:
    """End the session's transaction (commit or roll back) and close it."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_session(
    principal: Annotated[Principal, Depends(get_principal)],
) -> AsyncIterator[Session]:
    """Yield the request's transaction, running under RLS as the calling user.

    It first checks the caller: a deleted account or an ended sign-in session is a 401. The
    transaction begins at its first statement (for a `def` route, in the thread that runs the
    route: `one_hop`), commits when the route returns and rolls back when it raises, before the
    response is sent.
    """
    database = get_database()
    await caller_of(principal, database)
    async with RequestGate.of(database):
        session = database.request_session("authenticated", principal.user_id)
        failure: BaseException | None = None
        try:
            yield session
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if not session.in_transaction():
                session.close()  # ended by `one_hop` in the route's thread: nothing to send
            else:
                # Shielded, so that a request cancelled mid-way (its client gone) still ends
                # its transaction and gives its connection back before leaving the gate.
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(_finish, session, failure is None)


DbSession = Annotated[Session, Depends(get_session, scope="function")]


async def get_current_user(principal: Annotated[Principal, Depends(get_principal)]) -> CurrentUser:
    """Return the calling user (cached for a few seconds: auth/cache.py)."""
    return await caller_of(principal, get_database())


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


# -- one hand-off to a worker thread per request ---------------------------------------------


def _validated(field: ModelField | None, result: Any) -> Any:
    """Return `result` validated against the route's response model (FastAPI validates it
    again on the event loop, which is cheap for the model instances this returns)."""
    if field is None or isinstance(result, Response):
        return result
    value, errors = field.validate(result, {}, loc=("response",))
    return result if errors else value


def _run_route(
    endpoint: Callable[..., Any], field: ModelField | None, values: dict[str, Any]
) -> Any:
    """Run a `def` route, in a worker thread: begin the request's transaction, run the route,
    validate its answer (which may still read lazily loaded rows) and commit; roll back if any
    of it raises."""
    session = next(
        (v for v in values.values() if isinstance(v, Session) and "claims" in v.info), None
    )
    if session is None:
        return _validated(field, endpoint(**values))
    try:
        begin_request(session)
        result = _validated(field, endpoint(**values))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


def one_hop(router: APIRouter) -> APIRouter:
    """Make each `def` route of `router` take one hand-off to a worker thread per request.

    FastAPI runs a `def` route in a worker thread and then validates its answer in another;
    the request's transaction used to take a third to open and a fourth to commit. Each
    hand-off waits for a free thread and for the event loop to notice it is done, which under
    load cost more than the work. Wrapped, the route runs as a coroutine that hands the whole
    of it (begin, route, validation, commit) to one thread. Call before `include_router`.
    """
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        endpoint = route.endpoint
        if getattr(endpoint, "_one_hop", False) or inspect.iscoroutinefunction(endpoint):
            continue
        route.endpoint = _wrap(endpoint, route.response_field)
    return router


def _wrap(endpoint: Callable[..., Any], field: ModelField | None) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    async def hop(**values: Any) -> Any:
        return await run_in_threadpool(_run_route, endpoint, field, values)

    hop._one_hop = True  # type: ignore[attr-defined]
    return hop
