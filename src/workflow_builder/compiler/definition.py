"""The workflow definition format: what the canvas saves, as Pydantic models and JSON Schema."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflow_builder.secrets.references import SECRET_NAME_PATTERN

FORMAT_VERSION = 1
SCHEMA_ID = "urn:workflow-builder:schema:workflow-definition:1"

_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$"
# Counts and durations end up in integer columns and timers: the largest 32-bit integer.
MAX_COUNT = 2**31 - 1
# A delay longer than this (about 31 years) is a mistake, and too long for a timer.
MAX_DELAY_SECONDS = 10**9
NodeId = Annotated[str, Field(min_length=1, max_length=255, pattern=_ID_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
KebabName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
Expression = Annotated[str, Field(min_length=1, description="A JMESPath expression.")]
JsonSchema = dict[str, Any]

# Handles an edge may leave a node from, per node type; None means "depends on config".
NEXT = "next"
BODY = "body"
DONE = "done"
BACK = "back"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Position(_Model):
    """Where a node sits on the canvas; ignored by the compiler."""

    x: float = 0
    y: float = 0


class RetryPolicy(_Model):
    """How a failed component call is retried; unset fields come from the workflow settings."""

    initial_interval: float | None = Field(
        default=None, gt=0, le=MAX_DELAY_SECONDS, description="Seconds."
    )
    backoff_coefficient: float | None = Field(default=None, ge=1, le=1000)
    maximum_interval: float | None = Field(
        default=None, gt=0, le=MAX_DELAY_SECONDS, description="Seconds."
    )
    maximum_attempts: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    non_retryable_error_types: list[str] | None = None


class ComponentRef(_Model):
    """A component by name; version None means the latest one in the catalog."""

    name: str = Field(min_length=1, max_length=255)
    version: str | None = Field(default=None, max_length=50)


class _NodeBase(_Model):
    id: NodeId
    position: Position = Position()
    label: str | None = None
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    retry: RetryPolicy | None = None


# A webhook's path under /hooks/: lowercase segments separated by "/" (the database checks it
# too, in webhook_triggers_path_check).
WEBHOOK_PATH_PATTERN = r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$"
WEBHOOK_PATH_MAX_LENGTH = 255
WEBHOOK_SETTINGS = ("path", "auth", "secret", "rate_limit_per_second")
DEFAULT_WEBHOOK_AUTH = "api_key"
DEFAULT_WEBHOOK_RATE_LIMIT = 100


class TriggerConfig(_Model):
    """How a run starts and what input it takes."""

    kind: Literal["manual", "webhook", "schedule", "signal"] = "manual"
    input_schema: JsonSchema = Field(default_factory=dict)
    cron: str | None = None
    timezone: str = "UTC"
    signal: Name | None = None
    path: str | None = Field(
        default=None,
        description="Webhook: the path it answers on, POST /hooks/<path> (default: the "
        "workflow's kebab_name).",
        json_schema_extra={"pattern": WEBHOOK_PATH_PATTERN, "maxLength": WEBHOOK_PATH_MAX_LENGTH},
    )
    auth: Literal["api_key", "hmac"] | None = Field(
        default=None,
        description="Webhook: how callers authenticate, with an API key (the default) or an "
        "HMAC-SHA256 signature keyed by `secret`.",
    )
    secret: Annotated[str, Field(max_length=255, pattern=SECRET_NAME_PATTERN)] | None = Field(
        default=None, description="Webhook with auth hmac: the name of a project secret."
    )
    rate_limit_per_second: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description=f"Webhook: runs it may start per second (default {DEFAULT_WEBHOOK_RATE_LIMIT}"
        "), with bursts of as many.",
    )


class TriggerNode(_NodeBase):
    """The single entry point of a workflow; its output is the run's input."""

    type: Literal["trigger"]
    config: TriggerConfig = TriggerConfig()


