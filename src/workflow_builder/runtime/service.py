"""The runtime's interface for the rest of the product: deploy, start, cancel, retry,
signal, query, work-queue items and describe. Callers pass their request's session, which runs
as the calling user, so row-level security decides what they may see and do; the engine is
reached only from here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.orm import Session

from workflow_builder.compiler import parse_expression
from workflow_builder.compiler.schemas import schema_validator
from workflow_builder.db import system_session, user_session
from workflow_builder.executions.tracking import execution_finished
from workflow_builder.runtime import engine
from workflow_builder.runtime.coordination import (
    ADMISSION_WORKFLOW,
    ITEM_ORDER,
    TICK_WORKFLOW,
    close_children,
    wake,
)
from workflow_builder.runtime.interpreter import (
    RUN_WORKFLOW,
    VARS_EVENT,
    signal_topic,
    work_queue_topic,
)
from workflow_builder.runtime.steps import parse_plan

log = logging.getLogger(__name__)


class ExecutionRefused(Exception):
    """The run cannot start or the operation cannot apply in the current state (409)."""


class NotFound(Exception):
    """The execution, workflow, signal, query or queue does not exist for the caller (404)."""


class InvalidPayload(Exception):
    """A payload does not match its schema; `errors` are (JSON pointer, message) pairs (422)."""

    def __init__(self, what: str, errors: list[tuple[str, str]]) -> None:
        super().__init__(f"{what} does not match its schema")
        self.what = what
        self.errors = errors


@dataclass(frozen=True)
class Started:
    """A run that was started (or found, for a repeated idempotency key)."""

    execution_id: UUID
    queue_name: str
    created: bool
    timeout_seconds: int


def _schema_errors(schema: dict[str, Any] | None, value: Any) -> list[tuple[str, str]]:
    if not schema:
        return []
    validator = schema_validator(schema)
    return [
        ("/" + "/".join(str(p) for p in error.absolute_path), error.message)
        for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    ]


def trigger_input_schema(plan: dict[str, Any]) -> dict[str, Any]:
    """Return the workflow's input JSON Schema (its trigger's)."""
    for node in plan["nodes"]:
        if node["type"] == "trigger":
            schema: dict[str, Any] = node.get("config", {}).get("input_schema") or {}
            return schema
    return {}


# -- queues ---------------------------------------------------------------------------------

_registered: dict[str, tuple[int | None, int | None]] = {}


def ensure_queues(task_queue: str, max_concurrent_workflows: int) -> None:
    """Register (or update) the engine queues of a task queue: the queue its runs execute on,
    limited to max_concurrent_workflows, and its admission queue (one admission at a time per
    workflow)."""
    wanted = (max_concurrent_workflows, 1)
    if _registered.get(task_queue) == wanted:
        return
    client = engine.client()
    client.register_queue(
        task_queue,
        global_concurrency=max_concurrent_workflows,
        polling_interval_sec=engine.QUEUE_POLLING_SECONDS,
        on_conflict="always_update",
    )
    client.register_queue(
        engine.admission_queue(task_queue),
        partition_concurrency=1,
        polling_interval_sec=engine.QUEUE_POLLING_SECONDS * 2,
        on_conflict="always_update",
    )
    _registered[task_queue] = wanted


# -- starting runs --------------------------------------------------------------------------

_RUNNABLE = text(
    """
    select w.id, w.project_id, w.max_concurrent_executions, w.execution_timeout_seconds,
           w.engine_workflow_id, st.name as status, q.name as queue_name,
           q.max_concurrent_workflows, c.id as compiled_code_id, c.workflow_code
    from workflows w
    join workflow_statuses st on st.id = w.status_id
    join task_queues q on q.id = w.task_queue_id
    left join workflow_compiled_code c on c.workflow_id = w.id and c.is_active
    where w.id = :w
    """
)


def insert_execution(
    session: Session,
    *,
    user_id: UUID,
    workflow_id: UUID,
    inputs: dict[str, Any],
    idempotency_key: str | None = None,
    trigger_kind: str = "manual",
    parent_execution_id: UUID | None = None,
    parent_close_policy: str | None = None,
    schedule_id: UUID | None = None,
    admit: bool = False,
    enqueue: bool = False,
) -> Started:
    """Record a new run of an active workflow as `user_id` (in `session`, under RLS), pinned to
    its active compiled version; with `enqueue`, hand it to the engine in the same transaction.

    `admit` skips the workflow's admission queue (children are admitted by their parent).
    """
    workflow = session.execute(_RUNNABLE, {"w": workflow_id}).mappings().first()
    if workflow is None:
        raise NotFound("workflow")
    if workflow["status"] != "active":
        raise ExecutionRefused(
            f"the workflow is {workflow['status']}: only an active (deployed) workflow can run"
        )
    if workflow["compiled_code_id"] is None:
        raise ExecutionRefused("the workflow has no compiled version: deploy it first")
    plan = parse_plan(str(workflow["compiled_code_id"]), workflow["workflow_code"])
    errors = _schema_errors(trigger_input_schema(plan), inputs)
    if errors:
        raise InvalidPayload("inputs", errors)
    gated = not admit and (
        workflow["max_concurrent_executions"] < workflow["max_concurrent_workflows"]
    )
    execution_id = uuid4()
    inserted = session.execute(
        text(
            """insert into workflow_executions (id, workflow_id, engine_run_id, engine_workflow_id,
                 status, inputs, compiled_code_id, project_id, created_by, trigger_kind,
                 idempotency_key, parent_execution_id, parent_close_policy, schedule_id,
                 admitted_at)
               values (:id, :w, :id, :type, 'pending', cast(:inputs as jsonb), :c, :p, :u, :kind,
                 :key, :parent, :policy, :schedule, case when :gated then null else now() end)
               on conflict (workflow_id, idempotency_key) do nothing
               returning id"""
        ),
        {
            "id": execution_id,
            "w": workflow_id,
            "type": workflow["engine_workflow_id"] or RUN_WORKFLOW,
            "inputs": json.dumps(inputs),
            "c": workflow["compiled_code_id"],
            "p": workflow["project_id"],
            "u": user_id,
            "kind": trigger_kind,
            "key": idempotency_key,
            "parent": parent_execution_id,
            "policy": parent_close_policy,
            "schedule": schedule_id,
            "gated": gated,
        },
    ).scalar()
    if inserted is None:
        existing = session.execute(
            text(
                "select id from workflow_executions where workflow_id = :w "
                "and idempotency_key = :key"
            ),
            {"w": workflow_id, "key": idempotency_key},
        ).scalar_one()
        return Started(
            existing, workflow["queue_name"], False, workflow["execution_timeout_seconds"]
        )
    if enqueue:
        _enqueue(session, execution_id, workflow, gated)
    return Started(
        execution_id, workflow["queue_name"], True, workflow["execution_timeout_seconds"]
    )


_LOCK_WORKFLOW = text(
    "select max_concurrent_executions from workflows where id = :w for update skip locked"
)

# Admit a run now if its workflow is under its limit and no earlier run waits for admission.
# A statement of its own, after the lock, so its snapshot sees every admission committed by
# whoever held the lock before.
_ADMIT_NOW = text(
    """
    update workflow_executions set admitted_at = now()
    where id = :e
      and (select count(*) from workflow_executions
           where workflow_id = :w and admitted_at is not null and completed_at is null) < :limit
      and not exists (select 1 from workflow_executions
                      where workflow_id = :w and admitted_at is null and completed_at is null
                        and id <> :e)
    returning id
    """
)


def _admit_now(session: Session, execution_id: UUID, workflow_id: UUID) -> bool:
    """Admit a gated run in its own start transaction when its workflow has room.

    The workflow row's lock serializes admissions (the admission workflow takes it too).
    When another transaction holds it, the run goes through the admission queue instead of
    waiting here, so concurrent starts never queue up behind each other's locks.
    """
    limit = session.execute(_LOCK_WORKFLOW, {"w": workflow_id}).scalar()
    if limit is None:
        return False
    admitted = session.execute(
        _ADMIT_NOW, {"e": execution_id, "w": workflow_id, "limit": limit}
    ).scalar()
    return admitted is not None


def _enqueue(session: Session, execution_id: UUID, workflow: Any, gated: bool) -> None:
    """Enqueue the run in the caller's transaction, as the system: on its task queue, or, when
    its workflow's limit may be reached, on the admission queue (unless it has room now)."""
    session.execute(text("set local role service_role"))
    if gated and _admit_now(session, execution_id, workflow["id"]):
        gated = False
    options: Any
    if gated:
        options = {
            "workflow_name": ADMISSION_WORKFLOW,
            "queue_name": engine.admission_queue(workflow["queue_name"]),
            "workflow_id": f"admit-{execution_id}",
            "queue_partition_key": str(workflow["id"]),
        }
    else:
        options = {
            "workflow_name": RUN_WORKFLOW,
            "queue_name": workflow["queue_name"],
            "workflow_id": str(execution_id),
            "workflow_timeout": float(workflow["execution_timeout_seconds"]),
        }
    engine.client().enqueue_in_transaction(session, options, str(execution_id))
    session.execute(text("set local role authenticated"))


