"""Steps and small workflows that coordinate runs: work-queue items, child runs and their
parent-close policies, admission under a workflow's concurrency limit, and cron ticks."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from dbos import DBOS
from dbos._error import DBOSNonExistentWorkflowError
from sqlalchemy import text

from workflow_builder.db import get_database, system_session, user_session
from workflow_builder.executions.tracking import execution_finished
from workflow_builder.runtime import engine

log = logging.getLogger(__name__)

ADMISSION_WORKFLOW = "wfb_admit"
TICK_WORKFLOW = "wfb_tick"
ADMISSION_POLL_SECONDS = 0.5

# The order a work queue's items are taken in (and listed).
ITEM_ORDER = {
    "fifo": "enqueued_at, id",
    "lifo": "enqueued_at desc, id desc",
    "priority": "priority desc, enqueued_at, id",
}


def deadline(timeout_seconds: float) -> float:
    """Return the wall-clock time `timeout_seconds` from now (a step: replays see the same)."""
    return time.time() + timeout_seconds


def seconds_left(until: float) -> float:
    """Return the seconds left before `until`."""
    return until - time.time()


def take_item(execution_id: str, queue: str, order: str, taken_by: str) -> Any:
    """Claim the next queued item of a run's work queue for `taken_by`; None if it is empty.

    Claims are keyed by `taken_by`, so repeating the step returns the item it claimed before.
    """
    with system_session() as session:
        previous = session.execute(
            text("select payload from work_queue_items where taken_by = :t"), {"t": taken_by}
        ).first()
        if previous is not None:
            return previous.payload
        claimed = session.execute(
            text(
                f"""update work_queue_items set status = 'taken', taken_at = now(),
                      taken_by = :t
                    where id = (select id from work_queue_items
                                where execution_id = :e and queue_name = :q and status = 'queued'
                                order by {ITEM_ORDER[order]} limit 1 for update skip locked)
                    returning payload"""
            ),
            {"t": taken_by, "e": execution_id, "q": queue},
        ).first()
    return claimed.payload if claimed is not None else None


def create_child_execution(
    run: Mapping[str, Any], workflow: str, policy: str, inputs: Any, key: str
) -> dict[str, Any]:
    """Create the execution row of a child run as the parent's owner (RLS decides what it may
    start); return its id and queue, or {"error": ...} when it cannot start."""
    from workflow_builder.runtime.service import ExecutionRefused, insert_execution

    owner = UUID(run["created_by"])
    try:
        with user_session(owner) as session:
            workflow_id = session.execute(
                text("select id from workflows where kebab_name = :k"), {"k": workflow}
            ).scalar()
            if workflow_id is None:
                raise ExecutionRefused(f"workflow {workflow!r} does not exist or is not visible")
            started = insert_execution(
                session,
                user_id=owner,
                workflow_id=workflow_id,
                inputs=inputs if isinstance(inputs, dict) else {},
                idempotency_key=f"child:{run['execution_id']}:{key}",
                trigger_kind="child",
                parent_execution_id=UUID(run["execution_id"]),
                parent_close_policy=policy,
                admit=True,
            )
    except ExecutionRefused as refused:
        return {"error": {"type": "ChildWorkflowRefused", "message": str(refused)}}
    return {
        "execution_id": str(started.execution_id),
        "queue_name": started.queue_name,
        "timeout_seconds": float(started.timeout_seconds),
    }


BLOCK_POLL_SECONDS = 1.0


def block_until_of(workflow_id: str, child: str) -> dict[str, Any] | None:
    """Return the `block_until` of a parent workflow's declaration of `child`:
    {"workflows": [kebab names], "mode": "all" | "any"}, or None."""
    with system_session() as session:
        block = session.execute(
            text(
                """select block_until from workflow_child_workflows
                   where parent_workflow_id = :w and child_workflow_name = :c
                     and block_until is not null limit 1"""
            ),
            {"w": workflow_id, "c": child},
        ).scalar()
    if not isinstance(block, dict) or not block.get("workflows"):
        return None
    return {"workflows": list(block["workflows"]), "mode": block.get("mode", "all")}


def siblings_finished(execution_id: str, workflows: list[str], mode: str) -> bool:
    """Whether the run's children of the named workflows have finished: every one of them
    ("all") or at least one ("any"). A named workflow this run has not started counts as
    unfinished."""
    with system_session() as session:
        finished = set(
            session.execute(
                text(
                    """select w.kebab_name from workflow_executions e
                       join workflows w on w.id = e.workflow_id
                       where e.parent_execution_id = :e and w.kebab_name = any(:names)
                       group by w.kebab_name
                       having bool_and(e.completed_at is not null)"""
                ),
                {"e": execution_id, "names": workflows},
            ).scalars()
        )
    return finished >= set(workflows) if mode == "all" else bool(finished)


_OPEN_CHILDREN = text(
    """select e.id, e.parent_close_policy, e.engine_run_id, c.workflow_code
       from workflow_executions e
       join workflow_compiled_code c on c.id = e.compiled_code_id
       where e.parent_execution_id = :e and e.completed_at is null"""
)


def close_children(execution_id: str) -> None:
    """Apply each unfinished child's parent-close policy: terminate cancels it, request_cancel
    asks it to stop, abandon leaves it running."""
    children = get_database().system_statement(_OPEN_CHILDREN, {"e": execution_id})
    if not children:
        return
    client = engine.client()
    for child in children:
        run_id = child["engine_run_id"] or str(child["id"])
        if child["parent_close_policy"] == "terminate":
            client.cancel_workflow(run_id)
            mark_interrupted(str(child["id"]), reason="its parent closed (terminate policy)")
        elif child["parent_close_policy"] == "request_cancel":
            # No engine cancel: the child stops itself at its next node or its current wait.
            wake(run_id, json.loads(child["workflow_code"]))


def wake(run_id: str, plan: dict[str, Any]) -> None:
    """Wake a stopped run blocked in a wait (a signal, a work queue) so its thread ends.

    The engine stops a cancelled run at its next step; a run waiting for a message never gets
    there until the message comes, so a cancellation sends one on every topic it may wait on.
    """
    from workflow_builder.runtime.interpreter import (
        CONTROL_TOPIC,
        signal_topic,
        work_queue_topic,
    )

    topics = [signal_topic(s["name"]) for s in plan.get("signals", [])]
    topics += [work_queue_topic(q["name"]) for q in plan.get("work_queues", [])]
    client = engine.client()
    for topic in [*topics, CONTROL_TOPIC]:
        try:
            client.send(run_id, {"wake": "stop"}, topic)
        except DBOSNonExistentWorkflowError:
            return  # still waiting for admission: the engine never started it, nothing waits


def mark_interrupted(execution_id: str, reason: str | None = None) -> None:
    """Close a run the engine stopped: failed if it ran past its timeout, else canceled."""
    with system_session() as session:
        timed_out = session.execute(
            text(
                """select e.started_at + make_interval(secs => w.execution_timeout_seconds)
                          <= now()
                   from workflow_executions e join workflows w on w.id = e.workflow_id
                   where e.id = :e"""
            ),
            {"e": execution_id},
        ).scalar()
        if timed_out and reason is None:
            execution_finished(
                session,
                execution_id=UUID(execution_id),
                status="failed",
                error="the run exceeded the workflow's execution timeout",
            )
        else:
            execution_finished(
                session,
                execution_id=UUID(execution_id),
                status="canceled",
                error=f"canceled: {reason}" if reason else "canceled",
            )


def try_admit(execution_id: str) -> bool:
    """Admit a run if its workflow is under max_concurrent_executions, enqueuing it on its
    task queue in the same transaction; True once admitted."""
    from workflow_builder.runtime.interpreter import RUN_WORKFLOW

    with system_session() as session:
        row = session.execute(
            text(
                """select e.admitted_at, e.completed_at, e.workflow_id,
                          w.max_concurrent_executions, w.execution_timeout_seconds,
                          q.name as queue_name
                   from workflow_executions e join workflows w on w.id = e.workflow_id
                   join task_queues q on q.id = w.task_queue_id
                   where e.id = :e for update of w"""
            ),
            {"e": execution_id},
        ).one()
        if row.admitted_at is not None or row.completed_at is not None:
            return True
        running = session.execute(
            text(
                """select count(*) from workflow_executions where workflow_id = :w
                   and admitted_at is not null and completed_at is null"""
            ),
            {"w": row.workflow_id},
        ).scalar_one()
        if running >= row.max_concurrent_executions:
            return False
        session.execute(
            text("update workflow_executions set admitted_at = now() where id = :e"),
            {"e": execution_id},
        )
        engine.client().enqueue_in_transaction(
            session,
            {
                "workflow_name": RUN_WORKFLOW,
                "queue_name": row.queue_name,
                "workflow_id": execution_id,
                "workflow_timeout": float(row.execution_timeout_seconds),
            },
            execution_id,
        )
    return True


@DBOS.workflow(name=ADMISSION_WORKFLOW)
def admit(execution_id: str) -> None:
    """Wait until the run may start under its workflow's limit, then hand it to its queue."""
    attempt = 0
    while not DBOS.run_step({"name": f"wfb.admit{attempt}"}, try_admit, execution_id):
        DBOS.sleep(ADMISSION_POLL_SECONDS)
        attempt += 1


