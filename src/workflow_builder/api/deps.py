"""The auth dependency: who is calling, and the unit of work their request runs in.

Routers use three names from here:

- `DbSession`: the request's transaction, running as the Postgres role `authenticated` with
  `auth.uid()` = the caller, so row-level security decides what every query sees. It commits
  when the route returns and rolls back when it raises, before the response is sent.
- `Caller`: the signed-in user (`CurrentUser`: id, email, role, permissions).
- `require("workflows:write")`: a dependency answering 403 when the caller's role lacks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from workflow_builder.api.errors import ProblemError, forbidden
from workflow_builder.auth.models import ApiKey, AuthSession, User
from workflow_builder.auth.security import is_api_key, read_token, sha256_hex
from workflow_builder.db import system_session, user_session

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


def get_principal(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """Verify the request's credential (bearer JWT, bearer API key or X-API-Key)."""
    if api_key:
        return _principal_from_api_key(api_key)
    if bearer is None:
        raise unauthorized("Send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'")
    if is_api_key(bearer.credentials):
        return _principal_from_api_key(bearer.credentials)
    claims = read_token(bearer.credentials, expected="access")
    if claims is None:
        raise unauthorized("The access token is invalid or expired")
    return Principal(user_id=claims.user_id, session_id=claims.session_id)


def get_optional_principal(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal | None:
    """Verify the request's credential if it sends one (routes that also work without)."""
    if bearer is None and not api_key:
        return None
    return get_principal(bearer, api_key)


OptionalPrincipal = Annotated[Principal | None, Depends(get_optional_principal)]


def get_session(principal: Annotated[Principal, Depends(get_principal)]) -> Iterator[Session]:
    """Yield the request's transaction, running under RLS as the calling user."""
    with user_session(principal.user_id) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]


def get_current_user(
    session: DbSession, principal: Annotated[Principal, Depends(get_principal)]
) -> CurrentUser:
    """Return the calling user, refusing tokens of ended sessions and deleted users."""
    user = session.get(User, principal.user_id)
    if user is None:
        raise unauthorized("The account no longer exists")
    if principal.session_id is not None:
        live = session.execute(
            select(AuthSession.id).where(
                AuthSession.id == principal.session_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > datetime.now(UTC),
            )
        ).first()
        if live is None:
            raise unauthorized("The session has ended; sign in again")
    return CurrentUser(
        id=user.id,
        email=user.email,
        role=user.role,
        permissions=frozenset(user.permissions),
        session_id=principal.session_id,
    )


Caller = Annotated[CurrentUser, Depends(get_current_user)]


def require(permission: str) -> Any:
    """Return a dependency that answers 403 unless the caller's role grants `permission`."""

    def check(user: Caller) -> CurrentUser:
        if not user.can(permission):
            raise forbidden(
                f"Your role '{user.role}' lacks the permission '{permission}'",
                permission=permission,
            )
        return user

    check.__name__ = f"require_{permission.replace(':', '_')}"
    return Depends(check)