def start_execution(
    *,
    user_id: UUID,
    workflow_id: UUID,
    inputs: dict[str, Any],
    idempotency_key: str | None = None,
    trigger_kind: str = "manual",
    schedule_id: UUID | None = None,
    session: Session | None = None,
) -> Started:
    """Start a run as `user_id`: in `session` (the request's) or in a unit of work of its own."""
    if session is None:
        with user_session(user_id) as own:
            return start_execution(
                user_id=user_id,
                workflow_id=workflow_id,
                inputs=inputs,
                idempotency_key=idempotency_key,
                trigger_kind=trigger_kind,
                schedule_id=schedule_id,
                session=own,
            )
    queue = session.execute(
        text(
            "select q.name, q.max_concurrent_workflows from workflows w "
            "join task_queues q on q.id = w.task_queue_id where w.id = :w"
        ),
        {"w": workflow_id},
    ).first()
    if queue is None:
        raise NotFound("workflow")
    ensure_queues(queue.name, queue.max_concurrent_workflows)
    return insert_execution(
        session,
        user_id=user_id,
        workflow_id=workflow_id,
        inputs=inputs,
        idempotency_key=idempotency_key,
        trigger_kind=trigger_kind,
        schedule_id=schedule_id,
        enqueue=True,
    )


# -- operating on runs ----------------------------------------------------------------------