class ActivityNode(_NodeBase):
    """A call to an activity component; `input` maps the component's input fields to expressions."""

    type: Literal["activity"]
    component: ComponentRef
    config: dict[str, Any] = Field(default_factory=dict)
    input: dict[str, Expression] | None = None


class AgentNode(_NodeBase):
    """A call to an agent component (same shape as an activity)."""

    type: Literal["agent"]
    component: ComponentRef
    config: dict[str, Any] = Field(default_factory=dict)
    input: dict[str, Expression] | None = None


class ConditionConfig(_Model):
    expression: Expression


class ConditionNode(_NodeBase):
    """Takes the "true" or "false" handle depending on a boolean expression."""

    type: Literal["condition"]
    config: ConditionConfig


class SwitchCase(_Model):
    name: Name
    expression: Expression


class SwitchConfig(_Model):
    cases: list[SwitchCase] = Field(min_length=1)


class SwitchNode(_NodeBase):
    """Takes the handle of the first case whose expression is true, else "default"."""

    type: Literal["switch"]
    config: SwitchConfig


class JoinNode(_NodeBase):
    """A no-op merge point; like every node it waits for all incoming branches."""

    type: Literal["join"]
    config: dict[str, Any] = Field(default_factory=dict, max_length=0)


class ForEachConfig(_Model):
    items: Expression
    concurrency: int = Field(default=1, ge=1, le=1000)
    result: Expression | None = None


class ForEachNode(_NodeBase):
    """Runs its body once per item of a list; results are collected in item order."""

    type: Literal["for_each"]
    config: ForEachConfig


class LoopConfig(_Model):
    until: Expression
    max_iterations: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    result: Expression | None = None


class LoopNode(_NodeBase):
    """Runs its body, then stops when `until` is true or after `max_iterations`."""

    type: Literal["loop"]
    config: LoopConfig


class DelayConfig(_Model):
    seconds: float | None = Field(default=None, ge=0, le=MAX_DELAY_SECONDS)
    until: Expression | None = Field(default=None, description="Evaluates to an ISO 8601 time.")


class DelayNode(_NodeBase):
    """A durable sleep for a duration or until a time."""

    type: Literal["delay"]
    config: DelayConfig


class WaitForSignalConfig(_Model):
    signal: Name
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_COUNT)


class WaitForSignalNode(_NodeBase):
    """Waits for a declared signal; takes "received" or "timed_out"."""

    type: Literal["wait_for_signal"]
    config: WaitForSignalConfig


class SetVariableConfig(_Model):
    variable: Name
    value: Expression


class SetVariableNode(_NodeBase):
    """Assigns an expression's value to a declared variable."""

    type: Literal["set_variable"]
    config: SetVariableConfig


class WorkQueueConfig(_Model):
    queue: Name
    operation: Literal["take", "wait_for_item"]
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_COUNT)


class WorkQueueNode(_NodeBase):
    """Takes an item from a declared work queue, or waits for one."""

    type: Literal["work_queue"]
    config: WorkQueueConfig


class ChildWorkflowConfig(_Model):
    workflow: KebabName
    mode: Literal["start", "execute"] = "execute"
    parent_close_policy: Literal["terminate", "abandon", "request_cancel"] = "terminate"


class ChildWorkflowNode(_NodeBase):
    """Starts another workflow, and with mode "execute" waits for its result."""

    type: Literal["child_workflow"]
    config: ChildWorkflowConfig
    input: dict[str, Expression] | None = None


class EndConfig(_Model):
    status: Literal["completed", "failed"] = "completed"
    output: Expression | None = None


class EndNode(_NodeBase):
    """Ends the run with a status and an output."""

    type: Literal["end"]
    config: EndConfig = EndConfig()


