"""The runtime's interface for the rest of the product: start, cancel, retry, signal, query and
work-queue items. Callers pass their request's session, which runs as the calling user, so
row-level security decides what they may see and do; the engine is reached through
`engines.engine()` only, in the caller's transaction wherever it can be.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from workflow_builder.activities.contract import ActivityError
from workflow_builder.compiler import parse_expression
from workflow_builder.compiler.schemas import schema_validator
from workflow_builder.db import system_session, user_session
from workflow_builder.runtime import admission, engines
from workflow_builder.runtime.engines import engine
from workflow_builder.runtime.plans import parse_plan
from workflow_builder.runtime.port import ChildOutcome, ChildRequest, RunSpec
from workflow_builder.telemetry import metrics, tracing

log = logging.getLogger(__name__)

RUN_WORKFLOW = "wfb_run"

# The order a work queue's items are taken in (and listed).
ITEM_ORDER = {
    "fifo": "enqueued_at, id",
    "lifo": "enqueued_at desc, id desc",
    "priority": "priority desc, enqueued_at, id",
}


class ExecutionRefused(Exception):
    """The run cannot start or the operation cannot apply in the current state (409)."""


class NotFound(Exception):
    """The execution, workflow, signal, query or queue does not exist for the caller (404)."""


Overloaded = admission.Overloaded
EngineUnavailable = engines.EngineUnavailable


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

_registered: dict[str, int] = {}


def ensure_queues(task_queue: str, max_concurrent_workflows: int) -> None:
    """Register (or update) the engine queue of a task queue, limited to
    max_concurrent_workflows runs at once across every worker."""
    if _registered.get(task_queue) == max_concurrent_workflows:
        return
    engine().register_queue(task_queue, max_concurrent_workflows)
    _registered[task_queue] = max_concurrent_workflows


# -- starting runs --------------------------------------------------------------------------

_RUNNABLE_SQL = """
    select w.id, w.project_id, w.max_concurrent_executions, w.execution_timeout_seconds,
           w.engine_workflow_id, st.name as status, q.id as task_queue_id, q.name as queue_name,
           q.max_concurrent_workflows, c.id as compiled_code_id, c.workflow_code
    from workflows w
    join workflow_statuses st on st.id = w.status_id
    join task_queues q on q.id = w.task_queue_id
    left join workflow_compiled_code c on c.workflow_id = w.id and {version}
    where w.id = :w
    """
_RUNNABLE = text(_RUNNABLE_SQL.format(version="c.is_active"))
# A test run: the given compiled version of the draft, whatever the workflow's status.
_TESTABLE = text(_RUNNABLE_SQL.format(version="c.id = :v"))


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
    test_version_id: UUID | None = None,
) -> Started:
    """Record a new run of an active workflow as `user_id` (in `session`, under RLS), pinned to
    its active compiled version; with `enqueue`, hand it to the engine in the same transaction
    when it is admitted (see `admission.py`).

    `admit` skips the workflow's admission (children are admitted by their parent).
    `test_version_id` makes it a test run of that compiled version of the draft, which needs
    no deploy (`is_test` marks it).
    """
    testing = test_version_id is not None
    workflow = (
        (
            session.execute(_TESTABLE, {"w": workflow_id, "v": test_version_id})
            if testing
            else session.execute(_RUNNABLE, {"w": workflow_id})
        )
        .mappings()
        .first()
    )
    if workflow is None:
        raise NotFound("workflow")
    if testing and workflow["status"] == "archived":
        raise ExecutionRefused("the workflow is archived: move it back to draft to test it")
    if not testing and workflow["status"] != "active":
        raise ExecutionRefused(
            f"the workflow is {workflow['status']}: only an active (deployed) workflow can run"
        )
    if workflow["compiled_code_id"] is None:
        raise ExecutionRefused("the workflow has no compiled version: deploy it first")
    plan = parse_plan(str(workflow["compiled_code_id"]), workflow["workflow_code"])
    errors = _schema_errors(trigger_input_schema(plan), inputs)
    if errors:
        raise InvalidPayload("inputs", errors)
    if enqueue and not admit:
        admission.check_room(workflow)
    gated = not admit and admission.gated(
        workflow["max_concurrent_executions"], workflow["max_concurrent_workflows"]
    )
    execution_id = uuid4()
    inserted = session.execute(
        text(
            """insert into workflow_executions (id, workflow_id, engine_run_id, engine_workflow_id,
                 status, inputs, compiled_code_id, project_id, created_by, trigger_kind,
                 idempotency_key, parent_execution_id, parent_close_policy, schedule_id,
                 admitted_at, is_test, trace_parent)
               values (:id, :w, :id, :type, 'pending', cast(:inputs as jsonb), :c, :p, :u, :kind,
                 :key, :parent, :policy, :schedule, case when :gated then null else now() end,
                 :test, :trace)
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
            "test": testing,
            "trace": tracing.current_traceparent(),
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
    metrics.run_started_on_commit(session, trigger=trigger_kind, task_queue=workflow["queue_name"])
    return Started(
        execution_id, workflow["queue_name"], True, workflow["execution_timeout_seconds"]
    )


