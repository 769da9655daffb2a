"""Step bodies: the interpreter's side effects, each run as one checkpointed engine step.

Each function here is idempotent: a step whose process dies after its work but before its
checkpoint runs again, and must neither double-count nor double-claim.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import jsonschema
from sqlalchemy import text

from workflow_builder.activities.contract import ActivityContext, ActivityError
from workflow_builder.activities.registry import load_implementation
from workflow_builder.db import system_session
from workflow_builder.executions.tracking import (
    StepRecord,
    execution_finished,
    execution_started,
    record_component_call,
    record_step,
)
from workflow_builder.runtime.slots import MAX_HELD_PER_PROCESS, activity_slot
from workflow_builder.secrets.redaction import redact
from workflow_builder.secrets.service import resolver_for_project

_LOAD_RUN = text(
    """
    select e.id, e.workflow_id, e.project_id, e.compiled_code_id, e.inputs, e.created_by,
           e.parent_execution_id, e.parent_close_policy, c.workflow_code,
           q.name as task_queue_name, q.max_concurrent_activities
    from workflow_executions e
    join workflow_compiled_code c on c.id = e.compiled_code_id
    join workflows w on w.id = e.workflow_id
    join task_queues q on q.id = w.task_queue_id
    where e.id = :execution_id
    """
)


@lru_cache(maxsize=256)
def parse_plan(compiled_code_id: str, workflow_code: str) -> dict[str, Any]:
    """Parse a compiled version's plan once per process (versions never change)."""
    plan: dict[str, Any] = json.loads(workflow_code)
    return plan


def load_run(execution_id: str) -> dict[str, Any]:
    """Return what a run needs: its pinned plan, inputs, owner, project and queue limits."""
    with system_session() as session:
        row = session.execute(_LOAD_RUN, {"execution_id": execution_id}).mappings().one()
    return {
        "execution_id": str(row["id"]),
        "workflow_id": str(row["workflow_id"]),
        "project_id": str(row["project_id"]) if row["project_id"] else None,
        "compiled_code_id": str(row["compiled_code_id"]),
        "inputs": row["inputs"],
        "created_by": str(row["created_by"]) if row["created_by"] else None,
        "parent_execution_id": (
            str(row["parent_execution_id"]) if row["parent_execution_id"] else None
        ),
        "parent_close_policy": row["parent_close_policy"],
        "task_queue_name": row["task_queue_name"],
        "max_concurrent_activities": row["max_concurrent_activities"],
        "plan": parse_plan(str(row["compiled_code_id"]), row["workflow_code"]),
    }


def mark_started(execution_id: str) -> None:
    """Mark the run as running and count it."""
    with system_session() as session:
        execution_started(session, execution_id=UUID(execution_id))


def finish(execution_id: str, status: str, output: Any, error: str | None) -> bool:
    """Close the run with its final status; False if something else closed it first."""
    with system_session() as session:
        return execution_finished(
            session, execution_id=UUID(execution_id), status=status, outputs=output, error=error
        )


def now_iso() -> str:
    """Return the current time (a step, so a replay sees the time the run first saw)."""
    return datetime.now(UTC).isoformat()


def record_node(
    execution_id: str,
    node: Mapping[str, Any],
    iteration: str,
    status: str,
    *,
    inputs: Any = None,
    outputs: Any = None,
    error: str | None = None,
    completed: bool = True,
) -> None:
    """Write a control node's history row (an idempotent upsert, safe to repeat)."""
    moment = datetime.now(UTC)
    with system_session() as session:
        session.execute(text("set local synchronous_commit = off"))
        record_step(
            session,
            StepRecord(
                execution_id=UUID(execution_id),
                node_id=node["id"],
                node_type=node["type"],
                status=status,
                iteration=iteration,
                inputs=inputs,
                outputs=outputs,
                error=error,
                started_at=moment,
                completed_at=moment if completed else None,
            ),
        )


# Component calls run on these threads so that a node's timeout can stop waiting for them.
_call_pool = ThreadPoolExecutor(max_workers=MAX_HELD_PER_PROCESS, thread_name_prefix="wfb-activity")