_EXECUTION = text(
    """
    select e.id, e.status, e.engine_run_id, e.workflow_id, e.inputs, e.compiled_code_id,
           c.workflow_code, w.created_by = auth.uid() as owned
    from workflow_executions e
    join workflows w on w.id = e.workflow_id
    left join workflow_compiled_code c on c.id = e.compiled_code_id
    where e.id = :e
    """
)


def _execution(session: Session, execution_id: UUID, *, change: bool) -> Any:
    row = session.execute(_EXECUTION, {"e": execution_id}).mappings().first()
    if row is None:
        raise NotFound("execution")
    if change and not row["owned"]:
        raise PermissionError("only the workflow's owner can operate on its runs")
    return row


def _run_plan(row: Any) -> dict[str, Any]:
    return parse_plan(str(row["compiled_code_id"]), row["workflow_code"])


def cancel(session: Session, *, execution_id: UUID) -> None:
    """Cancel a run (and apply its children's parent-close policies)."""
    row = _execution(session, execution_id, change=True)
    if row["status"] not in ("pending", "running"):
        raise ExecutionRefused(f"the run is already {row['status']}")
    client = engine.client()
    client.cancel_workflow(f"admit-{execution_id}")
    client.cancel_workflow(row["engine_run_id"])
    wake(row["engine_run_id"], _run_plan(row))
    close_children(str(execution_id))
    with system_session() as system:  # the counters are system work, as for every closed run
        execution_finished(
            system, execution_id=execution_id, status="canceled", error="canceled by a user"
        )


