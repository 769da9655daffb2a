"""Wire shapes of compiled versions and deployments."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class VersionRead(BaseModel):
    """A compiled version of a workflow (a workflow_compiled_code row)."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    workflow_id: UUID
    version: str
    content_hash: str | None
    is_active: bool
    compiled_at: datetime
    compiled_by: UUID | None
    interpreter: str | None
    requirements: str | None
    runtime_config: dict[str, Any]
    execution_count: int
    avg_execution_duration_ms: int
    last_executed_at: datetime | None


class VersionDetail(VersionRead):
    """A compiled version with its plan."""

    plan: dict[str, Any]
    components: list[dict[str, Any]]


class CompileResult(BaseModel):
    """What compiling gave: the version, whether it is new, and the compiler's warnings."""

    version: VersionRead
    created: bool
    warnings: list[dict[str, Any]]


class DeployResult(BaseModel):
    """A deployed workflow: its active version and where its runs go."""

    workflow_id: UUID
    status: str
    deployed_at: datetime | None
    engine_workflow_id: str | None
    engine_workflow_type: str | None
    task_queue: str
    version: VersionRead | None
    schedules: int
    webhook_path: str | None = Field(
        default=None, description="With a webhook trigger: it answers on POST /hooks/<path>."
    )


class DeploymentState(BaseModel):
    """Whether the saved draft is what runs: the deployed version against the draft's hash."""

    workflow_id: UUID
    status: str
    deployed_version: VersionRead | None = Field(
        description="The active compiled version: the one new runs use."
    )
    draft_hash: str | None = Field(
        description="The content hash the saved draft compiles to; null when it does not compile."
    )
    draft_compiles: bool
    changed: bool = Field(
        description="True when the draft differs from the deployed version (or does not compile)."
    )


class NodeTrialRequest(BaseModel):
    """Sample data for trying one node; what is left out comes from the pinned data."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] | None = Field(
        default=None, description="The run input (default: the trigger's pinned data, or {})."
    )
    nodes: dict[str, Any] | None = Field(
        default=None,
        description="Outputs of earlier nodes by node id, as `nodes.<id>.output` reads them "
        "(default: their pinned data).",
    )
    vars: dict[str, Any] | None = Field(
        default=None, description="Workflow variables (default: their initial values)."
    )


class NodeTrialResult(BaseModel):
    """One call of a draft node's component: the inputs its mapping gave, and its outcome."""

    node_id: str
    inputs: Any
    ok: bool
    output: Any = None
    error: dict[str, Any] | None = None
    duration_ms: int