def call_component(
    run: Mapping[str, Any],
    node: Mapping[str, Any],
    component: Mapping[str, Any],
    iteration: str,
    attempt: int,
    attempt_key: str,
    inputs: Any,
) -> dict[str, Any]:
    """Run one attempt of a component call and record it; never raises for the call's failure.

    Returns {"ok": True, "output": ...} or {"ok": False, "error": {"type", "message",
    "retryable"}}.
    """
    execution_id = UUID(run["execution_id"])
    project_id = UUID(run["project_id"]) if run["project_id"] else None
    component_id = UUID(component["id"]) if component.get("id") else None
    started = datetime.now(UTC)
    secrets = resolver_for_project(project_id) if project_id else None
    base = StepRecord(
        execution_id=execution_id,
        node_id=node["id"],
        node_type=node["type"],
        status="running",
        iteration=iteration,
        component_id=component_id,
        inputs=inputs,
        attempts=attempt,
        started_at=started,
    )
    with system_session() as session:
        session.execute(text("set local synchronous_commit = off"))
        record_step(session, base)
    metrics: dict[str, float] = {}
    context = ActivityContext(
        execution_id=run["execution_id"],
        workflow_id=run["workflow_id"],
        node_id=node["id"],
        attempt=attempt,
        project_id=run["project_id"],
        timeout_seconds=node.get("timeout_seconds"),
        secrets=secrets,
        record_metric=lambda name, value: metrics.__setitem__(name, metrics.get(name, 0) + value),
    )
    clock = time.monotonic()
    result = _invoke(run, component, node.get("config") or {}, inputs, context)
    duration_ms = int((time.monotonic() - clock) * 1000)
    if secrets is not None:
        result = redact(result, secrets)
    if metrics:
        result["metrics"] = metrics
    finished = base.__class__(
        **{
            **base.__dict__,
            "status": "completed" if result["ok"] else "failed",
            "outputs": result.get("output") if result["ok"] else None,
            "error": None if result["ok"] else result["error"]["message"],
            "completed_at": datetime.now(UTC),
        }
    )
    if component_id is not None:
        with system_session() as session:
            session.execute(text("set local synchronous_commit = off"))
            record_component_call(
                session,
                finished,
                attempt_key=attempt_key,
                workflow_id=UUID(run["workflow_id"]),
                project_id=project_id,
                duration_ms=duration_ms,
                succeeded=bool(result["ok"]),
            )
    return result


@lru_cache(maxsize=1024)
def _input_validator(component_id: str) -> jsonschema.Draft202012Validator | None:
    """Return the validator of a component's input schema, read once per process."""
    with system_session() as session:
        schema = session.execute(
            text("select input_schema from components where id = :c"), {"c": component_id}
        ).scalar()
    return jsonschema.Draft202012Validator(schema) if schema else None


def _input_problems(component: Mapping[str, Any], inputs: Any) -> str | None:
    validator = _input_validator(component["id"]) if component.get("id") else None
    if validator is None:
        return None
    problems = [
        f"/{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(inputs or {})
    ]
    return "; ".join(problems[:5]) or None


def _invoke(
    run: Mapping[str, Any],
    component: Mapping[str, Any],
    config: Mapping[str, Any],
    inputs: Any,
    context: ActivityContext,
) -> dict[str, Any]:
    problems = _input_problems(component, inputs)
    if problems:
        return _failure(
            "InvalidInput", f"the input does not match the component's: {problems}", False
        )
    try:
        implementation = load_implementation(component["implementation_path"])
        with activity_slot(
            run["task_queue_name"], int(run["max_concurrent_activities"]), context.timeout_seconds
        ):
            future = _call_pool.submit(implementation, config, inputs or {}, context)
            output = future.result(timeout=context.timeout_seconds)
        json.dumps(output, default=str)
        return {"ok": True, "output": output}
    except FutureTimeout:
        return _failure(
            "ActivityTimeout", f"the call did not finish within {context.timeout_seconds} s", True
        )
    except ActivityError as exc:
        return _failure(exc.error_type, exc.message, exc.retryable)
    except Exception as exc:  # an implementation's own bug is the node's failure, not the run's
        return _failure(type(exc).__name__, str(exc) or type(exc).__name__, True)


def _failure(error_type: str, message: str, retryable: bool) -> dict[str, Any]:
    return {"ok": False, "error": {"type": error_type, "message": message, "retryable": retryable}}