Node = Annotated[
    TriggerNode
    | ActivityNode
    | AgentNode
    | ConditionNode
    | SwitchNode
    | JoinNode
    | ForEachNode
    | LoopNode
    | DelayNode
    | WaitForSignalNode
    | SetVariableNode
    | WorkQueueNode
    | ChildWorkflowNode
    | EndNode,
    Field(discriminator="type"),
]
NODE_MODELS: dict[str, type[_NodeBase]] = {
    "trigger": TriggerNode,
    "activity": ActivityNode,
    "agent": AgentNode,
    "condition": ConditionNode,
    "switch": SwitchNode,
    "join": JoinNode,
    "for_each": ForEachNode,
    "loop": LoopNode,
    "delay": DelayNode,
    "wait_for_signal": WaitForSignalNode,
    "set_variable": SetVariableNode,
    "work_queue": WorkQueueNode,
    "child_workflow": ChildWorkflowNode,
    "end": EndNode,
}
NODE_TYPES = tuple(NODE_MODELS)


class Edge(_Model):
    """A connection; `source_handle` picks the outcome, `target_handle` "back" closes a loop."""

    id: NodeId
    source: str
    target: str
    source_handle: str | None = None
    target_handle: str | None = None
    label: str | None = None


class Variable(_Model):
    """A workflow variable: its initial value and an optional JSON Schema."""

    initial: Any = None
    schema_: JsonSchema | None = Field(default=None, alias="schema")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Settings(_Model):
    """Run-wide defaults."""

    timeout_seconds: int = Field(default=3600, ge=1, le=MAX_COUNT)
    activity_timeout_seconds: int = Field(default=300, ge=1, le=MAX_COUNT)
    retry: RetryPolicy = RetryPolicy()


class SignalDecl(_Model):
    name: Name
    description: str | None = None
    parameters: JsonSchema | None = None


class QueryDecl(_Model):
    name: Name
    description: str | None = None
    expression: Expression | None = Field(default=None, description="Defaults to `vars`.")
    return_type: JsonSchema | None = None


class WorkQueueDecl(_Model):
    name: Name
    description: str | None = None
    max_size: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    priority: Literal["fifo", "lifo", "priority"] = "fifo"
    deduplicate: bool = False
    work_item_schema: JsonSchema | None = None


class ScheduleDecl(_Model):
    cron: str
    timezone: str = "UTC"
    start_immediately: bool = False
    max_runs: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    input: dict[str, Any] = Field(default_factory=dict)


class BlockUntil(_Model):
    """Before starting this child, wait until the run's children of these workflows finished."""

    workflows: list[KebabName] = Field(min_length=1)
    mode: Literal["all", "any"] = "all"


class ChildWorkflowDecl(_Model):
    workflow: KebabName
    parent_close_policy: Literal["terminate", "abandon", "request_cancel"] = "terminate"
    can_signal_parent: bool = False
    can_query_parent: bool = False
    block_until: BlockUntil | None = None


class WorkflowDefinition(_Model):
    """A whole workflow as saved by the canvas."""

    format_version: Literal[1] = 1
    nodes: list[Node]
    edges: list[Edge] = Field(default_factory=list)
    variables: dict[Name, Variable] = Field(default_factory=dict)
    settings: Settings = Settings()
    signals: list[SignalDecl] = Field(default_factory=list)
    queries: list[QueryDecl] = Field(default_factory=list)
    work_queues: list[WorkQueueDecl] = Field(default_factory=list)
    schedules: list[ScheduleDecl] = Field(default_factory=list)
    child_workflows: list[ChildWorkflowDecl] = Field(default_factory=list)
    pinned_data: dict[NodeId, Any] = Field(
        default_factory=dict,
        description="Sample outputs pinned to nodes (the trigger's is the run input), used when "
        "trying a node in the builder; never part of a compiled version.",
    )


def work_queue_signal_name(queue: str) -> str:
    """Return the signal name generated for adding items to a work queue."""
    return f"{queue}_add"


def work_queue_query_name(queue: str) -> str:
    """Return the query name generated for reading a work queue's items."""
    return f"{queue}_items"


@cache
def _schema() -> dict[str, Any]:
    schema = WorkflowDefinition.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def definition_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (Draft 2020-12) of the workflow definition format."""
    return dict(_schema())
