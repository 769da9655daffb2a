"""Workflow tables (workflows, workflow_nodes, workflow_edges and the advanced-pattern tables)
and their API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow_builder.api.orm import Base, CreatedAt, UpdatedAt, UuidPk, db_default
from workflow_builder.components.models import (
    ComponentVisibility,
    Description,
    DisplayName,
    Name,
    Shared,
    Version,
    VisibilityName,
    WorkflowStatus,
)
from workflow_builder.projects.models import TaskQueue

KEBAB_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
KebabName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=KEBAB_PATTERN)]
# Signal, query and queue names become handler names in the runtime.
HANDLER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
HandlerName = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=HANDLER_PATTERN)
]
# Room for the generated "<queue>_add" signal and "<queue>_items" query names.
QueueName = Annotated[str, StringConstraints(min_length=1, max_length=94, pattern=HANDLER_PATTERN)]
StatusName = Literal["draft", "active", "paused", "archived"]
Bump = Literal["major", "minor", "patch"]
ParentClosePolicy = Literal["terminate", "abandon", "request_cancel"]
QueuePriority = Literal["fifo", "lifo", "priority"]
JsonSchema = Annotated[dict[str, Any], Field(description="A JSON Schema (Draft 2020-12).")]


class Workflow(Base):
    """A workflow definition."""

    __tablename__ = "workflows"

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None]
    kebab_name: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[UUID]
    visibility_id: Mapped[UUID] = mapped_column(ForeignKey(ComponentVisibility.id))
    organization_id: Mapped[UUID | None]
    status_id: Mapped[UUID] = mapped_column(ForeignKey(WorkflowStatus.id))
    project_id: Mapped[UUID | None]
    task_queue_id: Mapped[UUID] = mapped_column(ForeignKey(TaskQueue.id))
    version: Mapped[str] = db_default(String(50))
    definition: Mapped[dict[str, Any]]
    engine_workflow_id: Mapped[str | None] = mapped_column(String(255))
    engine_workflow_type: Mapped[str | None] = mapped_column(String(255))
    max_concurrent_executions: Mapped[int] = db_default()
    execution_timeout_seconds: Mapped[int] = db_default()
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    deployed_at: Mapped[datetime | None]

    status_row: Mapped[WorkflowStatus] = relationship(lazy="joined", innerjoin=True)
    visibility_row: Mapped[ComponentVisibility] = relationship(lazy="joined", innerjoin=True)
    task_queue: Mapped[TaskQueue] = relationship(lazy="joined", innerjoin=True)

    @property
    def status(self) -> str:
        """The status's name."""
        return self.status_row.name

    @property
    def visibility(self) -> str:
        """The visibility's name."""
        return self.visibility_row.name

    @property
    def task_queue_name(self) -> str:
        """The name of the task queue the workflow runs on."""
        return self.task_queue.name

    @property
    def etag(self) -> str:
        """The entity tag of the current state, for If-Match on saves."""
        return f'"{int(self.updated_at.timestamp() * 1_000_000)}"'


class WorkflowNode(Base):
    """A node of a workflow's definition, kept in sync with it."""

    __tablename__ = "workflow_nodes"

    id: Mapped[UuidPk]
    workflow_id: Mapped[UUID] = mapped_column(ForeignKey(Workflow.id))
    node_id: Mapped[str] = mapped_column(String(255))
    node_type: Mapped[str] = mapped_column(String(50))
    component_id: Mapped[UUID | None]
    config: Mapped[dict[str, Any]]
    position: Mapped[dict[str, Any] | None]
    created_at: Mapped[CreatedAt]


class WorkflowEdge(Base):
    """An edge of a workflow's definition, kept in sync with it."""

    __tablename__ = "workflow_edges"

    id: Mapped[UuidPk]
    workflow_id: Mapped[UUID] = mapped_column(ForeignKey(Workflow.id))
    edge_id: Mapped[str] = mapped_column(String(255))
    source_node_id: Mapped[str] = mapped_column(String(255))
    target_node_id: Mapped[str] = mapped_column(String(255))
    label: Mapped[str | None] = mapped_column(String(255))
    config: Mapped[dict[str, Any]]
    created_at: Mapped[CreatedAt]


