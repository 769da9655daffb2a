"""Writes that record what runs did: step history, activity statistics, run and version
counters. They run as the system (workers), each as one statement per table so concurrent runs
never lose an increment: every counter is updated in place under the row's lock, and averages
are derived from exact running sums (floor of total / count).

A call's metrics (whatever its component recorded) are kept on its step; three of them roll
into `activity_statistics`: `prompt_tokens` into `input_tokens`, `completion_tokens` into
`output_tokens` and `cost_usd` into `cost_usd` (the names `llm_agent` records).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import CursorResult, TextClause, text
from sqlalchemy.orm import Session

from workflow_builder.db import Database

# Where a record goes: a session's transaction, or a Database, where it is a transaction of its
# own sent in one round trip, committed without waiting for the WAL flush (the runtime's writes:
# the engine's next checkpoint flushes them; see Database.system_statement).
Target = Session | Database


@dataclass(frozen=True)
class StepRecord:
    """One node's execution (one iteration of it, inside loops) as the history shows it."""

    execution_id: UUID
    node_id: str
    node_type: str
    status: str
    iteration: str = ""
    component_id: UUID | None = None
    inputs: Any = None
    outputs: Any = None
    error: str | None = None
    attempts: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    metrics: Mapping[str, float] | None = None


# The metrics that statistics sum, by the activity_statistics column they go to.
INPUT_TOKENS_METRIC = "prompt_tokens"
OUTPUT_TOKENS_METRIC = "completion_tokens"
COST_METRIC = "cost_usd"


_UPSERT_STEP = text(
    """
    insert into execution_steps as s (execution_id, node_id, iteration, node_type, component_id,
      status, inputs, outputs, error, metrics, attempts, started_at, completed_at, duration_ms)
    values (:execution_id, :node_id, :iteration, :node_type, :component_id, :status,
      cast(:inputs as jsonb), cast(:outputs as jsonb), :error, cast(:metrics as jsonb), :attempts,
      coalesce(:started_at, now()), :completed_at,
      (extract(epoch from (:completed_at - coalesce(:started_at, now()))) * 1000)::int)
    on conflict (execution_id, node_id, iteration) do update set
      status = excluded.status,
      inputs = coalesce(excluded.inputs, s.inputs),
      outputs = excluded.outputs,
      error = excluded.error,
      metrics = excluded.metrics,
      attempts = greatest(s.attempts, excluded.attempts),
      completed_at = excluded.completed_at,
      duration_ms = (extract(epoch from (excluded.completed_at - s.started_at)) * 1000)::int
    """
)

# One component call attempt: its history row with its metrics, its statistics (the workflow's
# row and the global one, with tokens and cost) and its project's counter, in one statement.
# The attempt key makes it idempotent: a step re-executed after a crash writes the same key,
# finds it recorded, and counts nothing.
_RECORD_CALL = text(
    """
    with step as (
      insert into execution_steps as s (execution_id, node_id, iteration, node_type,
        component_id, status, inputs, outputs, error, metrics, attempts, started_at,
        completed_at, duration_ms, last_attempt_key)
      values (:execution_id, :node_id, :iteration, :node_type, :component_id, :status,
        cast(:inputs as jsonb), cast(:outputs as jsonb), :error, cast(:metrics as jsonb),
        :attempts, :started_at, :completed_at, :duration, :attempt_key)
      on conflict (execution_id, node_id, iteration) do update set
        status = excluded.status, inputs = coalesce(excluded.inputs, s.inputs),
        outputs = excluded.outputs, error = excluded.error, metrics = excluded.metrics,
        attempts = excluded.attempts,
        started_at = excluded.started_at, completed_at = excluded.completed_at,
        duration_ms = excluded.duration_ms, last_attempt_key = excluded.last_attempt_key
      where s.last_attempt_key is distinct from excluded.last_attempt_key
      returning 1
    ), stats as (
      insert into activity_statistics as a (component_id, workflow_id, execution_count,
        success_count, failure_count, total_duration_ms, avg_duration_ms, min_duration_ms,
        max_duration_ms, input_tokens, output_tokens, cost_usd, last_executed_at)
      select :component_id, scope.workflow_id, 1, :ok, 1 - :ok, :duration, :duration,
        :duration, :duration, :input_tokens, :output_tokens, :cost, now()
      from (values (cast(:workflow_id as uuid)), (cast(null as uuid))) as scope(workflow_id)
      cross join step
      on conflict on constraint activity_statistics_component_id_workflow_id_key do update set
        execution_count = a.execution_count + 1,
        success_count = a.success_count + excluded.success_count,
        failure_count = a.failure_count + excluded.failure_count,
        total_duration_ms = a.total_duration_ms + excluded.total_duration_ms,
        avg_duration_ms = (a.total_duration_ms + excluded.total_duration_ms)
                          / (a.execution_count + 1),
        min_duration_ms = least(a.min_duration_ms, excluded.min_duration_ms),
        max_duration_ms = greatest(a.max_duration_ms, excluded.max_duration_ms),
        input_tokens = a.input_tokens + excluded.input_tokens,
        output_tokens = a.output_tokens + excluded.output_tokens,
        cost_usd = a.cost_usd + excluded.cost_usd,
        last_executed_at = now()
    ), project as (
      update projects set total_activity_executions = total_activity_executions + 1
      where id = :project_id and exists (select 1 from step)
    )
    select count(*) from step
    """
)