def start_scheduled_run(schedule_id: str, scheduled_at: str) -> str | None:
    """Start the run of one cron tick unless the schedule is spent or its workflow not active."""
    from workflow_builder.runtime.service import ExecutionRefused, start_execution

    with system_session() as session:
        schedule = session.execute(
            text(
                """update workflow_scheduled_workflows s
                   set run_count = run_count + 1, last_run_at = now()
                   from workflows w join workflow_statuses st on st.id = w.status_id
                   where s.id = :s and w.id = s.workflow_id and s.is_active
                     and st.name = 'active'
                     and (s.max_runs is null or s.run_count < s.max_runs)
                   returning s.workflow_id, s.created_by, s.run_count, s.max_runs"""
            ),
            {"s": schedule_id},
        ).first()
    if schedule is None:
        return None
    if schedule.max_runs is not None and schedule.run_count >= schedule.max_runs:
        engine.client().delete_schedule(engine.schedule_name(schedule_id))
    try:
        started = start_execution(
            user_id=schedule.created_by,
            workflow_id=schedule.workflow_id,
            inputs=_schedule_input(schedule_id),
            idempotency_key=f"schedule:{schedule_id}:{scheduled_at}",
            trigger_kind="schedule",
            schedule_id=UUID(schedule_id),
        )
    except ExecutionRefused as refused:
        log.warning("schedule %s could not start a run: %s", schedule_id, refused)
        return None
    return str(started.execution_id)


def _schedule_input(schedule_id: str) -> dict[str, Any]:
    with system_session() as session:
        row = session.execute(
            text(
                """select c.workflow_code::jsonb -> 'schedules' as schedules, s.cron_expression
                   from workflow_scheduled_workflows s
                   join workflow_compiled_code c on c.workflow_id = s.workflow_id and c.is_active
                   where s.id = :s"""
            ),
            {"s": schedule_id},
        ).first()
    if row is None:
        return {}
    for declared in row.schedules or []:
        if declared.get("cron") == row.cron_expression:
            return dict(declared.get("input") or {})
    return {}


@DBOS.workflow(name=TICK_WORKFLOW)
def tick(scheduled_at: datetime, context: Any) -> None:
    """One firing of a cron schedule (the engine fires each tick exactly once)."""
    DBOS.run_step(
        {"name": "wfb.tick"}, start_scheduled_run, context["schedule_id"], scheduled_at.isoformat()
    )
