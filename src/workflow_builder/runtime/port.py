"""The engine port: everything the interpreter needs from a durable engine, and nothing more.

The interpreter (`interpreter.py`) walks a compiled plan as plain asyncio code and reaches the
outside world only through one `EnginePort` per run. An adapter (`engines/dbos.py`,
`engines/temporal.py`) implements the port with its engine's own primitives:

| port                   | DBOS adapter                             | Temporal adapter        |
| ---------------------- | ---------------------------------------- | ----------------------- |
| `call` (a component)   | a checkpoint in the run's journal        | an activity             |
| `sleep`                | a wake-up time in the journal            | `workflow.sleep`        |
| `receive` (a signal)   | the run's inbox, woken by a notification | a signal handler        |
| `take` (a queue item)  | `work_queue_items`, woken likewise       | the workflow's state    |
| `publish` (variables)  | the execution row, with the next write   | a query handler         |
| `start_child`, `child` | an execution row enqueued with its start | a child workflow        |
| `now`                  | a time recorded in the journal           | `workflow.now()`        |
| cancellation           | the run's task is cancelled              | Temporal cancellation   |

Every durable wait and effect is named by a *key* that is stable across replays (the node id,
the loop iterations it runs in, the attempt), never by the order in which concurrent branches
happened to reach it, so a replay after a crash finds each result where it left it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypedDict


class Interrupted(Exception):
    """The run's parent asked it to stop (parent-close policy `request_cancel`): raised by a
    port method that waits, and by the interpreter before it starts a node."""


class CallError(TypedDict):
    """Why a component call attempt failed."""

    type: str
    message: str
    retryable: bool


class Outcome(TypedDict, total=False):
    """The result of one component call attempt: `ok` with `output`, or `error`."""

    ok: bool
    output: Any
    error: CallError
    metrics: dict[str, float]


@dataclass(frozen=True)
class RunSpec:
    """One run as the interpreter sees it: its pinned plan, inputs and owner."""

    execution_id: str
    workflow_id: str
    project_id: str | None
    compiled_code_id: str
    inputs: Any
    created_by: str | None
    parent_execution_id: str | None
    parent_close_policy: str | None
    task_queue_name: str
    max_concurrent_activities: int
    plan: Mapping[str, Any]
    # The variables as the run last published them (None: their initial values).
    variables: dict[str, Any] | None = None
    # When the run must end (its workflow's execution timeout), as seconds since the epoch.
    deadline: float | None = None
    # The W3C traceparent of what started the run (None: tracing was off there).
    trace_parent: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the run as the mapping components and bookkeeping read."""
        return {
            "execution_id": self.execution_id,
            "workflow_id": self.workflow_id,
            "project_id": self.project_id,
            "compiled_code_id": self.compiled_code_id,
            "inputs": self.inputs,
            "created_by": self.created_by,
            "parent_execution_id": self.parent_execution_id,
            "parent_close_policy": self.parent_close_policy,
            "task_queue_name": self.task_queue_name,
            "max_concurrent_activities": self.max_concurrent_activities,
        }


@dataclass(frozen=True)
class RetryPolicy:
    """How often a call is attempted, and the pauses between attempts."""

    maximum_attempts: int = 1
    initial_interval: float = 1.0
    backoff_coefficient: float = 1.0
    maximum_interval: float | None = None
    non_retryable_error_types: tuple[str, ...] = ()

    @classmethod
    def of(cls, retry: Mapping[str, Any] | None) -> RetryPolicy:
        """Return the policy of a plan node's resolved `retry`."""
        retry = retry or {}
        return cls(
            maximum_attempts=max(int(retry.get("maximum_attempts") or 1), 1),
            initial_interval=float(retry.get("initial_interval") or 1.0),
            backoff_coefficient=float(retry.get("backoff_coefficient") or 1.0),
            maximum_interval=(
                float(retry["maximum_interval"]) if retry.get("maximum_interval") else None
            ),
            non_retryable_error_types=tuple(sorted(retry.get("non_retryable_error_types") or [])),
        )

    def pause_after(self, attempt: int) -> float:
        """Return the seconds to wait after attempt `attempt` (1-based) failed."""
        pause = self.initial_interval * self.backoff_coefficient ** (attempt - 1)
        ceiling = self.maximum_interval if self.maximum_interval is not None else pause
        return min(pause, max(ceiling, self.initial_interval))

    def final(self, attempt: int, error: CallError) -> bool:
        """Whether attempt `attempt` failing with `error` fails the call (no attempt follows)."""
        return (
            attempt >= self.maximum_attempts
            or not error["retryable"]
            or error["type"] in self.non_retryable_error_types
        )


@dataclass(frozen=True)
class Call:
    """A component call of a node: attempted as its retry policy says."""

    node: Mapping[str, Any]
    component: Mapping[str, Any]
    key: str  # node id and iteration path: unique within the run
    iteration: str
    inputs: Any
    retry: RetryPolicy = RetryPolicy()
    attempt: int = 1  # the attempt an adapter is running (adapters set it)


@dataclass(frozen=True)
class NodeRecord:
    """A history row of a node that runs inside the workflow code (no effect of its own)."""

    node: Mapping[str, Any]
    iteration: str
    status: str  # completed | failed | skipped | waiting
    outputs: Any = None
    error: str | None = None
    component_id: str | None = None
    inputs: Any = None
    attempts: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class ChildRequest:
    """A child run the interpreter wants started."""

    key: str
    workflow: str  # kebab name
    policy: str  # terminate | abandon | request_cancel
    inputs: Any
    wait: bool  # execute (wait for the result) or start


@dataclass
class ChildOutcome:
    """A child run as far as its parent knows it."""

    execution_id: str | None = None
    status: str | None = None
    output: Any = None
    error: dict[str, Any] | None = None  # a refusal: {"type", "message"}
    extra: dict[str, Any] = field(default_factory=dict)


class EnginePort(Protocol):
    """What the interpreter may ask of its engine for one run."""

    async def call(self, call: Call) -> Outcome:
        """Run a component call: its attempts, as its retry policy says, with durable pauses
        between them; return the last attempt's outcome. Each attempt runs once per key: a
        replay returns the recorded outcome; an attempt in flight when its worker died runs
        again."""
        ...

    def run_pure(self, call: Call) -> Outcome:
        """Run a pure component (no side effects: `transform`) in the workflow code itself."""
        ...

    async def sleep(self, key: str, seconds: float, node: NodeRecord | None) -> None:
        """Wait `seconds` durably (a replay waits only what is left); `node`, when given, is
        recorded as waiting meanwhile."""
        ...

    async def receive(
        self, key: str, signal: str, timeout: float | None, node: NodeRecord
    ) -> tuple[bool, Any]:
        """Wait for the next signal `signal` sent to the run: (True, payload), or (False, None)
        when `timeout` seconds pass first. Signals sent before the wait are kept for it."""
        ...

    async def take(
        self, key: str, queue: str, order: str, wait: bool, timeout: float | None, node: NodeRecord
    ) -> tuple[bool, Any]:
        """Take the next item of one of the run's work queues: (True, item), or (False, None)
        when the queue is empty (`wait` False) or `timeout` seconds pass first."""
        ...

    async def now(self, key: str) -> datetime:
        """Return the current time, the same on every replay."""
        ...

    def record(self, record: NodeRecord) -> None:
        """Keep a node's history row; it is written with the run's next durable write."""
        ...

    def publish(self, variables: Mapping[str, Any]) -> None:
        """Make the run's variables the state queries read (written with the next write)."""
        ...

    async def start_child(self, request: ChildRequest) -> ChildOutcome:
        """Start a child run (once per key); return its id, or the refusal."""
        ...

    async def child_result(self, request: ChildRequest, child: ChildOutcome) -> ChildOutcome:
        """Wait until the child has finished; return its status and output."""
        ...

    async def block_until(self, key: str, child_workflow: str, node: NodeRecord) -> None:
        """Before starting a child of `child_workflow`, wait as its declaration's
        `block_until` says: until this run's children of the named workflows have finished,
        all of them or any one (a named workflow not started yet counts as unfinished)."""
        ...

    def stop_requested(self) -> bool:
        """Whether the run's parent asked it to stop (parent-close policy `request_cancel`)."""
        ...