class WorkQueue(Base):
    """A queue of work items a running workflow collects and drains."""

    __tablename__ = "workflow_work_queues"

    id: Mapped[UuidPk]
    workflow_id: Mapped[UUID] = mapped_column(ForeignKey(Workflow.id))
    queue_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None]
    signal_name: Mapped[str] = mapped_column(String(100))
    query_name: Mapped[str] = mapped_column(String(100))
    max_size: Mapped[int | None]
    priority: Mapped[str] = mapped_column(String(20))
    deduplicate: Mapped[bool]
    work_item_schema: Mapped[dict[str, Any] | None]
    created_by: Mapped[UUID]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class Signal(Base):
    """A message a running workflow accepts."""

    __tablename__ = "workflow_signals"

    id: Mapped[UuidPk]
    workflow_id: Mapped[UUID] = mapped_column(ForeignKey(Workflow.id))
    signal_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None]
    parameters: Mapped[dict[str, Any]]
    auto_generated: Mapped[bool]
    work_queue_id: Mapped[UUID | None] = mapped_column(ForeignKey(WorkQueue.id))
    created_by: Mapped[UUID]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class Query(Base):
    """A read-only question a running workflow answers about its state."""

    __tablename__ = "workflow_queries"

    id: Mapped[UuidPk]
    workflow_id: Mapped[UUID] = mapped_column(ForeignKey(Workflow.id))
    query_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None]
    return_type: Mapped[dict[str, Any]]
    auto_generated: Mapped[bool]
    work_queue_id: Mapped[UUID | None] = mapped_column(ForeignKey(WorkQueue.id))
    created_by: Mapped[UUID]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class Schedule(Base):
    """A cron schedule that starts the workflow."""

    __tablename__ = "workflow_scheduled_workflows"

    id: Mapped[UuidPk]
    workflow_id: Mapped[UUID] = mapped_column(ForeignKey(Workflow.id))
    cron_expression: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(50))
    start_immediately: Mapped[bool]
    max_runs: Mapped[int | None]
    work_queue_id: Mapped[UUID | None] = mapped_column(ForeignKey(WorkQueue.id))
    created_by: Mapped[UUID]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class ChildWorkflow(Base):
    """A workflow this workflow starts as a child."""

    __tablename__ = "workflow_child_workflows"

    id: Mapped[UuidPk]
    parent_workflow_id: Mapped[UUID] = mapped_column(ForeignKey(Workflow.id))
    child_workflow_id: Mapped[UUID | None]
    child_workflow_name: Mapped[str] = mapped_column(String(255))
    parent_close_policy: Mapped[str] = mapped_column(String(50))
    can_signal_parent: Mapped[bool]
    can_query_parent: Mapped[bool]
    block_until: Mapped[dict[str, Any] | None]
    created_by: Mapped[UUID]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


Timeout = Annotated[int, Field(ge=1, le=366 * 24 * 3600)]
Concurrency = Annotated[int, Field(ge=1, le=1_000_000)]


class WorkflowFields(BaseModel):
    """Workflow fields every write shape shares."""

    display_name: DisplayName | None = None
    description: Description | None = None
    project_id: UUID | None = None
    task_queue_id: UUID | None = Field(
        default=None, description="Defaults to the project's queue, else the 'default' queue."
    )
    max_concurrent_executions: Concurrency | None = None
    execution_timeout_seconds: Timeout | None = None


class WorkflowCreate(WorkflowFields, Shared):
    """A new workflow (status draft)."""

    model_config = ConfigDict(extra="forbid")

    kebab_name: KebabName = Field(description="Immutable; unique across the installation.")
    name: Name | None = Field(default=None, description="Defaults to the kebab name.")
    version: Version = "1.0.0"
    definition: dict[str, Any] = Field(
        default_factory=lambda: {"nodes": [], "edges": []},
        description='{"nodes": [...], "edges": [...]}; nodes and edges are kept in sync.',
    )


class WorkflowUpdate(WorkflowFields):
    """Changes to a workflow. Send If-Match with the ETag to refuse overwriting newer saves."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    kebab_name: KebabName | None = Field(
        default=None, description="Immutable: only its current value is accepted."
    )
    definition: dict[str, Any] | None = None
    status: StatusName | None = Field(
        default=None,
        description="draft→active|archived, active→paused|archived, "
        "paused→active|archived, archived→draft.",
    )
    visibility: VisibilityName | None = None
    organization_id: UUID | None = None


class WorkflowSummary(BaseModel):
    """A workflow without its definition, as lists show it."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    display_name: str
    description: str | None
    kebab_name: str
    version: str
    status: str
    visibility: str
    organization_id: UUID | None
    created_by: UUID
    project_id: UUID | None
    task_queue_id: UUID
    task_queue_name: str
    engine_workflow_id: str | None
    engine_workflow_type: str | None
    max_concurrent_executions: int
    execution_timeout_seconds: int
    created_at: datetime
    updated_at: datetime
    deployed_at: datetime | None
    etag: str


