"""The projects and task_queues tables and their API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from workflow_builder.api.orm import Base, CreatedAt, UpdatedAt, UuidPk, db_default

QueueName = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")
]
ProjectName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Description = Annotated[str, StringConstraints(max_length=10_000)]
Concurrency = Annotated[int, Field(ge=1, le=1_000_000)]


class TaskQueue(Base):
    """A queue workers take work from, with its concurrency limits."""

    __tablename__ = "task_queues"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None]
    display_name: Mapped[str | None] = mapped_column(String(255))
    max_concurrent_workflows: Mapped[int]
    max_concurrent_activities: Mapped[int]
    created_by: Mapped[UUID | None]
    is_system_queue: Mapped[bool]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class Project(Base):
    """A user's project: groups workflows and owns a task queue."""

    __tablename__ = "projects"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None]
    created_by: Mapped[UUID]
    # Set by a trigger on insert: "<user id>-<project id>".
    task_queue_name: Mapped[str] = db_default(String(255))
    is_active: Mapped[bool]
    total_workflow_executions: Mapped[int] = db_default()
    total_activity_executions: Mapped[int] = db_default()
    avg_execution_duration_ms: Mapped[int] = db_default()
    last_execution_at: Mapped[datetime | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class TaskQueueCreate(BaseModel):
    """A new task queue; system queues need the task_queues:system permission."""

    model_config = ConfigDict(extra="forbid")

    name: QueueName
    display_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    description: Description | None = None
    max_concurrent_workflows: Concurrency = 100
    max_concurrent_activities: Concurrency = 1000
    is_system_queue: bool = False


class TaskQueueUpdate(BaseModel):
    """Changes to a task queue (its name is fixed: workers and projects refer to it)."""

    model_config = ConfigDict(extra="forbid")

    display_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    description: Description | None = None
    max_concurrent_workflows: Concurrency | None = None
    max_concurrent_activities: Concurrency | None = None


class TaskQueueRead(BaseModel):
    """A task queue as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    display_name: str | None
    description: str | None
    max_concurrent_workflows: int
    max_concurrent_activities: int
    created_by: UUID | None
    is_system_queue: bool
    created_at: datetime
    updated_at: datetime


class ProjectCreate(BaseModel):
    """A new project; its task queue is created with it."""

    model_config = ConfigDict(extra="forbid")

    name: ProjectName
    description: Description | None = None
    is_active: bool = True


class ProjectUpdate(BaseModel):
    """Changes to a project."""

    model_config = ConfigDict(extra="forbid")

    name: ProjectName | None = None
    description: Description | None = None
    is_active: bool | None = None


class ProjectRead(BaseModel):
    """A project with its execution statistics."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    description: str | None
    created_by: UUID
    task_queue_name: str
    is_active: bool
    total_workflow_executions: int
    total_activity_executions: int
    avg_execution_duration_ms: int
    last_execution_at: datetime | None
    created_at: datetime
    updated_at: datetime
