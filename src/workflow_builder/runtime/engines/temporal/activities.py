"""The Temporal activities: everything a run does outside its workflow code.

`wfb_call` is a component call: it writes the node's history row as running (with the records
the workflow kept since its last activity), runs the component on a thread of its own while
heartbeating (a worker that dies mid-call is noticed within seconds and the call retried on
another worker by its retry policy), and records the attempt's result with its statistics,
counted once per attempt. The others load a run, keep records, create a child's execution row,
close a run and start a schedule's tick; a run loads and closes itself (and keeps records) with
local activities. The workflow hands each activity what it knows of its run (`run`), so they
need not read it. Every database write retries through outages (`aio.retrying`); the runtime's
own activities are retried by Temporal forever besides.
"""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflow_builder.db import get_database
from workflow_builder.runtime import effects
from workflow_builder.runtime.aio import retrying
from workflow_builder.runtime.engines.temporal import names
from workflow_builder.runtime.journal import (
    CountedCall,
    Records,
    RunRef,
    StepRow,
    statements,
)
from workflow_builder.runtime.port import Call, ChildRequest, Outcome, RetryPolicy, RunSpec
from workflow_builder.telemetry import logs, metrics, tracing

_calls = ThreadPoolExecutor(max_workers=128, thread_name_prefix="wfb-temporal-call")
# How long a call runs before its history row says it is running (for a workflow that keeps
# results, see `call`); a call that ends sooner is written once, with its result.
RUNNING_ROW_SECONDS = 0.5


class _Connections:
    """The activities' own connections to the database: plain psycopg, autocommit, running as
    `service_role` (the system), at most POOL_SIZE open; a transaction is sent in one round
    trip (see `_transaction`)."""

    POOL_SIZE = 20

    def __init__(self) -> None:
        self._available = threading.Condition()
        self._idle: list[psycopg.Connection[DictRow]] = []
        self._open = 0
        self._url: str | None = None
        self._urls: dict[psycopg.Connection[DictRow], str] = {}  # what each one connects to

    def take(self) -> psycopg.Connection[DictRow]:
        url = get_database().url
        with self._available:
            if url != self._url:  # another database (tests): the old one's connections go
                for connection in self._idle:
                    self._urls.pop(connection, None)
                    connection.close()
                self._open -= len(self._idle)
                self._idle.clear()
                self._url = url
            while not self._idle and self._open >= self.POOL_SIZE:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            connection = psycopg.connect(
                url,
                autocommit=True,
                row_factory=dict_row,
                options="-c role=service_role",
                application_name="wfb-temporal-activities",
                connect_timeout=10,
            )
        except BaseException:
            self.give_back(None)
            raise
        with self._available:
            self._urls[connection] = url
        return connection

    def give_back(self, connection: psycopg.Connection[DictRow] | None) -> None:
        """Return a connection for reuse (None, or a closed one: it is gone)."""
        with self._available:
            url = self._urls.get(connection) if connection is not None else None
            if connection is not None and not connection.closed and url == self._url:
                self._idle.append(connection)
            else:
                if connection is not None:
                    self._urls.pop(connection, None)
                    connection.close()
                self._open -= 1
            self._available.notify()


_connections = _Connections()


def _transaction_once(steps: Sequence[tuple[str, Any]]) -> list[list[dict[str, Any]]]:
    """Run statements in one transaction sent together with its BEGIN and COMMIT: one round
    trip, so no lock a statement takes waits for this process to answer. Return each one's
    rows."""
    connection = _connections.take()
    try:
        cursors = []
        # Not connection.transaction(): in a pipeline it waits for its BEGIN and COMMIT.
        with connection.pipeline():
            connection.execute("begin")
            for sql, params in steps:
                cursors.append(connection.execute(sql, params))
            connection.execute("commit")
        # A failed statement raised above; the server skipped the COMMIT behind it, and the
        # connection, its transaction aborted, is closed below.
        results = [cursor.fetchall() if cursor.description else [] for cursor in cursors]
    except BaseException:
        connection.close()
        _connections.give_back(connection)
        raise
    _connections.give_back(connection)
    return results


def _transaction(steps: Sequence[tuple[str, Any]], what: str) -> list[list[dict[str, Any]]]:
    """Run statements (psycopg placeholders) in one transaction as the system, again through
    transient errors; return each one's rows."""
    return retrying(lambda: _transaction_once(steps), what)