def _enqueue(session: Session, execution_id: UUID, workflow: Any, gated: bool) -> None:
    """Hand the run to its task queue in the caller's transaction, as the system, unless its
    workflow's limit holds it back (then a run that ends admits it)."""
    session.execute(text("set local role service_role"))
    if not gated or admission.admit_now(
        session, execution_id=execution_id, workflow_id=workflow["id"]
    ):
        engine().enqueue_run(session, execution_id=str(execution_id), queue=workflow["queue_name"])
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
    test_version_id: UUID | None = None,
) -> Started:
    """Start a run as `user_id`: in `session` (the request's) or in a unit of work of its own;
    with `test_version_id`, a test run of that compiled version of the draft."""
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
                test_version_id=test_version_id,
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
        test_version_id=test_version_id,
    )


def start_child(run: RunSpec, request: ChildRequest, *, enqueue: bool = True) -> ChildOutcome:
    """Create (once per parent and node key) a child run as the parent's owner, so row-level
    security decides which workflows it may start (a refusal is the node's failure); with
    `enqueue`, hand it to its task queue too (an engine with child workflows of its own starts
    it itself)."""
    if run.created_by is None:
        return ChildOutcome(
            error={"type": "ChildWorkflowRefused", "message": "the run has no owner"}
        )
    owner = UUID(run.created_by)
    try:
        with user_session(owner) as session:
            workflow_id = session.execute(
                text("select id from workflows where kebab_name = :k"), {"k": request.workflow}
            ).scalar()
            if workflow_id is None:
                raise ExecutionRefused(
                    f"workflow {request.workflow!r} does not exist or is not visible"
                )
            queue = session.execute(
                text(
                    "select q.name, q.max_concurrent_workflows from workflows w "
                    "join task_queues q on q.id = w.task_queue_id where w.id = :w"
                ),
                {"w": workflow_id},
            ).one()
            ensure_queues(queue.name, queue.max_concurrent_workflows)
            started = insert_execution(
                session,
                user_id=owner,
                workflow_id=workflow_id,
                inputs=request.inputs if isinstance(request.inputs, dict) else {},
                idempotency_key=f"child:{run.execution_id}:{request.key}",
                trigger_kind="child",
                parent_execution_id=UUID(run.execution_id),
                parent_close_policy=request.policy,
                admit=True,
                enqueue=enqueue,
            )
    except (ExecutionRefused, NotFound, InvalidPayload) as refused:
        return ChildOutcome(error={"type": "ChildWorkflowRefused", "message": str(refused)})
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != "42501":  # insufficient privilege (RLS)
            raise
        return ChildOutcome(
            error={
                "type": "ChildWorkflowRefused",
                "message": f"the run's owner may not start workflow {request.workflow!r}",
            }
        )
    return ChildOutcome(execution_id=str(started.execution_id), extra={"queue": queue.name})


