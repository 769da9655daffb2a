"""Component registry tables (components, agent_prompts, and the component_types,
component_visibility and workflow_statuses lookups) and their API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import ForeignKey, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow_builder.api.orm import Base, CreatedAt, UpdatedAt, UuidPk

Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.@/-]+$"
    ),
]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Description = Annotated[str, StringConstraints(max_length=10_000)]
Version = Annotated[
    str,
    StringConstraints(
        max_length=50, pattern=r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$"
    ),
]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Tags = Annotated[list[Tag], Field(max_length=50)]
VisibilityName = Literal["public", "private", "organization"]
TagMatch = Literal["any", "all"]


class ComponentType(Base):
    """A kind of component: activity, agent, signal, trigger."""

    __tablename__ = "component_types"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(50))
    description: Mapped[str | None]
    icon: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[CreatedAt]


class ComponentVisibility(Base):
    """Who may read a row: public, private (its owner) or organization (its members)."""

    __tablename__ = "component_visibility"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(50))
    description: Mapped[str | None]


class WorkflowStatus(Base):
    """A workflow's lifecycle state: draft, active, paused, archived."""

    __tablename__ = "workflow_statuses"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(50))
    description: Mapped[str | None]
    color: Mapped[str] = mapped_column(String(7))


class AgentPrompt(Base):
    """A versioned prompt template for agent components."""

    __tablename__ = "agent_prompts"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None]
    version: Mapped[str] = mapped_column(String(50))
    prompt_content: Mapped[str]
    prompt_variables: Mapped[dict[str, Any]]
    created_by: Mapped[UUID | None]
    visibility_id: Mapped[UUID] = mapped_column(ForeignKey(ComponentVisibility.id))
    organization_id: Mapped[UUID | None]
    capabilities: Mapped[list[str]]
    tags: Mapped[list[str]]
    recommended_models: Mapped[list[Any]] = mapped_column(JSONB)
    deprecated: Mapped[bool]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    visibility_row: Mapped[ComponentVisibility] = relationship(lazy="joined", innerjoin=True)

    @property
    def visibility(self) -> str:
        """The visibility's name."""
        return self.visibility_row.name


class Component(Base):
    """A reusable building block for workflows."""

    __tablename__ = "components"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None]
    component_type_id: Mapped[UUID] = mapped_column(ForeignKey(ComponentType.id))
    version: Mapped[str] = mapped_column(String(50))
    created_by: Mapped[UUID | None]
    visibility_id: Mapped[UUID] = mapped_column(ForeignKey(ComponentVisibility.id))
    organization_id: Mapped[UUID | None]
    config_schema: Mapped[dict[str, Any]]
    input_schema: Mapped[dict[str, Any] | None]
    output_schema: Mapped[dict[str, Any] | None]
    tags: Mapped[list[str]]
    capabilities: Mapped[list[str]]
    agent_prompt_id: Mapped[UUID | None] = mapped_column(ForeignKey(AgentPrompt.id))
    model_provider: Mapped[str | None] = mapped_column(String(50))
    model_name: Mapped[str | None] = mapped_column(String(100))
    implementation_path: Mapped[str | None] = mapped_column(String(500))
    package: Mapped[str | None] = mapped_column(String(255))
    deprecated: Mapped[bool]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    type_row: Mapped[ComponentType] = relationship(lazy="joined", innerjoin=True)
    visibility_row: Mapped[ComponentVisibility] = relationship(lazy="joined", innerjoin=True)

    @property
    def type(self) -> str:
        """The component type's name."""
        return self.type_row.name

    @property
    def visibility(self) -> str:
        """The visibility's name."""
        return self.visibility_row.name


class LookupRead(BaseModel):
    """A row of a lookup table."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    description: str | None


class ComponentTypeRead(LookupRead):
    """A component type."""

    icon: str | None


class WorkflowStatusRead(LookupRead):
    """A workflow status."""

    color: str


class Shared(BaseModel):
    """Who may read a row, as a client sets it."""

    visibility: VisibilityName = "private"
    organization_id: UUID | None = Field(
        default=None, description="Required for, and only allowed with, 'organization'."
    )


class ComponentFields(BaseModel):
    """Component fields every write shape shares."""

    display_name: DisplayName | None = None
    description: Description | None = None
    config_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema (Draft 2020-12) of the node configuration."
    )
    input_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema (Draft 2020-12) of the input."
    )
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema (Draft 2020-12) of the output."
    )
    tags: Tags | None = None
    capabilities: Tags | None = None
    agent_prompt_id: UUID | None = None
    model_provider: Annotated[str, StringConstraints(max_length=50)] | None = None
    model_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    implementation_path: Annotated[str, StringConstraints(max_length=500)] | None = None
    package: Annotated[str, StringConstraints(max_length=255)] | None = Field(
        default=None, description="A pip requirement that provides the implementation."
    )
    deprecated: bool | None = None


class ComponentCreate(ComponentFields, Shared):
    """A new component."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    type: Annotated[str, StringConstraints(min_length=1, max_length=50)] = Field(
        description="A component type name: activity, agent, signal or trigger."
    )
    version: Version = "1.0.0"


class ComponentUpdate(ComponentFields):
    """Changes to a component."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    version: Version | None = None
    visibility: VisibilityName | None = None
    organization_id: UUID | None = None


class ComponentRead(BaseModel):
    """A component as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    display_name: str
    description: str | None
    type: str
    version: str
    visibility: str
    organization_id: UUID | None
    created_by: UUID | None
    config_schema: dict[str, Any]
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    tags: list[str]
    capabilities: list[str]
    agent_prompt_id: UUID | None
    model_provider: str | None
    model_name: str | None
    implementation_path: str | None
    package: str | None
    deprecated: bool
    created_at: datetime
    updated_at: datetime


class AgentPromptFields(BaseModel):
    """Agent prompt fields every write shape shares."""

    display_name: DisplayName | None = None
    description: Description | None = None
    prompt_content: Annotated[str, StringConstraints(min_length=1, max_length=100_000)] | None = (
        Field(default=None, description="A Jinja template; variables as {{ name }}.")
    )
    prompt_variables: dict[str, Any] | None = Field(
        default=None,
        description="A JSON Schema (Draft 2020-12) object whose properties are the variables.",
    )
    capabilities: Tags | None = None
    tags: Tags | None = None
    recommended_models: list[Any] | None = Field(default=None, max_length=50)
    deprecated: bool | None = None


class AgentPromptCreate(AgentPromptFields, Shared):
    """A new agent prompt."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    version: Version = "1.0.0"
    prompt_content: Annotated[str, StringConstraints(min_length=1, max_length=100_000)] = Field(
        description="A Jinja template; variables as {{ name }}."
    )


class AgentPromptUpdate(AgentPromptFields):
    """Changes to an agent prompt."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    version: Version | None = None
    visibility: VisibilityName | None = None
    organization_id: UUID | None = None


class AgentPromptRead(BaseModel):
    """An agent prompt as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    display_name: str
    description: str | None
    version: str
    prompt_content: str
    prompt_variables: dict[str, Any]
    visibility: str
    organization_id: UUID | None
    created_by: UUID | None
    capabilities: list[str]
    tags: list[str]
    recommended_models: list[Any]
    deprecated: bool
    created_at: datetime
    updated_at: datetime


class RenderRequest(BaseModel):
    """Values for a prompt's variables."""

    model_config = ConfigDict(extra="forbid")

    variables: dict[str, Any] = Field(default_factory=dict)


class RenderResult(BaseModel):
    """A rendered prompt."""

    content: str