def _at(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def _records(kept: Sequence[dict[str, Any]]) -> Records:
    """Return the records a workflow kept (see workflows._record, and a call's result kept
    for the run's next write: `_kept_result`) as rows to write."""
    records = Records()
    for record in kept:
        if "result" in record:
            _keep_result(records, record["result"])
            continue
        at = _at(record["at"])
        finished = record["status"] not in ("waiting", "running")
        records.keep_row(
            StepRow(
                node_id=record["node_id"],
                iteration=record["iteration"],
                node_type=record["node_type"],
                status=record["status"],
                component_id=record.get("component_id"),
                inputs=record.get("inputs"),
                outputs=record.get("outputs"),
                error=record.get("error"),
                attempts=record.get("attempts") or None,
                started_at=at,
                completed_at=at if finished else None,
            )
        )
        if record.get("component_id") and record["node_type"] in ("activity", "agent"):
            # A pure component's call, made in the workflow: counted with its row's first write.
            records.calls.append(
                CountedCall(
                    None,
                    record["component_id"],
                    record["status"] == "completed",
                    0,
                    {},
                    row=(record["node_id"], record["iteration"]),
                )
            )
    return records


def _kept_result(row: StepRow, key: str, entry: Any, counted: CountedCall) -> dict[str, Any]:
    """A call attempt's result (its history row, journal entry and statistics) as the workflow
    keeps it for the run's next write (JSON; see `_keep_result`)."""
    return {
        "row": {
            **row.as_json(),
            "metrics": dict(row.metrics) if row.metrics else None,
        },
        "key": key,
        "entry": entry,
        "counted": {
            "component_id": counted.component_id,
            "ok": counted.ok,
            "duration_ms": counted.duration_ms,
            "metrics": dict(counted.metrics),
        },
    }


def _keep_result(records: Records, kept: dict[str, Any]) -> None:
    """Add a call attempt's result kept by the workflow (`_kept_result`) to `records`: written
    with them, counted once by its journal key as when the call wrote it itself."""
    row = dict(kept["row"])
    for field in ("started_at", "completed_at"):
        row[field] = datetime.fromisoformat(row[field]) if row.get(field) else None
    records.keep_row(StepRow(**row))
    records.entries[kept["key"]] = kept["entry"]
    counted = kept["counted"]
    records.calls.append(
        CountedCall(
            kept["key"],
            counted["component_id"],
            bool(counted["ok"]),
            int(counted["duration_ms"]),
            counted["metrics"] or {},
        )
    )


_RUN = """
select e.id, e.status, e.completed_at is not null as closed, e.workflow_id, e.project_id,
  e.compiled_code_id, e.inputs, e.created_by, e.parent_execution_id, e.parent_close_policy,
  e.variables, extract(epoch from e.deadline_at)::float8 as deadline, e.trace_parent,
  q.name as task_queue_name, q.max_concurrent_activities, c.workflow_code
from workflow_executions e
join workflows w on w.id = e.workflow_id
join task_queues q on q.id = w.task_queue_id
join workflow_compiled_code c on c.id = e.compiled_code_id
where e.id = %(e)s
"""

# What a run loads besides its row, read in the same transaction as its start, each only while
# the run is open (as `wfb_start_execution` starts only an open run).
_OPEN = "exists (select 1 from workflow_executions o where o.id = %(e)s and o.completed_at is null)"
# Signals and items sent before the run started (while it waited for admission), taken by
# this Temporal run once: its retries find them again, a later run (a retry) does not.
_EARLY_SIGNALS = f"""
update execution_signals set consumed_by = %(taker)s, consumed_at = now()
where execution_id = %(e)s and (consumed_by is null or consumed_by = %(taker)s) and {_OPEN}
returning name, payload, sent_at, id
"""
_EARLY_ITEMS = f"""
update work_queue_items set status = 'taken', taken_at = now(),
  taken_by = %(taker)s || ':' || id::text
where execution_id = %(e)s
  and (status = 'queued' or taken_by = %(taker)s || ':' || id::text) and {_OPEN}
returning queue_name, payload, priority, dedupe_key, enqueued_at, id
"""
# The outputs of calls a retried run keeps (only a retry from the failed node has any).
_RECORDED = """
select node_id || iteration as key, outputs from execution_steps
where execution_id = %(e)s and status = 'completed' and node_type in ('activity', 'agent')
  and exists (select 1 from execution_journal j
              where j.execution_id = %(e)s and j.key like 'retry:%%')
"""
_BLOCK_UNTIL = """
select child_workflow_name, block_until from workflow_child_workflows
where parent_workflow_id = (select workflow_id from workflow_executions where id = %(e)s)
  and block_until is not null
"""


@activity.defn(name=names.LOAD)
def load(execution_id: str) -> dict[str, Any]:
    """Mark the run running (counted the first time) and return what its workflow needs, in
    one transaction."""
    from workflow_builder.activities.registry import pure_implementations

    info = activity.info()
    params = {"e": execution_id, "taker": f"start:{info.workflow_run_id}"}
    started, _, rows, signals, items, recorded, blocks = _transaction(
        [
            ("select public.wfb_start_execution(%(e)s) as started", params),
            (
                "update workflow_executions set engine_run_id = %(r)s, "
                "engine_workflow_id = %(w)s where id = %(e)s and completed_at is null",
                {"e": execution_id, "r": info.workflow_run_id, "w": info.workflow_id},
            ),
            (_RUN, params),
            (_EARLY_SIGNALS, params),
            (_EARLY_ITEMS, params),
            (_RECORDED, params),
            (_BLOCK_UNTIL, params),
        ],
        "loading a run",
    )
    row = rows[0]
    if row["closed"] or not started[0]["started"]:
        return {"closed": True, "status": row["status"]}
    return {
        "closed": False,
        "status": row["status"],
        "run": {
            "execution_id": execution_id,
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
            "max_concurrent_activities": int(row["max_concurrent_activities"]),
            "variables": row["variables"],
            "deadline": float(row["deadline"]),
            "trace_parent": row["trace_parent"],
        },
        "deadline": float(row["deadline"]),
        "plan": json.loads(row["workflow_code"]),
        "pure_implementations": sorted(pure_implementations()),
        "recorded": {r["key"]: r["outputs"] for r in recorded},
        "block_until": {r["child_workflow_name"]: r["block_until"] for r in blocks},
        "signals": [
            {"name": s["name"], "payload": s["payload"]}
            for s in sorted(signals, key=lambda s: (s["sent_at"], str(s["id"])))
        ],
        "items": [
            {
                "queue": i["queue_name"],
                "item": i["payload"],
                "priority": i["priority"],
                "dedupe": i["dedupe_key"],
            }
            for i in sorted(items, key=lambda i: (i["enqueued_at"], str(i["id"])))
        ],
    }


@lru_cache(maxsize=4096)
def _run(execution_id: str) -> RunSpec:
    """What a call needs to know of its run (read once per process: it never changes)."""
    [row] = _transaction([(_RUN, {"e": execution_id})], "reading a run")[0]
    return RunSpec(
        execution_id=execution_id,
        workflow_id=str(row["workflow_id"]),
        project_id=str(row["project_id"]) if row["project_id"] else None,
        compiled_code_id=str(row["compiled_code_id"]),
        inputs=row["inputs"],
        created_by=str(row["created_by"]) if row["created_by"] else None,
        parent_execution_id=None,
        parent_close_policy=None,
        task_queue_name=row["task_queue_name"],
        max_concurrent_activities=int(row["max_concurrent_activities"]),
        plan={},
        trace_parent=row["trace_parent"],
    )


def _run_of(request: dict[str, Any]) -> RunSpec:
    """The run an activity works for: as the workflow hands it (`run`, see
    workflows.RunWorkflow._ref), else read once per process."""
    ref = request.get("run")
    if ref is None:
        return _run(request["execution_id"])
    return RunSpec(
        execution_id=request["execution_id"],
        workflow_id=ref["workflow_id"],
        project_id=ref["project_id"],
        compiled_code_id=ref["compiled_code_id"],
        inputs=None,
        created_by=ref["created_by"],
        parent_execution_id=None,
        parent_close_policy=None,
        task_queue_name=ref["task_queue_name"],
        max_concurrent_activities=int(ref["max_concurrent_activities"]),
        plan={},
        trace_parent=ref["trace_parent"],
    )


def _write(run: RunSpec, records: Records, what: str) -> None:
    if records:
        ref = RunRef(run.execution_id, run.workflow_id, run.project_id)
        _transaction(statements(ref, records), what)


@activity.defn(name=names.CALL)
def call(request: dict[str, Any]) -> dict[str, Any]:
    """One attempt of a component call (Temporal retries it by the node's retry policy)."""
    info = activity.info()
    run = _run_of(request)
    attempt = info.attempt
    retry = RetryPolicy(
        maximum_attempts=int(request["retry"]["maximum_attempts"]),
        non_retryable_error_types=tuple(request["retry"]["non_retryable_error_types"]),
    )
    node = request["node"]
    component_id = request["component"].get("id")
    kept = list(request.get("records") or [])
    records = _records(kept)
    records.keep_row(
        StepRow(
            node_id=node["id"],
            iteration=request["iteration"],
            node_type=node["type"],
            status="running",
            component_id=component_id,
            inputs=request["inputs"],
            attempts=attempt,
            started_at=datetime.now(UTC),
        )
    )
    # A workflow that keeps results (`keep_result`) has the call's running row written only
    # once the call has lasted RUNNING_ROW_SECONDS: a shorter call's rows, the records the
    # workflow handed it included, are written with its result.
    written = not request.get("keep_result")
    if written:
        _write(run, records, "a call's start")

    def write_start() -> None:
        nonlocal written
        _write(run, records, "a call's start")
        written = True

    the_call = Call(
        node,
        request["component"],
        request["key"],
        request["iteration"],
        request["inputs"],
        retry,
        attempt,
    )
    clock = datetime.now(UTC)
    span = tracing.call_span_under(
        run.trace_parent,
        node=node["id"],
        component=str(request["component"].get("name")),
        attempt=attempt,
    )
    outcome = _heartbeating(run, the_call, span, None if written else write_start)
    tracing.end_call(span, outcome)
    duration_ms = int((datetime.now(UTC) - clock).total_seconds() * 1000)
    ok = bool(outcome.get("ok"))
    error = outcome.get("error")
    if ok:
        status = "completed"
    else:
        assert error is not None
        status = "failed" if retry.final(attempt, error) else "running"
    metrics = outcome.get("metrics") or {}
    key = f"call:{request['key']}#{attempt}"
    row = StepRow(
        node_id=node["id"],
        iteration=request["iteration"],
        node_type=node["type"],
        status=status,
        component_id=component_id,
        outputs=outcome.get("output") if ok else None,
        error=None if ok or error is None else error["message"],
        metrics=metrics or None,
        attempts=attempt,
        completed_at=datetime.now(UTC) if status != "running" else None,
        attempt_key=f"{run.execution_id}:{request['key']}#{attempt}",
    )
    entry = {"ok": ok, "error": None if ok else error}
    counted = CountedCall(key, component_id, ok, duration_ms, metrics)
    if written:
        records, kept = Records(), []
    if ok and request.get("keep_result"):
        # The workflow writes them with the run's next write (it asked to: see
        # workflows.RunWorkflow.call); Temporal keeps them in the run's history meanwhile.
        if not written:  # the running row was not written: its inputs and start go along
            row = records.rows[(row.node_id, row.iteration)].merge(row)
        result = _kept_result(row, key, entry, counted)
        return {"output": outcome.get("output"), "kept": [*kept, {"result": result}]}
    records.keep_row(row)
    records.entries[key] = entry
    records.calls.append(counted)
    _write(run, records, "a call's result")
    if not ok:
        assert error is not None
        raise ApplicationError(
            error["message"], type=error["type"], non_retryable=not error["retryable"]
        )
    return {"output": outcome.get("output")}


def _heartbeating(
    run: RunSpec, the_call: Call, span: Any = None, late_start: Callable[[], None] | None = None
) -> Outcome:
    """Run the call on a thread of its own (in `span`, when traced), heartbeating meanwhile;
    `late_start`, when given, runs once the call has lasted RUNNING_ROW_SECONDS."""
    context = contextvars.copy_context()  # the call's logs name its run and node
    context.run(logs.EXECUTION_ID.set, run.execution_id)
    context.run(logs.NODE_ID.set, the_call.node["id"])
    future = _calls.submit(context.run, tracing.within(span, effects.invoke), run, the_call)
    if late_start is not None:
        try:
            return future.result(timeout=RUNNING_ROW_SECONDS)
        except TimeoutError:
            late_start()
    # The first heartbeat after HEARTBEAT_SECONDS, not at once: a call that ends sooner costs
    # the Temporal server no heartbeat (HEARTBEAT_TIMEOUT_SECONDS runs from the call's start).
    while True:
        try:
            return future.result(timeout=names.HEARTBEAT_SECONDS)
        except TimeoutError:
            activity.heartbeat()


@activity.defn(name=names.RECORD)
def record(request: dict[str, Any]) -> None:
    """Write the records a workflow kept (before it waits)."""
    run = _run_of(request)
    _write(run, _records(request["records"]), "a run's records")


@activity.defn(name=names.CREATE_CHILD)
def create_child(request: dict[str, Any]) -> dict[str, Any]:
    """Create (once) a child's execution row as the parent's owner; its workflow starts it."""
    from workflow_builder.runtime.service import start_child

    run = _run_of(request)
    _write(run, _records(request.get("records") or []), "a run's records")
    spec = RunSpec(**{**run.__dict__, "created_by": request.get("created_by") or run.created_by})
    child = retrying(
        lambda: tracing.continuing(run.trace_parent, start_child)(
            spec,
            ChildRequest(
                key=request["key"],
                workflow=request["workflow"],
                policy=request["policy"],
                inputs=request["inputs"],
                wait=True,
            ),
            enqueue=False,
        ),
        "creating a child run",
    )
    if child.error is not None:
        return {"error": child.error}
    return {"execution_id": child.execution_id, "queue": child.extra["queue"]}


# Whether runs of the task queue wait for admission, asked last in the transaction that closes
# a run (every run on Temporal goes through admission). The share lock on the queue row waits
# for an admission in flight, which holds it `for no key update` until it commits, without
# making closes wait for each other; the next statement, with a snapshot of its own, sees what
# that admission committed (a run it held back because this one was still open), and an
# admission after this commit sees this run closed.
_HOLD_QUEUE = """
select 1 from task_queues q join workflows w on w.task_queue_id = q.id
where w.id = %(w)s for share of q
"""
_WAITING = """
select w.task_queue_id as queue, exists (
  select 1 from workflow_executions x join workflows y on y.id = x.workflow_id
  where y.task_queue_id = w.task_queue_id and x.admitted_at is null and x.completed_at is null
) as waiting
from workflows w where w.id = %(w)s
"""


# How the run stands once closed, read in the closing transaction: the status a close that
# found it closed already answers, and what the run metrics count (telemetry.metrics).
_ENDED = """
select e.status, e.trigger_kind, q.name as task_queue,
  extract(epoch from (coalesce(e.completed_at, now()) - e.started_at))::float8 as seconds
from workflow_executions e
join workflows w on w.id = e.workflow_id
join task_queues q on q.id = w.task_queue_id
where e.id = %(e)s
"""


@activity.defn(name=names.CLOSE)
def close(request: dict[str, Any]) -> bool | str:
    """Write the run's last records and close it (counters, children's policies); admit the
    runs waiting behind it. Returns True when this closed the run; when it was closed already
    (by a cancel, or by this activity's earlier attempt whose result Temporal did not keep),
    the status it was closed with."""
    from workflow_builder.runtime.admission import admit_waiting

    run = _run_of(request)
    records = _records(request.get("records") or [])
    records.variables = request.get("variables")
    ref = RunRef(run.execution_id, run.workflow_id, run.project_id)
    ending = (request["status"], request.get("output"), request.get("error"))
    queue = {"w": run.workflow_id}
    *results, [ended], _, found = _transaction(
        [
            *statements(ref, records, close=ending),
            (_ENDED, {"e": run.execution_id}),
            (_HOLD_QUEUE, queue),
            (_WAITING, queue),
        ],
        "closing a run",
    )
    closed = bool(results[-1][0]["closed"])
    if closed:
        metrics.run_finished(
            status=ended["status"],
            trigger=ended["trigger_kind"] or "manual",
            task_queue=ended["task_queue"],
            seconds=ended["seconds"],
        )
    if found and found[0]["waiting"]:
        try:
            retrying(lambda: admit_waiting(found[0]["queue"]), "admitting waiting runs")
        except Exception:  # every heartbeat admits what still fits
            activity.logger.exception("admitting the runs waiting behind a run failed")
    return True if closed else str(ended["status"])


@activity.defn(name=names.TICK)
def tick(request: dict[str, Any]) -> str | None:
    """Start the run of one schedule tick (once per tick, by its key)."""
    from workflow_builder.runtime.schedules import start_scheduled_run

    return start_scheduled_run(request["schedule_id"], request["tick"])


ACTIVITIES: list[Callable[..., Any]] = [load, call, record, create_child, close, tick]