# -- operating on runs ----------------------------------------------------------------------

_EXECUTION = text(
    """
    select e.id, e.status, e.engine_run_id, e.workflow_id, e.inputs, e.compiled_code_id,
           e.variables, e.admitted_at, e.completed_at, c.workflow_code,
           (select q.name from task_queues q where q.id = w.task_queue_id) as queue_name,
           w.created_by = auth.uid() as owned
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


def _in_engine(session: Session, row: Any, *, lock: bool = False) -> bool:
    """Whether the engine holds the run's signals, items and variables now: a started
    (admitted, open) run of an engine that keeps them in its workflow's state. With `lock`,
    the run's row is locked first, so an admission cannot slip in between."""
    if not engine().holds_run_state:
        return False
    started = "select admitted_at is not null and completed_at is null from workflow_executions"
    # An admitted run stays admitted: no lock is needed to know that, and none may be held
    # while the engine is asked (an update waits for the run's workflow, whose first step
    # writes this row).
    if lock and session.execute(text(f"{started} where id = :e"), {"e": row["id"]}).scalar():
        return True
    if lock:
        return bool(
            session.execute(
                text(
                    "select admitted_at is not null and completed_at is null "
                    "from workflow_executions where id = :e for update"
                ),
                {"e": row["id"]},
            ).scalar()
        )
    return row["admitted_at"] is not None and row["completed_at"] is None


def _run_plan(row: Any) -> dict[str, Any]:
    return parse_plan(str(row["compiled_code_id"]), row["workflow_code"])


def close_execution(
    session: Session, *, execution_id: UUID, status: str, error: str | None, outputs: Any = None
) -> bool:
    """Close a run (its counters and its children's parent-close policies too); False if it
    was closed already. The run, if it executes somewhere, is told and stops."""
    closed = session.execute(
        text("select public.wfb_close_execution(:e, :s, cast(:o as jsonb), :error)"),
        {
            "e": execution_id,
            "s": status,
            "o": json.dumps(outputs) if outputs is not None else None,
            "error": error,
        },
    ).scalar()
    if closed:
        metrics.run_closed(session, execution_id)
    return bool(closed)


def cancel(session: Session, *, execution_id: UUID) -> None:
    """Cancel a run, waiting or running (and apply its children's parent-close policies)."""
    row = _execution(session, execution_id, change=True)
    if row["status"] not in ("pending", "running"):
        raise ExecutionRefused(f"the run is already {row['status']}")
    with system_session() as system:  # the counters are system work, as for every closed run
        close_execution(
            system, execution_id=execution_id, status="canceled", error="canceled by a user"
        )
    engine().cancel_run(str(execution_id), row["engine_run_id"])


def retry(session: Session, *, execution_id: UUID, version: str = "original") -> str:
    """Re-run a failed run from its failed node: every node completed before it keeps its
    result, the failed node runs again. With `version` "deployed", the run continues on the
    workflow's active version (nodes it shares with the old one keep their results). Return
    the engine id of the new attempt."""
    row = _execution(session, execution_id, change=True)
    if row["status"] != "failed":
        raise ExecutionRefused(f"only a failed run can be retried; this one is {row['status']}")
    compiled_code_id = row["compiled_code_id"]
    if version == "deployed":
        compiled_code_id = session.execute(
            text("select id from workflow_compiled_code where workflow_id = :w and is_active"),
            {"w": row["workflow_id"]},
        ).scalar()
        if compiled_code_id is None:
            raise ExecutionRefused("the workflow has no deployed version")
    plan = _run_plan(row)
    handled = {n["id"] for n in plan["nodes"] if n.get("successors", {}).get("error")}
    queue = session.execute(
        text(
            "select q.name, q.max_concurrent_workflows from workflows w "
            "join task_queues q on q.id = w.task_queue_id where w.id = :w"
        ),
        {"w": row["workflow_id"]},
    ).one()
    ensure_queues(queue.name, queue.max_concurrent_workflows)
    with system_session() as system:
        attempt = system.execute(
            text(
                "select count(*) from execution_journal where execution_id = :e "
                "and key like 'retry:%'"
            ),
            {"e": execution_id},
        ).scalar()
        run_id = f"{execution_id}:retry{int(attempt or 0) + 1}"
        failed = system.execute(
            text(
                """select node_id, iteration from execution_steps
                   where execution_id = :e and status in ('failed', 'running', 'waiting')
                     and not (node_id = any(:handled) and status = 'failed')"""
            ),
            {"e": execution_id, "handled": list(handled)},
        ).all()
        for node_id, iteration in failed:
            key = f"{node_id}{iteration}"
            system.execute(
                text(
                    """delete from execution_journal where execution_id = :e
                       and (key like :calls or key like :timers or key in (:timer, :timeout))"""
                ),
                {
                    "e": execution_id,
                    "calls": f"call:{_like(key)}#%",
                    "timers": f"timer:{_like(key)}#%",
                    "timer": f"timer:{key}",
                    "timeout": f"timeout:{key}",
                },
            )
            system.execute(
                text(
                    "delete from execution_steps where execution_id = :e and node_id = :n "
                    "and iteration = :i"
                ),
                {"e": execution_id, "n": node_id, "i": iteration},
            )
        system.execute(
            text(
                """insert into execution_journal (execution_id, key, value)
                   values (:e, :k, cast(:v as jsonb))"""
            ),
            {"e": execution_id, "k": f"retry:{run_id}", "v": json.dumps({"version": version})},
        )
        system.execute(
            text(
                """update workflow_executions set status = 'running', engine_run_id = :run,
                     compiled_code_id = :c, error = null, outputs = null, completed_at = null,
                     duration_ms = null, deadline_at = null, admitted_at = now()
                   where id = :e"""
            ),
            {"e": execution_id, "run": run_id, "c": compiled_code_id},
        )
        engine().enqueue_run(
            system, execution_id=str(execution_id), queue=queue.name, run_id=run_id
        )
    return run_id


def _like(value: str) -> str:
    """Escape `value` for a LIKE pattern."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_DECLARATION = {"signals": "signal", "queries": "query", "work_queues": "work queue"}


def _declared(plan: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    for declared in plan.get(kind, []):
        if declared["name"] == name:
            return dict(declared)
    raise NotFound(f"{_DECLARATION[kind]} {name!r}")


def signal(session: Session, *, execution_id: UUID, name: str, payload: Any) -> None:
    """Deliver a signal to a run (validated against its parameters). A run that has not
    started yet keeps it until it does; a `wait_for_signal` node receives it."""
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
    if _in_engine(session, row, lock=True):
        engine().signal_run(
            session,
            execution_id=str(execution_id),
            queue=row["queue_name"],
            name=name,
            payload=payload,
        )
        return
    session.execute(
        text(
            """insert into execution_signals (execution_id, name, payload)
               values (:e, :n, cast(:p as jsonb))"""
        ),
        {"e": execution_id, "n": name, "p": json.dumps(payload)},
    )


def add_work_item(
    session: Session, *, execution_id: UUID, queue: str, item: Any, priority: int = 0
) -> dict[str, Any]:
    """Add an item to a run's work queue: validated; an item equal to one already queued is
    accepted once (deduplicated) when the queue deduplicates; refused (409) when the queue is
    full. The run, if it waits for an item, is woken."""
    row = _execution(session, execution_id, change=True)
    declared = _declared(_run_plan(row), "work_queues", queue)
    errors = _schema_errors(declared.get("work_item_schema"), item)
    if errors:
        raise InvalidPayload(f"work item for queue {queue!r}", errors)
    if row["status"] not in ("pending", "running"):
        raise ExecutionRefused(f"the run is {row['status']}: its queues take no more items")
    dedupe = (
        hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()
        if declared.get("deduplicate")
        else None
    )
    if _in_engine(session, row, lock=True):
        answer = engine().add_item(
            execution_id=str(execution_id),
            queue=row["queue_name"],
            request={"queue": queue, "item": item, "priority": priority, "dedupe": dedupe},
        )
        if answer.get("full"):
            raise ExecutionRefused(f"work queue {queue!r} is full ({declared['max_size']} items)")
        return {
            "queue": queue,
            "accepted": bool(answer["accepted"]),
            "deduplicated": bool(answer["deduplicated"]),
            "size": int(answer["size"]),
        }
    session.execute(
        text("select id from workflow_executions where id = :e for update"), {"e": execution_id}
    )
    queued = session.execute(
        text(
            """select count(*) as size, bool_or(dedupe_key = :d) as duplicate
               from work_queue_items
               where execution_id = :e and queue_name = :q and status = 'queued'"""
        ),
        {"e": execution_id, "q": queue, "d": dedupe},
    ).one()
    if queued.duplicate:
        return {"queue": queue, "accepted": False, "deduplicated": True, "size": queued.size}
    if declared.get("max_size") is not None and queued.size >= declared["max_size"]:
        raise ExecutionRefused(f"work queue {queue!r} is full ({declared['max_size']} items)")
    item_id = session.execute(
        text(
            """insert into work_queue_items (execution_id, queue_name, payload, priority,
                 dedupe_key)
               values (:e, :q, cast(:payload as jsonb), :priority, :dedupe)
               returning id"""
        ),
        {
            "e": execution_id,
            "q": queue,
            "payload": json.dumps(item),
            "priority": priority,
            "dedupe": dedupe,
        },
    ).scalar()
    return {
        "queue": queue,
        "accepted": True,
        "deduplicated": False,
        "size": queued.size + 1,
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
    if _in_engine(session, row):
        return engine().query_run(str(execution_id), name)
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
    if row["variables"] is not None:
        return dict(row["variables"])
    return {name: v.get("initial") for name, v in plan.get("variables", {}).items()}


def list_work_items(session: Session, *, execution_id: UUID, queue: str) -> list[dict[str, Any]]:
    """Return the items waiting in a run's work queue, in the order they will be taken."""
    row = _execution(session, execution_id, change=False)
    declared = _declared(_run_plan(row), "work_queues", queue)
    if _in_engine(session, row):
        return [
            {"id": None, "item": i["item"], "priority": i["priority"], "enqueued_at": None}
            for i in engine().query_run(str(execution_id), f"{queue}_items")
        ]
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


class ServiceRunControl:
    """Signals and queries a component sends to another run, through this module, as the
    run's owner (see `activities.contract.RunControl`)."""

    def signal(self, execution_id: str, owner: str, name: str, payload: Any) -> None:
        try:
            with user_session(UUID(owner)) as session:
                signal(session, execution_id=UUID(execution_id), name=name, payload=payload)
        except (NotFound, ExecutionRefused, InvalidPayload, PermissionError) as refused:
            raise _refusal(refused) from None

    def query(self, execution_id: str, owner: str, name: str) -> Any:
        try:
            with user_session(UUID(owner)) as session:
                return query(session, execution_id=UUID(execution_id), name=name)
        except (NotFound, PermissionError) as refused:
            raise _refusal(refused) from None


def _refusal(exc: Exception) -> ActivityError:
    """Return the non-retryable error a refusal of the runtime's becomes in a component."""
    return ActivityError(str(exc), error_type=type(exc).__name__, retryable=False)


RUN_CONTROL = ServiceRunControl()