class WorkflowRead(WorkflowSummary):
    """A workflow with its definition."""

    definition: dict[str, Any]


class DefinitionProblem(BaseModel):
    """One thing the compiler found wrong with a definition."""

    code: str = Field(description="A stable code; docs/definition-format.md lists them.")
    message: str
    pointer: str = Field(description="JSON Pointer into the definition.")
    severity: Literal["error", "warning"]
    node_id: str | None
    edge_id: str | None


class ValidationReport(BaseModel):
    """The compiler's verdict on a definition: errors block deployment, warnings do not."""

    valid: bool
    errors: list[DefinitionProblem]
    warnings: list[DefinitionProblem]


class VersionBump(BaseModel):
    """Which part of the semantic version to increase."""

    model_config = ConfigDict(extra="forbid")

    bump: Bump


class WorkflowClone(BaseModel):
    """The new identity of a copy of a workflow."""

    model_config = ConfigDict(extra="forbid")

    kebab_name: KebabName
    name: Name | None = Field(default=None, description="Defaults to the new kebab name.")
    display_name: DisplayName | None = None


class NodeRead(BaseModel):
    """A workflow node row."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    node_id: str
    node_type: str
    component_id: UUID | None
    config: dict[str, Any]
    position: dict[str, Any] | None


class EdgeRead(BaseModel):
    """A workflow edge row."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    edge_id: str
    source_node_id: str
    target_node_id: str
    label: str | None
    config: dict[str, Any]


class SignalCreate(BaseModel):
    """A new signal handler."""

    model_config = ConfigDict(extra="forbid")

    signal_name: HandlerName
    description: Description | None = None
    parameters: JsonSchema = Field(default_factory=dict)


class SignalUpdate(BaseModel):
    """Changes to a signal handler."""

    model_config = ConfigDict(extra="forbid")

    signal_name: HandlerName | None = None
    description: Description | None = None
    parameters: JsonSchema | None = None


class SignalRead(BaseModel):
    """A signal handler."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    workflow_id: UUID
    signal_name: str
    description: str | None
    parameters: dict[str, Any]
    auto_generated: bool
    work_queue_id: UUID | None
    created_by: UUID
    created_at: datetime
    updated_at: datetime


class QueryCreate(BaseModel):
    """A new query handler."""

    model_config = ConfigDict(extra="forbid")

    query_name: HandlerName
    description: Description | None = None
    return_type: JsonSchema = Field(default_factory=dict)


class QueryUpdate(BaseModel):
    """Changes to a query handler."""

    model_config = ConfigDict(extra="forbid")

    query_name: HandlerName | None = None
    description: Description | None = None
    return_type: JsonSchema | None = None


class QueryRead(BaseModel):
    """A query handler."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    workflow_id: UUID
    query_name: str
    description: str | None
    return_type: dict[str, Any]
    auto_generated: bool
    work_queue_id: UUID | None
    created_by: UUID
    created_at: datetime
    updated_at: datetime


class WorkQueueCreate(BaseModel):
    """A new work queue; its '<queue>_add' signal and '<queue>_items' query come with it."""

    model_config = ConfigDict(extra="forbid")

    queue_name: QueueName
    description: Description | None = None
    max_size: Annotated[int, Field(ge=1, le=10_000_000)] | None = Field(
        default=None, description="Unlimited when omitted."
    )
    priority: QueuePriority = "fifo"
    deduplicate: bool = False
    work_item_schema: JsonSchema | None = None


class WorkQueueUpdate(BaseModel):
    """Changes to a work queue (a new name renames its signal and query)."""

    model_config = ConfigDict(extra="forbid")

    queue_name: QueueName | None = None
    description: Description | None = None
    max_size: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    priority: QueuePriority | None = None
    deduplicate: bool | None = None
    work_item_schema: JsonSchema | None = None