_EXECUTION_STARTED = text(
    """
    with run as (
      update workflow_executions set status = 'running'
      where id = :execution_id and status = 'pending'
      returning project_id, compiled_code_id, started_at
    ), project as (
      update projects p set total_workflow_executions = p.total_workflow_executions + 1,
        last_execution_at = greatest(p.last_execution_at, run.started_at)
      from run where p.id = run.project_id
    )
    update workflow_compiled_code c set execution_count = c.execution_count + 1,
      last_executed_at = greatest(c.last_executed_at, run.started_at)
    from run where c.id = run.compiled_code_id
    """
)

_EXECUTION_FINISHED = text(
    """
    with run as (
      update workflow_executions set status = :status, outputs = cast(:outputs as jsonb),
        error = :error, completed_at = now(),
        duration_ms = (extract(epoch from (now() - started_at)) * 1000)::int
      where id = :execution_id and status in ('pending', 'running')
      returning project_id, compiled_code_id, duration_ms
    ), project as (
      update projects p set
        finished_workflow_executions = p.finished_workflow_executions + 1,
        total_execution_duration_ms = p.total_execution_duration_ms + run.duration_ms,
        avg_execution_duration_ms = (p.total_execution_duration_ms + run.duration_ms)
                                    / (p.finished_workflow_executions + 1)
      from run where p.id = run.project_id
    ), version as (
      update workflow_compiled_code c set
        finished_count = c.finished_count + 1,
        total_duration_ms = c.total_duration_ms + run.duration_ms,
        avg_execution_duration_ms = (c.total_duration_ms + run.duration_ms)
                                    / (c.finished_count + 1)
      from run where c.id = run.compiled_code_id
    )
    select count(*) from run
    """
)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _execute(target: Target, statement: TextClause, params: Mapping[str, Any]) -> Any:
    """Run `statement` on `target`; return the first column of its first row (None if none)."""
    if isinstance(target, Database):
        rows = target.system_statement(statement, params)
        return next(iter(rows[0].values())) if rows else None
    result = cast(CursorResult[Any], target.execute(statement, params))
    return result.scalar() if result.returns_rows else None


def record_step(target: Target, step: StepRecord) -> None:
    """Insert or update the history row of one node execution."""
    _execute(
        target,
        _UPSERT_STEP,
        {
            "execution_id": step.execution_id,
            "node_id": step.node_id,
            "iteration": step.iteration,
            "node_type": step.node_type,
            "component_id": step.component_id,
            "status": step.status,
            "inputs": _json(step.inputs),
            "outputs": _json(step.outputs),
            "error": step.error,
            "attempts": step.attempts,
            "started_at": step.started_at,
            "completed_at": step.completed_at,
            "metrics": _json(step.metrics),
        },
    )


def record_component_call(
    target: Target,
    step: StepRecord,
    *,
    attempt_key: str,
    workflow_id: UUID,
    project_id: UUID | None,
    duration_ms: int,
    succeeded: bool,
) -> bool:
    """Record one finished component call attempt; return False if it was already recorded."""
    assert step.component_id is not None, "a component call names its component"
    duration = max(duration_ms, 0)
    metrics = step.metrics or {}
    counted = _execute(
        target,
        _RECORD_CALL,
        {
            "execution_id": step.execution_id,
            "node_id": step.node_id,
            "iteration": step.iteration,
            "node_type": step.node_type,
            "component_id": step.component_id,
            "status": step.status,
            "inputs": _json(step.inputs),
            "outputs": _json(step.outputs),
            "error": step.error,
            "attempts": step.attempts,
            "started_at": step.started_at,
            "completed_at": step.completed_at,
            "duration": duration,
            "metrics": _json(step.metrics),
            "attempt_key": attempt_key,
            "workflow_id": workflow_id,
            "project_id": project_id,
            "ok": int(succeeded),
            "input_tokens": int(metrics.get(INPUT_TOKENS_METRIC, 0)),
            "output_tokens": int(metrics.get(OUTPUT_TOKENS_METRIC, 0)),
            "cost": float(metrics.get(COST_METRIC, 0)),
        },
    )
    return bool(counted)


def execution_started(target: Target, *, execution_id: UUID) -> None:
    """Mark a pending run as running and count it on its project and compiled version."""
    _execute(target, _EXECUTION_STARTED, {"execution_id": execution_id})


def execution_finished(
    target: Target,
    *,
    execution_id: UUID,
    status: str,
    outputs: Any = None,
    error: str | None = None,
) -> bool:
    """Close a run with its final status; return False if it had already finished."""
    closed = _execute(
        target,
        _EXECUTION_FINISHED,
        {"execution_id": execution_id, "status": status, "outputs": _json(outputs), "error": error},
    )
    return bool(closed)
