"""Secrets: password hashing (argon2), signed tokens (JWT) and API key material."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal
from uuid import UUID, uuid4

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from workflow_builder.config import get_settings

ACCESS_TOKEN_TTL = timedelta(minutes=15)
REFRESH_TOKEN_TTL = timedelta(days=30)
API_KEY_MARKER = "wfb_"
API_KEY_PREFIX_LENGTH = 12
_ALGORITHM = "HS256"
_ISSUER = "workflow-builder"

_hasher = PasswordHasher()
# Verified against when the email is unknown, so an unknown email costs as much time as a
# wrong password and response timing does not reveal which accounts exist.
_DECOY_HASH = _hasher.hash(secrets.token_urlsafe(16))

TokenType = Literal["access", "refresh"]


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    user_id: UUID
    session_id: UUID
    token_type: TokenType
    expires_at: datetime | None = None


def hash_password(password: str) -> str:
    """Return the argon2 hash of `password`."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Return whether `password` matches `password_hash`; always spends the hashing time."""
    try:
        return _hasher.verify(password_hash or _DECOY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether `password_hash` was made with weaker parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def sha256_hex(value: str) -> str:
    """Return the hex SHA-256 of `value` (how refresh tokens and API keys are stored)."""
    return hashlib.sha256(value.encode()).hexdigest()


@cache
def _secret() -> str:
    return get_settings().resolved_secret_key()


def issue_token(*, user_id: UUID, session_id: UUID, token_type: TokenType) -> str:
    """Return a signed token of `token_type` for the session."""
    now = datetime.now(UTC)
    ttl = ACCESS_TOKEN_TTL if token_type == "access" else REFRESH_TOKEN_TTL
    claims: dict[str, Any] = {
        "iss": _ISSUER,
        "sub": str(user_id),
        "sid": str(session_id),
        "typ": token_type,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid4().hex,
    }
    return jwt.encode(claims, _secret(), algorithm=_ALGORITHM)


def read_token(token: str, *, expected: TokenType) -> TokenClaims | None:
    """Return the claims of a valid, unexpired token of the `expected` type, else None."""
    try:
        claims = jwt.decode(
            token,
            _secret(),
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            options={"require": ["exp", "sub", "sid", "typ"]},
        )
        if claims["typ"] != expected:
            return None
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        return TokenClaims(UUID(claims["sub"]), UUID(claims["sid"]), expected, expires_at)
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


def new_api_key() -> str:
    """Return a new high-entropy API key."""
    return API_KEY_MARKER + secrets.token_urlsafe(32)


def is_api_key(credential: str) -> bool:
    """Whether `credential` has the shape of an API key rather than a JWT."""
    return credential.startswith(API_KEY_MARKER)
