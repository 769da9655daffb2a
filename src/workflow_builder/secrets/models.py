"""The project_secrets table and its API shapes (which never include a value)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID

from workflow_builder.secrets.references import SECRET_NAME_PATTERN

SecretKind = Literal["secret", "connection"]
SecretName = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=SECRET_NAME_PATTERN)
]
MAX_SECRET_LENGTH = 65_536

# A Core table, not an ORM class: the ORM reads back every mapped column after a write, and
# `authenticated` may not read `encrypted_value` (see migration 0007).
project_secrets = Table(
    "project_secrets",
    MetaData(),
    Column("id", PgUUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("project_id", PgUUID(as_uuid=True), ForeignKey("projects.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("encrypted_value", LargeBinary, nullable=False),
    Column("created_by", PgUUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), server_default=func.now()),
)


class SecretWrite(BaseModel):
    """A secret's new value: a string for a secret, an object of settings for a connection.

    A connection's settings may themselves refer to secrets with {"$secret": "NAME"}.
    """

    model_config = ConfigDict(extra="forbid")

    kind: SecretKind = "secret"
    value: (
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_SECRET_LENGTH)]
        | dict[str, Any]
    ) = Field(description="Write-only: never returned by the API.")

    @model_validator(mode="after")
    def _value_matches_kind(self) -> Self:
        if self.kind == "secret" and not isinstance(self.value, str):
            raise ValueError("a secret's value must be a string")
        if self.kind == "connection" and not isinstance(self.value, dict):
            raise ValueError("a connection's value must be an object of settings")
        return self


class SecretRead(BaseModel):
    """A secret as the API shows it: its name and kind, never its value."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    kind: SecretKind
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime
