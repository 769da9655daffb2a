"""The contract between the runtime and a component implementation.

An implementation is a plain synchronous callable named by its component's
`implementation_path` (`package.module:function`). The runtime evaluates the node's expressions
first, so the callable receives concrete values: `config` (valid against the component's
`config_schema`) and `inputs` (valid against its `input_schema`). It returns a JSON-serializable
value valid against `output_schema`, or raises `ActivityError`. Each call is one checkpointed
step: once it has returned, a crash never makes it run again; if it raises, the node's retry
policy decides whether it runs again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class ActivityError(Exception):
    """A failure the workflow sees.

    `error_type` is what a retry policy's `non_retryable_error_types` matches; `retryable=False`
    fails the node at once whatever its policy says.
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: str = "ActivityError",
        retryable: bool = True,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.retryable = retryable
        self.details = dict(details or {})


class SecretResolver(Protocol):
    """Looks up a project's secrets and connections by name."""

    def secret(self, name: str) -> str:
        """Return the secret's plaintext; raise ActivityError(error_type='SecretNotFound')."""
        ...

    def connection(self, name: str) -> Mapping[str, Any]:
        """Return the connection's settings; raise ActivityError (ConnectionNotFound)."""
        ...


class RunControl(Protocol):
    """What a component may do to another run (its parent), as the runtime offers it: acting
    as `owner`, so row-level security applies as it does to the API. Refusals raise
    ActivityError (not retryable)."""

    def signal(self, execution_id: str, owner: str, name: str, payload: Any) -> None:
        """Send signal `name` with `payload` to the run."""
        ...

    def query(self, execution_id: str, owner: str, name: str) -> Any:
        """Return the run's answer to query `name`."""
        ...


@dataclass(frozen=True)
class Tool:
    """A component an agent may call during its step, as the runtime offers it.

    `call` runs the component with the arguments the model chose (valid against
    `input_schema`) and returns its output; it raises ActivityError like any implementation.
    """

    name: str
    description: str
    input_schema: Mapping[str, Any]
    call: Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class ActivityContext:
    """What an implementation may know about the call besides its config and inputs."""

    execution_id: str
    workflow_id: str
    node_id: str
    attempt: int
    project_id: str | None = None
    timeout_seconds: float | None = None
    secrets: SecretResolver | None = None
    # Called with (metric name, value) for per-step metrics: tokens, cost, bytes...
    record_metric: Callable[[str, float], None] = field(default=lambda _name, _value: None)
    # The components this node's agent may call, by component name (agent nodes only).
    tools: Mapping[str, Tool] = field(default_factory=dict)
    # Signals and queries to other runs (the parent's), through the runtime.
    runs: RunControl | None = None


class Activity(Protocol):
    """The shape of every implementation."""

    def __call__(
        self, config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext
    ) -> Any: ...


@dataclass(frozen=True)
class ComponentSpec:
    """A component as the registry stores it (a `components` row), provided by code."""

    name: str
    display_name: str
    description: str
    component_type: str  # activity | agent | signal | trigger
    implementation_path: str
    config_schema: Mapping[str, Any]
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any]
    version: str = "1.0.0"
    tags: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    package: str | None = None
    model_provider: str | None = None
    model_name: str | None = None
