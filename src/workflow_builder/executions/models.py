"""Wire shapes of executions, their steps, and the operations on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

ExecutionStatus = Literal["pending", "running", "completed", "failed", "canceled"]


class ExecutionStart(BaseModel):
    """The inputs of a new run (validated against the workflow's trigger input schema)."""

    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any] = Field(default_factory=dict)


class ExecutionRead(BaseModel):
    """A run of a workflow."""

    id: UUID
    workflow_id: UUID
    project_id: UUID | None
    compiled_code_id: UUID | None
    engine_run_id: str | None
    engine_workflow_id: str | None
    status: ExecutionStatus
    trigger_kind: str
    inputs: dict[str, Any]
    outputs: Any = None
    error: str | None
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    parent_execution_id: UUID | None
    created_by: UUID | None
    is_test: bool = Field(
        default=False, description="A test run of the draft, started from the builder."
    )


class StepRead(BaseModel):
    """One node's execution (one iteration of it inside loops)."""

    node_id: str
    iteration: str
    node_type: str
    component_id: UUID | None
    status: str
    inputs: Any = None
    outputs: Any = None
    error: str | None
    attempts: int
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    metrics: dict[str, float] | None = Field(
        default=None,
        description="What the component recorded for the step's last attempt, e.g. an agent's "
        "prompt_tokens, completion_tokens, latency_ms, llm_calls, tool_calls and cost_usd.",
    )


class ExecutionDetail(ExecutionRead):
    """A run with its per-node history."""

    steps: list[StepRead]
    engine_url: str | None = Field(
        default=None,
        description="The run in its engine's own console (the Temporal Web UI when the engine "
        "is Temporal and its UI address is known); null otherwise.",
    )


class ExecutionPage(BaseModel):
    """A page of runs."""

    items: list[ExecutionRead]
    total: int = Field(
        description="How many runs match; a lower bound when total_exact is false (the count "
        "stops 1,000 runs past the page)."
    )
    total_exact: bool = True
    limit: int
    offset: int


class WorkItemAdd(BaseModel):
    """An item for a run's work queue."""

    model_config = ConfigDict(extra="forbid")

    item: Any
    priority: int = Field(
        default=0,
        ge=-(2**31),
        le=2**31 - 1,
        description="For priority queues: higher is taken first.",
    )


class WorkItemAdded(BaseModel):
    """What became of an added item."""

    queue: str
    accepted: bool
    deduplicated: bool
    size: int
    item_id: UUID | None = None


class QueryAnswer(BaseModel):
    """A query's answer from the run's current state."""

    query: str
    result: Any


class WorkerRead(BaseModel):
    """A worker serving a project's task queue, with its last heartbeat."""

    id: UUID
    project_id: UUID
    worker_id: str
    task_queue_name: str
    status: Literal["running", "stopped", "error"]
    last_heartbeat_at: datetime | None
    started_at: datetime
    stopped_at: datetime | None
    error_message: str | None