class WorkQueueRead(BaseModel):
    """A work queue."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    workflow_id: UUID
    queue_name: str
    description: str | None
    signal_name: str
    query_name: str
    max_size: int | None
    priority: str
    deduplicate: bool
    work_item_schema: dict[str, Any] | None
    created_by: UUID
    created_at: datetime
    updated_at: datetime


CronExpression = Annotated[str, StringConstraints(min_length=1, max_length=100)]
TimezoneName = Annotated[str, StringConstraints(min_length=1, max_length=50)]


class ScheduleCreate(BaseModel):
    """A new cron schedule."""

    model_config = ConfigDict(extra="forbid")

    cron_expression: CronExpression = Field(examples=["0 9 * * 1-5"])
    timezone: TimezoneName = Field(default="UTC", description="An IANA time zone name.")
    start_immediately: bool = False
    max_runs: Annotated[int, Field(ge=1, le=2_000_000_000)] | None = None
    work_queue_id: UUID | None = None


class ScheduleUpdate(BaseModel):
    """Changes to a cron schedule."""

    model_config = ConfigDict(extra="forbid")

    cron_expression: CronExpression | None = None
    timezone: TimezoneName | None = None
    start_immediately: bool | None = None
    max_runs: Annotated[int, Field(ge=1, le=2_000_000_000)] | None = None
    work_queue_id: UUID | None = None


class ScheduleRead(BaseModel):
    """A cron schedule."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    workflow_id: UUID
    cron_expression: str
    timezone: str
    start_immediately: bool
    max_runs: int | None
    work_queue_id: UUID | None
    created_by: UUID
    created_at: datetime
    updated_at: datetime


class ChildWorkflowCreate(BaseModel):
    """A child workflow this workflow starts."""

    model_config = ConfigDict(extra="forbid")

    child_workflow_id: UUID | None = None
    child_workflow_name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = (
        Field(default=None, description="Defaults to the child's kebab name.")
    )
    parent_close_policy: ParentClosePolicy = "terminate"
    can_signal_parent: bool = False
    can_query_parent: bool = False
    block_until: dict[str, Any] | None = None


class ChildWorkflowUpdate(BaseModel):
    """Changes to a child workflow definition."""

    model_config = ConfigDict(extra="forbid")

    child_workflow_id: UUID | None = None
    child_workflow_name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = (
        None
    )
    parent_close_policy: ParentClosePolicy | None = None
    can_signal_parent: bool | None = None
    can_query_parent: bool | None = None
    block_until: dict[str, Any] | None = None


class ChildWorkflowRead(BaseModel):
    """A child workflow definition."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    parent_workflow_id: UUID
    child_workflow_id: UUID | None
    child_workflow_name: str
    parent_close_policy: str
    can_signal_parent: bool
    can_query_parent: bool
    block_until: dict[str, Any] | None
    created_by: UUID
    created_at: datetime
    updated_at: datetime


ExportFormat = Literal["workflow-builder/workflow@1"]
EXPORT_FORMAT: ExportFormat = "workflow-builder/workflow@1"


class ExportedWorkflow(BaseModel):
    """The portable fields of a workflow."""

    name: Name
    display_name: DisplayName
    description: Description | None = None
    kebab_name: KebabName
    version: Version = "1.0.0"
    definition: dict[str, Any] = Field(default_factory=lambda: {"nodes": [], "edges": []})
    max_concurrent_executions: Concurrency = 10
    execution_timeout_seconds: Timeout = 3600


class ExportedSchedule(ScheduleCreate):
    """A schedule, pointing at its work queue by name."""

    work_queue_id: None = Field(default=None, exclude=True)
    work_queue_name: QueueName | None = None


class ExportedChild(ChildWorkflowCreate):
    """A child workflow, pointing at the child by its kebab name."""

    child_workflow_id: None = Field(default=None, exclude=True)
    child_workflow_name: Annotated[str, StringConstraints(min_length=1, max_length=255)]


class WorkflowExport(BaseModel):
    """A workflow and everything declared on it, portable between installations."""

    model_config = ConfigDict(extra="forbid")

    format: ExportFormat = EXPORT_FORMAT
    workflow: ExportedWorkflow
    signals: list[SignalCreate] = Field(default_factory=list, max_length=500)
    queries: list[QueryCreate] = Field(default_factory=list, max_length=500)
    work_queues: list[WorkQueueCreate] = Field(default_factory=list, max_length=500)
    schedules: list[ExportedSchedule] = Field(default_factory=list, max_length=500)
    child_workflows: list[ExportedChild] = Field(default_factory=list, max_length=500)


class WorkflowImport(WorkflowExport):
    """An exported workflow to create here, optionally under a new kebab name or project."""

    kebab_name: KebabName | None = Field(
        default=None, description="Overrides the exported kebab name (it must be unique)."
    )
    project_id: UUID | None = None
