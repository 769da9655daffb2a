"""The organizations and organization_members tables and their API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import ForeignKey, String, func, literal_column
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from workflow_builder.api.orm import Base, CreatedAt, UpdatedAt, UuidPk
from workflow_builder.auth.models import Email, User

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=SLUG_PATTERN)]
OrganizationName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
]
MemberRole = Literal["owner", "admin", "member"]


class Organization(Base):
    """A group of users who share components, prompts and workflows."""

    __tablename__ = "organizations"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None]
    created_by: Mapped[UUID]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    # The caller's own role here, read with the row so clients know what they may do.
    my_role: Mapped[str | None] = column_property(
        func.public.organization_role(literal_column("organizations.id"))
    )


class OrganizationMember(Base):
    """A user's membership of an organization, with their role in it."""

    __tablename__ = "organization_members"

    id: Mapped[UuidPk]
    organization_id: Mapped[UUID] = mapped_column(ForeignKey(Organization.id))
    user_id: Mapped[UUID] = mapped_column(ForeignKey(User.id))
    role: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    @property
    def email(self) -> str:
        """The member's email."""
        return self.user.email

    @property
    def display_name(self) -> str | None:
        """The member's display name."""
        return self.user.display_name


class OrganizationCreate(BaseModel):
    """A new organization; its creator becomes its owner."""

    model_config = ConfigDict(extra="forbid")

    name: OrganizationName
    slug: Slug | None = Field(default=None, description="Derived from the name when omitted.")
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class OrganizationUpdate(BaseModel):
    """Changes to an organization (owners and admins)."""

    model_config = ConfigDict(extra="forbid")

    name: OrganizationName | None = None
    slug: Slug | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class OrganizationRead(BaseModel):
    """An organization."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    slug: str
    description: str | None
    created_by: UUID
    created_at: datetime
    updated_at: datetime
    my_role: MemberRole | None = Field(description="The caller's role in the organization.")


class MemberAdd(BaseModel):
    """A user to add, by id or by email."""

    model_config = ConfigDict(extra="forbid")

    user_id: UUID | None = None
    email: Email | None = None
    role: MemberRole = "member"

    @model_validator(mode="after")
    def one_identity(self) -> MemberAdd:
        """Exactly one of user_id and email names the user."""
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id and email")
        return self


class MemberUpdate(BaseModel):
    """A member's new role."""

    model_config = ConfigDict(extra="forbid")

    role: MemberRole


class MemberRead(BaseModel):
    """A member of an organization."""

    model_config = ConfigDict(from_attributes=True)

    user_id: UUID
    email: str
    display_name: str | None
    role: str
    created_at: datetime
