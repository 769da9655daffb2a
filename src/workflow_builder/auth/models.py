"""Identity tables (auth.users, users, user_roles, api_keys, auth_sessions, sign_in_attempts)
and the shapes the API reads and writes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import ForeignKey, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow_builder.api.orm import Base, CreatedAt, UpdatedAt, UuidPk

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=255, pattern=EMAIL_PATTERN),
]
# Long enough to resist guessing; bounded so hashing cannot be used to exhaust the server.
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Permission = Annotated[str, StringConstraints(pattern=r"^[a-z_]+:[a-z_]+$", max_length=100)]


class AuthUser(Base):
    """An account that can sign in (`auth.users`)."""

    __tablename__ = "users"
    __table_args__ = ({"schema": "auth"},)

    id: Mapped[UuidPk]
    email: Mapped[str] = mapped_column(String(255))
    encrypted_password: Mapped[str | None]
    raw_user_meta_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    email_confirmed_at: Mapped[datetime | None]
    last_sign_in_at: Mapped[datetime | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class UserRole(Base):
    """A role and the permissions it grants."""

    __tablename__ = "user_roles"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(50))
    description: Mapped[str | None]
    permissions: Mapped[list[str]] = mapped_column(JSONB, default=list)
    created_at: Mapped[CreatedAt]


class User(Base):
    """The public profile of an account (`public.users`, same id as `auth.users`)."""

    __tablename__ = "users"

    id: Mapped[UuidPk]
    auth_user_id: Mapped[UUID]
    email: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(100))
    role_id: Mapped[UUID] = mapped_column(ForeignKey(UserRole.id))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    last_login_at: Mapped[datetime | None]

    role_row: Mapped[UserRole] = relationship(lazy="joined", innerjoin=True)

    @property
    def role(self) -> str:
        """The name of the user's role."""
        return self.role_row.name

    @property
    def permissions(self) -> list[str]:
        """What the user's role allows."""
        return list(self.role_row.permissions)


class ApiKey(Base):
    """A long-lived credential for scripts; only its hash is stored."""

    __tablename__ = "api_keys"

    id: Mapped[UuidPk]
    user_id: Mapped[UUID] = mapped_column(ForeignKey(User.id))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[CreatedAt]


class AuthSession(Base):
    """One sign-in; its current refresh token is stored hashed."""

    __tablename__ = "auth_sessions"

    id: Mapped[UuidPk]
    user_id: Mapped[UUID] = mapped_column(ForeignKey(User.id))
    refresh_token_hash: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[CreatedAt]
    refreshed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class SignInAttempt(Base):
    """A sign-in attempt, kept to rate-limit guessing."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[UuidPk]
    email: Mapped[str] = mapped_column(String(255))
    ip_address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool]
    attempted_at: Mapped[CreatedAt]


class SignUp(BaseModel):
    """A new account."""

    email: Email
    password: Password
    display_name: DisplayName | None = None


class SignIn(BaseModel):
    """Credentials to sign in with."""

    email: Annotated[str, StringConstraints(max_length=255)]
    password: Annotated[str, StringConstraints(max_length=256)]


class RefreshRequest(BaseModel):
    """A refresh token to exchange (or to revoke, at sign-out)."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class SignOutRequest(BaseModel):
    """Which session to end: the given refresh token's, or else the calling token's."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None


class TokenPair(BaseModel):
    """Tokens issued at sign-in and refresh."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds the access token stays valid.")


class UserRead(BaseModel):
    """A user as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email: str
    display_name: str | None
    role: str
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


class MeRead(UserRead):
    """The calling user, with what they may do."""

    permissions: list[str]


class SignUpResult(BaseModel):
    """The new account and its first tokens."""

    user: MeRead
    tokens: TokenPair


class MeUpdate(BaseModel):
    """Changes a user makes to their own account; a new password needs the current one."""

    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    email: Email | None = None
    password: Password | None = None
    current_password: Annotated[str, StringConstraints(max_length=256)] | None = None


class UserUpdate(BaseModel):
    """Changes an administrator makes to a user."""

    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    role: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None


class RoleRead(BaseModel):
    """A role and its permissions."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    description: str | None
    permissions: list[str]
    created_at: datetime


class RoleCreate(BaseModel):
    """A new role."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=50)]
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    permissions: list[Permission] = Field(default_factory=list, max_length=100)


class RoleUpdate(BaseModel):
    """Changes to a role."""

    model_config = ConfigDict(extra="forbid")

    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    permissions: list[Permission] | None = Field(default=None, max_length=100)


class ApiKeyCreate(BaseModel):
    """A new API key."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    expires_at: datetime | None = Field(default=None, description="Never expires when omitted.")


class ApiKeyRead(BaseModel):
    """An API key without its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    prefix: str
    expires_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyRead):
    """A new API key with its secret, which is shown this once and never again."""

    key: str
