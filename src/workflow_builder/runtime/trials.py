"""Trying one node of a draft without deploying it: its component called once, through the
same path a run's call takes (input schema check, the project's secrets, the task queue's
activity slots, the sandbox and egress policy of the component), within a short time bound.

Nothing is recorded: no execution row, no history, no statistics.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from workflow_builder.compiler.expressions import parse_expression
from workflow_builder.runtime import effects, pure
from workflow_builder.runtime.port import Call, Outcome, RunSpec

# A trial answers within one request: its call may take no longer than this.
MAX_TRIAL_SECONDS = 30
CALL_NODE_TYPES = ("activity", "agent")


class TrialInputError(Exception):
    """An input expression of the node could not be evaluated against the sample data."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SampleData:
    """What the node's input expressions see: the run's input, earlier nodes' outputs, vars."""

    input: Any
    nodes: Mapping[str, Any]
    vars: Mapping[str, Any]

    def expression_data(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "vars": dict(self.vars),
            "nodes": {
                node_id: {"status": "completed", "output": output}
                for node_id, output in self.nodes.items()
            },
            "item": None,
            "index": None,
            "iteration": None,
        }


@dataclass(frozen=True)
class NodeTrial:
    inputs: Any
    outcome: Outcome
    duration_ms: int


def node_inputs(node: Mapping[str, Any], sample: SampleData) -> Any:
    """Return the inputs the node's planned input mapping gives for `sample`."""
    spec = node.get("input") or {}
    data = sample.expression_data()

    def evaluate(field: str, source: str) -> Any:
        try:
            return parse_expression(source).search(data)
        except Exception as exc:  # the expression library's own errors name the problem
            raise TrialInputError(field, f"{source!r}: {exc}") from None

    if "map" in spec:
        return {name: evaluate(f"input/{name}", expr) for name, expr in spec["map"].items()}
    return evaluate("input", spec["from"]) if spec.get("from") else {}


def run_node(
    *,
    plan: Mapping[str, Any],
    node_id: str,
    sample: SampleData,
    workflow_id: str,
    project_id: str | None,
    user_id: str,
    task_queue_name: str,
    max_concurrent_activities: int,
    pure_implementations: frozenset[str],
) -> NodeTrial:
    """Call the node's component once with the inputs its mapping gives for `sample`."""
    node = next(n for n in plan["nodes"] if n["id"] == node_id)
    component = plan["components"][node["component"]]
    inputs = node_inputs(node, sample)
    bounded = min(node.get("timeout_seconds") or MAX_TRIAL_SECONDS, MAX_TRIAL_SECONDS)
    call_node = {**node, "timeout_seconds": bounded}
    run = RunSpec(
        execution_id=str(uuid4()),
        workflow_id=workflow_id,
        project_id=project_id,
        compiled_code_id="draft",
        inputs=sample.input,
        created_by=user_id,
        parent_execution_id=None,
        parent_close_policy=None,
        task_queue_name=task_queue_name,
        max_concurrent_activities=max_concurrent_activities,
        plan=plan,
        variables=dict(sample.vars),
    )
    call = Call(call_node, component, node_id, "", inputs)
    started = time.monotonic()
    if component.get("implementation_path") in pure_implementations:
        outcome = pure.run_pure(run, call)
    else:
        outcome = effects.invoke(run, call)
    return NodeTrial(inputs, outcome, round((time.monotonic() - started) * 1000))