def retry(session: Session, *, execution_id: UUID) -> str:
    """Re-run a failed run from its failed node, reusing every step completed before it;
    return the engine id of the new attempt."""
    row = _execution(session, execution_id, change=True)
    if row["status"] != "failed":
        raise ExecutionRefused(f"only a failed run can be retried; this one is {row['status']}")
    failed = session.execute(
        text(
            """select node_id || iteration from execution_steps
               where execution_id = :e and status = 'failed'
               order by completed_at desc nulls last limit 1"""
        ),
        {"e": execution_id},
    ).scalar()
    client = engine.client()
    steps = client.list_workflow_steps(row["engine_run_id"])
    start = next(
        (s["function_id"] for s in steps if failed and s["function_name"] == f"{failed}#1"),
        None,
    )
    if start is None:  # the run failed outside a component call: replay after its start
        start = next(
            (s["function_id"] + 1 for s in steps if s["function_name"] == "wfb.started"), 1
        )
    forked = client.fork_workflow(row["engine_run_id"], start)
    new_run = forked.get_workflow_id()
    session.execute(
        text(
            """update workflow_executions set status = 'running', engine_run_id = :run,
                 error = null, outputs = null, completed_at = null, duration_ms = null
               where id = :e"""
        ),
        {"e": execution_id, "run": new_run},
    )
    return new_run


def _declared(plan: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    for declared in plan.get(kind, []):
        if declared["name"] == name:
            return dict(declared)
    raise NotFound(f"{kind[:-1].replace('_', ' ')} {name!r}")


def signal(session: Session, *, execution_id: UUID, name: str, payload: Any) -> None:
    """Deliver a signal to a waiting or running run (validated against its parameters)."""
    row = _execution(session, execution_id, change=True)
    plan = _run_plan(row)
    declared = _declared(plan, "signals", name)
    if declared.get("work_queue"):
        add_work_item(
            session, execution_id=execution_id, queue=declared["work_queue"], item=payload
        )
        return
    errors = _schema_errors(declared.get("parameters"), payload)
    if errors:
        raise InvalidPayload(f"signal {name!r} payload", errors)
    if row["status"] not in ("pending", "running"):
        raise ExecutionRefused(f"the run is {row['status']}: it takes no more signals")
    engine.client().send(row["engine_run_id"], {"payload": payload}, signal_topic(name))


def add_work_item(
    session: Session, *, execution_id: UUID, queue: str, item: Any, priority: int = 0
) -> dict[str, Any]:
    """Add an item to a run's work queue: validated, deduplicated if the queue says so,
    refused (409) when the queue is full; wakes the run if it waits for an item."""
    row = _execution(session, execution_id, change=True)
    declared = _declared(_run_plan(row), "work_queues", queue)
    errors = _schema_errors(declared.get("work_item_schema"), item)
    if errors:
        raise InvalidPayload(f"work item for queue {queue!r}", errors)
    if row["status"] not in ("pending", "running"):
        raise ExecutionRefused(f"the run is {row['status']}: its queues take no more items")
    session.execute(
        text("select id from workflow_executions where id = :e for update"), {"e": execution_id}
    )
    queued = session.execute(
        text(
            "select count(*) from work_queue_items where execution_id = :e "
            "and queue_name = :q and status = 'queued'"
        ),
        {"e": execution_id, "q": queue},
    ).scalar_one()
    if declared.get("max_size") is not None and queued >= declared["max_size"]:
        raise ExecutionRefused(f"work queue {queue!r} is full ({declared['max_size']} items)")
    dedupe = (
        hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()
        if declared.get("deduplicate")
        else None
    )
    item_id = session.execute(
        text(
            """insert into work_queue_items (execution_id, queue_name, payload, priority,
                 dedupe_key)
               values (:e, :q, cast(:payload as jsonb), :priority, :dedupe)
               on conflict do nothing returning id"""
        ),
        {
            "e": execution_id,
            "q": queue,
            "payload": json.dumps(item),
            "priority": priority,
            "dedupe": dedupe,
        },
    ).scalar()
    if item_id is None:
        return {"queue": queue, "accepted": False, "deduplicated": True, "size": queued}
    engine.client().send(row["engine_run_id"], {"wake": True}, work_queue_topic(queue))
    return {
        "queue": queue,
        "accepted": True,
        "deduplicated": False,
        "size": queued + 1,
        "item_id": str(item_id),
    }


def query(session: Session, *, execution_id: UUID, name: str) -> Any:
    """Answer a query from the run's current state (also while it waits)."""
    row = _execution(session, execution_id, change=False)
    plan = _run_plan(row)
    for queue in plan.get("work_queues", []):
        if name == f"{queue['name']}_items":
            return list_work_items(session, execution_id=execution_id, queue=queue["name"])
    declared = _declared(plan, "queries", name)
    state = {
        "input": row["inputs"],
        "vars": run_variables(row, plan),
        "nodes": {
            node_id: {"status": status, "output": output}
            for node_id, status, output in session.execute(
                text(
                    "select node_id, status, outputs from execution_steps "
                    "where execution_id = :e and iteration = ''"
                ),
                {"e": execution_id},
            )
        },
    }
    return parse_expression(declared.get("expression") or "vars").search(state)


def run_variables(row: Any, plan: dict[str, Any]) -> dict[str, Any]:
    """Return the run's variables as it last published them (initially, their initial values)."""
    published = engine.client().get_event(row["engine_run_id"], VARS_EVENT, timeout_seconds=0)
    if published is not None:
        return dict(published)
    return {name: v.get("initial") for name, v in plan.get("variables", {}).items()}


def list_work_items(session: Session, *, execution_id: UUID, queue: str) -> list[dict[str, Any]]:
    """Return the items waiting in a run's work queue, in the order they will be taken."""
    declared = _declared(
        _run_plan(_execution(session, execution_id, change=False)), "work_queues", queue
    )
    order = ITEM_ORDER[declared.get("priority", "fifo")]
    rows = session.execute(
        text(
            f"""select id, payload, priority, enqueued_at from work_queue_items
                where execution_id = :e and queue_name = :q and status = 'queued'
                order by {order}"""
        ),
        {"e": execution_id, "q": queue},
    ).mappings()
    return [
        {
            "id": str(r["id"]),
            "item": r["payload"],
            "priority": r["priority"],
            "enqueued_at": r["enqueued_at"].isoformat(),
        }
        for r in rows
    ]


# -- deploying ------------------------------------------------------------------------------


def register_schedules(session: Session, *, workflow_id: UUID, queue_name: str) -> int:
    """Create (or replace) the engine schedules of a workflow's schedule rows; return how many."""
    rows = session.execute(
        text(
            "select id, cron_expression, timezone, start_immediately, is_active "
            "from workflow_scheduled_workflows where workflow_id = :w"
        ),
        {"w": workflow_id},
    ).all()
    client = engine.client()
    for row in rows:
        name = engine.schedule_name(str(row.id))
        client.delete_schedule(name)
        if not row.is_active:
            continue
        client.create_schedule(
            schedule_name=name,
            workflow_name=TICK_WORKFLOW,
            schedule=row.cron_expression,
            context={"schedule_id": str(row.id)},
            cron_timezone=row.timezone,
            queue_name=queue_name,
        )
        if row.start_immediately:
            client.trigger_schedule(name)
    return len(rows)


def unregister_schedules(session: Session, *, workflow_id: UUID) -> None:
    """Remove a workflow's engine schedules (its rows stay)."""
    ids = session.execute(
        text("select id from workflow_scheduled_workflows where workflow_id = :w"),
        {"w": workflow_id},
    ).scalars()
    client = engine.client()
    for schedule_id in ids:
        client.delete_schedule(engine.schedule_name(str(schedule_id)))
