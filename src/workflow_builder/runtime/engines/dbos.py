"""The DBOS adapter: runs as DBOS workflows in the product's own PostgreSQL.

DBOS gives each run its envelope: the task queue it waits on (a DBOS queue, its global
concurrency the task queue's `max_concurrent_workflows`), dequeuing by any worker that listens
to the queue, the workflow's status row, and its *ownership token*: a token DBOS writes when a
worker claims the run and resets whenever the run is handed to another worker. Inside that
envelope the interpreter's effects and waits are keyed records in the run's journal (see
`journal.py`), each write fenced by the token, rather than DBOS steps: DBOS numbers a
workflow's steps in the order they start, and branches running concurrently start in an order
a replay cannot reproduce.

So, for one run (the DBOS workflow `wfb_run(execution_id)`):

- it loads its pinned plan and, on a replay, its journal, in one statement that also marks it
  running (fenced);
- before a component call it writes the call's history row as running (fenced: the call only
  starts while the run is still this worker's), runs the call on a thread, and keeps the result
  with its statistics for the next write, which follows within a few turns of the event loop
  unless another write takes it along first;
- timers are wake-up times in the journal, slept locally; signals and work-queue items are rows
  claimed by the waiting node's key; the database notifies a waiting run (see `events.py`);
- its end is one transaction: the last records, the run's row, counters and its children's
  parent-close policies.

A run that finds its fence gone stops at once without writing (another worker owns it now);
DBOS records nothing for it either.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from dbos import DBOS, DBOSClient
from dbos._context import current_owner_xid
from dbos._error import DBOSNonExistentWorkflowError
from sqlalchemy.orm import Session

from workflow_builder.compiler import INTERPRETER_VERSION
from workflow_builder.config import get_settings
from workflow_builder.db import Database, get_database
from workflow_builder.runtime import effects
from workflow_builder.runtime.aio import AsyncPool, retrying
from workflow_builder.runtime.events import RECHECK_SECONDS, RunEvents
from workflow_builder.runtime.interpreter import Interpreter, RunEnd
from workflow_builder.runtime.journal import (
    CountedCall,
    FenceLost,
    RunJournal,
    RunRef,
    StepRow,
    now,
)
from workflow_builder.runtime.lease import LEASE
from workflow_builder.runtime.plans import parse_plan
from workflow_builder.runtime.port import (
    Call,
    ChildOutcome,
    ChildRequest,
    Interrupted,
    NodeRecord,
    Outcome,
    RunSpec,
)
from workflow_builder.runtime.pure import run_pure
from workflow_builder.telemetry import logs, metrics, tracing

log = logging.getLogger(__name__)

APP_NAME = "workflow-builder"
APP_VERSION = INTERPRETER_VERSION.replace("/", "-")
SYSTEM_SCHEMA = "dbos"
RUN_WORKFLOW = "wfb_run"
TICK_WORKFLOW = "wfb_tick"
# Connections of the engine's own pool in a worker process (queues, workflow status).
ENGINE_POOL_SIZE = 8
# Connections of the runs' journal pool in a worker process.
JOURNAL_POOL_SIZE = 10
# How often a worker looks for new work on a queue: the floor of a run's start latency.
QUEUE_POLLING_SECONDS = 0.05
# Component calls of one worker process running at once (their threads).
CALL_THREADS = 128

# Holds while this process owns the run: DBOS's token on the workflow's status row, locked so
# that a hand-over waits for the write (or the write sees the hand-over).
FENCE = (
    f"select 1 from {SYSTEM_SCHEMA}.workflow_status where workflow_uuid = %(run)s "
    "and owner_xid = %(owner)s and status = 'PENDING' for share"
)

# A run starts (or resumes after a crash or a hand-over): fenced, it is marked running (and
# counted the first time), then everything it needs is read; one transaction, one round trip.
_START = f"select public.wfb_start_execution(%(e)s) as started from ({FENCE}) as fence"

_LOAD = """
select e.status, e.completed_at is not null as closed,
  e.workflow_id, e.project_id, e.compiled_code_id, e.inputs, e.created_by,
  e.parent_execution_id, e.parent_close_policy, e.variables, e.trigger_kind, e.trace_parent,
  w.kebab_name as workflow_name, c.version as workflow_version,
  extract(epoch from e.started_at)::float8 as started_epoch,
  extract(epoch from e.deadline_at)::float8 as deadline,
  e.cancel_requested_at is not null as stop_requested,
  w.max_concurrent_executions < q.max_concurrent_workflows as gated,
  q.name as task_queue_name, q.max_concurrent_activities,
  case when e.compiled_code_id = any(%(cached)s) then null else c.workflow_code end as plan,
  (select coalesce(jsonb_agg(jsonb_build_object('node_id', s.node_id,
      'iteration', s.iteration, 'status', s.status, 'outputs', s.outputs,
      'attempts', s.attempts)), '[]'::jsonb)
    from execution_steps s where s.execution_id = e.id) as steps,
  (select coalesce(jsonb_object_agg(j.key, j.value), '{}'::jsonb)
    from execution_journal j where j.execution_id = e.id) as journal,
  (select coalesce(jsonb_object_agg(g.consumed_by, jsonb_build_array(g.payload)),
                   '{}'::jsonb)
    from execution_signals g where g.execution_id = e.id and g.consumed_by is not null)
    as received,
  (select coalesce(jsonb_object_agg(i.taken_by, jsonb_build_array(i.payload)), '{}'::jsonb)
    from work_queue_items i where i.execution_id = e.id and i.taken_by is not null) as taken
from workflow_executions e
join workflows w on w.id = e.workflow_id
join task_queues q on q.id = w.task_queue_id
join workflow_compiled_code c on c.id = e.compiled_code_id
where e.id = %(e)s
"""

_PLAN = "select workflow_code from workflow_compiled_code where id = %(c)s"

_CLAIM_SIGNAL = f"""
with fence as ({FENCE}),
previous as (
  select payload from execution_signals where execution_id = %(e)s and consumed_by = %(key)s
),
claimed as (
  update execution_signals set consumed_by = %(key)s, consumed_at = now()
  where id = (select id from execution_signals
              where execution_id = %(e)s and name = %(name)s and consumed_by is null
              order by sent_at, id limit 1 for update skip locked)
    and not exists (select 1 from previous) and exists (select 1 from fence)
  returning payload
)
select exists (select 1 from fence) as owned,
  exists (select 1 from previous) or exists (select 1 from claimed) as found,
  coalesce((select payload from previous), (select payload from claimed)) as payload
"""

_ITEM_ORDER = {
    "fifo": "enqueued_at, id",
    "lifo": "enqueued_at desc, id desc",
    "priority": "priority desc, enqueued_at, id",
}

_CLAIM_ITEM = f"""
with fence as ({FENCE}),
previous as (select payload from work_queue_items where taken_by = %(key)s),
claimed as (
  update work_queue_items set status = 'taken', taken_at = now(), taken_by = %(key)s
  where id = (select id from work_queue_items
              where execution_id = %(e)s and queue_name = %(queue)s and status = 'queued'
              order by {{order}} limit 1 for update skip locked)
    and not exists (select 1 from previous) and exists (select 1 from fence)
  returning payload
)
select exists (select 1 from fence) as owned,
  exists (select 1 from previous) or exists (select 1 from claimed) as found,
  coalesce((select payload from previous), (select payload from claimed)) as payload
"""

_CHILD = """
select status, outputs, error, completed_at is not null as finished
from workflow_executions where id = %(c)s
"""

_BLOCK_UNTIL = """
select block_until from workflow_child_workflows
where parent_workflow_id = %(w)s and child_workflow_name = %(c)s and block_until is not null
limit 1
"""

_SIBLINGS_FINISHED = """
select w.kebab_name from workflow_executions e
join workflows w on w.id = e.workflow_id
where e.parent_execution_id = %(e)s and w.kebab_name = any(%(names)s)
group by w.kebab_name
having bool_and(e.completed_at is not null)
"""


class _Plans:
    """Compiled plans by version id, parsed once per process (versions never change)."""

    def __init__(self) -> None:
        self._plans: dict[str, dict[str, Any]] = {}

    def ids(self) -> list[str]:
        return list(self._plans)

    def get(self, compiled_code_id: str) -> dict[str, Any] | None:
        return self._plans.get(compiled_code_id)

    def add(self, compiled_code_id: str, workflow_code: str) -> dict[str, Any]:
        if len(self._plans) >= 256:
            self._plans.pop(next(iter(self._plans)))
        plan = parse_plan(compiled_code_id, workflow_code)
        self._plans[compiled_code_id] = plan
        return plan


@dataclass
class _Process:
    """This process's share of the runtime: pools, notifications and its live runs."""

    url: str
    pool: AsyncPool
    events: RunEvents
    runs: dict[str, DbosRun] = field(default_factory=dict)
    plans: _Plans = field(default_factory=_Plans)
    calls: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="wfb-call")
    )
    in_flight: int = 0
    _counting: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, run: RunSpec, call: Call) -> Outcome:
        """Run a component call on this thread, counted while it runs (for draining)."""
        with self._counting:
            self.in_flight += 1
        try:
            return effects.invoke(run, call)
        finally:
            with self._counting:
                self.in_flight -= 1


_process_lock = threading.Lock()
_process: _Process | None = None


def _runtime() -> _Process:
    """Return this process's runtime (created on the event loop of the first run)."""
    global _process
    with _process_lock:
        if _process is None:
            url = get_database().url
            _process = _Process(
                url=url, pool=AsyncPool(url, size=JOURNAL_POOL_SIZE), events=RunEvents(url)
            )
        process = _process
    process.events.start()
    return process


@lru_cache(maxsize=1)
def _pure_implementations() -> frozenset[str]:
    from workflow_builder.activities.registry import pure_implementations

    return pure_implementations()


@dataclass
class _Replay:
    """What the journal held when the run was loaded."""

    steps: dict[tuple[str, str], dict[str, Any]]
    entries: dict[str, Any]
    received: dict[str, Any]  # signal payloads by the receiving node's key
    taken: dict[str, Any]  # work-queue items by the taking node's key


class DbosRun:
    """One run executing in this process: the engine port of its interpreter."""

    def __init__(self, process: _Process, execution_id: str, run_id: str, owner: str) -> None:
        self.process = process
        self.execution_id = execution_id
        self.run_id = run_id
        self.owner = owner
        self.fence_params = {"run": run_id, "owner": owner}
        self.task: asyncio.Task[Any] | None = None
        self.closed_outside = False
        self.finishing = False  # writing its end: a notification of its own close is no news
        self.stopping = False  # handing over, or lost: end without writing
        self.stop = asyncio.Event()
        self.spec: RunSpec
        self.journal: RunJournal
        self.replay: _Replay
        self.trace: tracing.RunTrace | None = None

    # -- the run ------------------------------------------------------------------------------

    async def execute(self) -> dict[str, Any]:
        row = await self._load()
        if not row["owned"]:
            raise asyncio.CancelledError()  # claimed again meanwhile: nothing of ours to do
        if row["closed"]:
            return {"status": row["status"], "output": None, "error": None}
        self.task = asyncio.current_task()
        self.process.runs[self.execution_id] = self
        self.process.events.handle(self.execution_id, self._announced)
        self.trace = tracing.run_span(
            traceparent=row["trace_parent"],
            workflow=row["workflow_name"],
            version=row["workflow_version"],
            execution_id=self.execution_id,
        )
        ended: str | None = None
        logs.EXECUTION_ID.set(self.execution_id)  # this run's task (and its nodes') alone
        try:
            with tracing.attached(self.trace):
                end = await self._interpret(float(row["deadline"]))
            self.finishing = True
            closed = await self.journal.close(end.status, end.output, end.error)
            ended = end.status if closed else "canceled"
        except FenceLost:
            raise asyncio.CancelledError() from None
        except asyncio.CancelledError:
            if self.closed_outside and not self.stopping:
                ended = "canceled"
                return {"status": "canceled", "output": None, "error": None}
            raise
        finally:
            tracing.end_run(self.trace, ended)
            log.debug("run %s ended here: %s", self.execution_id, ended or "handed over")
            self.process.events.handle(self.execution_id, None)
            self.process.runs.pop(self.execution_id, None)
        if closed:
            metrics.run_finished(
                status=end.status,
                trigger=row["trigger_kind"] or "manual",
                task_queue=self.spec.task_queue_name,
                seconds=time.time() - float(row["started_epoch"]),
            )
        if row["gated"]:
            try:
                await asyncio.to_thread(_admit_waiting, str(row["workflow_id"]))
            except Exception:  # every heartbeat admits what still fits
                log.exception("admitting the runs waiting behind %s failed", self.execution_id)
        return {
            "status": end.status if closed else "canceled",
            "output": end.output,
            "error": end.error,
        }

    async def _load(self) -> dict[str, Any]:
        process = self.process
        params = {**self.fence_params, "e": self.execution_id, "cached": process.plans.ids()}
        started, rows = await process.pool.transaction(
            [(_START, params), (_LOAD, params)], what="loading a run"
        )
        if not rows:
            raise LookupError(f"no execution {self.execution_id}")
        row = {**rows[0], "owned": bool(started)}
        if not row["owned"] or row["closed"]:
            return row
        compiled_code_id = str(row["compiled_code_id"])
        plan = process.plans.get(compiled_code_id)
        if plan is None:
            code = row["plan"]
            if code is None:  # evicted between the statement and now
                code = (await process.pool.execute(_PLAN, {"c": compiled_code_id}))[0][
                    "workflow_code"
                ]
            plan = process.plans.add(compiled_code_id, code)
        self.spec = RunSpec(
            execution_id=self.execution_id,
            workflow_id=str(row["workflow_id"]),
            project_id=str(row["project_id"]) if row["project_id"] else None,
            compiled_code_id=compiled_code_id,
            inputs=row["inputs"],
            created_by=str(row["created_by"]) if row["created_by"] else None,
            parent_execution_id=(
                str(row["parent_execution_id"]) if row["parent_execution_id"] else None
            ),
            parent_close_policy=row["parent_close_policy"],
            task_queue_name=row["task_queue_name"],
            max_concurrent_activities=int(row["max_concurrent_activities"]),
            plan=plan,
            variables=row["variables"],
            deadline=float(row["deadline"]),
        )
        self.replay = _Replay(
            steps={(s["node_id"], s["iteration"]): s for s in row["steps"]},
            entries=dict(row["journal"]),
            received={key: value[0] for key, value in row["received"].items()},
            taken={key: value[0] for key, value in row["taken"].items()},
        )
        if row["stop_requested"]:
            self.stop.set()
        self.journal = RunJournal(
            process.pool,
            RunRef(self.execution_id, self.spec.workflow_id, self.spec.project_id),
            fence=FENCE,
            fence_params=self.fence_params,
        )
        return row

    async def _interpret(self, deadline: float) -> RunEnd:
        loop = asyncio.get_running_loop()
        interpreter = Interpreter(self.spec, self, pure_implementations=_pure_implementations())
        try:
            async with asyncio.timeout_at(loop.time() + (deadline - time.time())):
                return await interpreter.execute()
        except TimeoutError:
            return RunEnd("failed", None, "the run exceeded the workflow's execution timeout")

    def _announced(self, kind: str) -> None:
        """Something happened to this run elsewhere (see events.py)."""
        if kind == "stop":
            self.stop.set()
        elif kind == "closed" and self.task and not (self.closed_outside or self.finishing):
            self.closed_outside = True
            self.task.cancel()

    def hand_over(self) -> None:
        """Stop running here without writing anything: another worker will resume the run."""
        self.stopping = True
        if self.task is not None:
            self.task.cancel()

    # -- the port: calls ----------------------------------------------------------------------

    async def call(self, call: Call) -> Outcome:
        attempt = 1
        while True:
            outcome = await self._attempt(replace(call, attempt=attempt))
            if outcome.get("ok") or call.retry.final(attempt, outcome["error"]):
                return outcome
            await self.sleep(f"{call.key}#retry{attempt}", call.retry.pause_after(attempt), None)
            attempt += 1

    async def _attempt(self, call: Call) -> Outcome:
        """Run (or replay) one attempt of a call."""
        attempt_key = f"call:{call.key}#{call.attempt}"
        recorded = self.replay.entries.get(attempt_key)
        if recorded is not None:
            if recorded["ok"]:
                step = self.replay.steps.get((call.node["id"], call.iteration)) or {}
                return {"ok": True, "output": step.get("outputs")}
            return {"ok": False, "error": recorded["error"]}
        await LEASE.ready()
        component_id = call.component.get("id")
        self.journal.keep_row(
            StepRow(
                node_id=call.node["id"],
                iteration=call.iteration,
                node_type=call.node["type"],
                status="running",
                component_id=component_id,
                inputs=call.inputs,
                attempts=call.attempt,
                started_at=now(),
            )
        )
        await self.journal.write()  # fenced: the call starts only while the run is ours
        clock = time.monotonic()
        span = tracing.call_span(
            self.trace,
            node=call.node["id"],
            component=str(call.component.get("name")),
            attempt=call.attempt,
        )
        logs.NODE_ID.set(call.node["id"])  # the node's own task: its call, its logs
        outcome: Outcome = await asyncio.get_running_loop().run_in_executor(
            self.process.calls,
            contextvars.copy_context().run,
            tracing.within(span, self.process.invoke),
            self.spec,
            call,
        )
        tracing.end_call(span, outcome)
        duration_ms = int((time.monotonic() - clock) * 1000)
        ok = bool(outcome.get("ok"))
        error = outcome.get("error")
        log.debug("call %s attempt %d: %s", call.key, call.attempt, error and error["type"])
        if ok:
            status = "completed"
        else:
            assert error is not None
            status = "failed" if call.retry.final(call.attempt, error) else "running"
        metrics = outcome.get("metrics") or {}
        self.journal.keep_row(
            StepRow(
                node_id=call.node["id"],
                iteration=call.iteration,
                node_type=call.node["type"],
                status=status,
                component_id=component_id,
                outputs=outcome.get("output") if ok else None,
                error=None if ok or error is None else error["message"],
                metrics=metrics or None,
                attempts=call.attempt,
                completed_at=now() if status != "running" else None,
                attempt_key=f"{self.execution_id}:{call.key}#{call.attempt}",
            )
        )
        self.journal.keep_entry(attempt_key, {"ok": ok, "error": None if ok else error})
        self.journal.keep_call(CountedCall(attempt_key, component_id, ok, duration_ms, metrics))
        self.journal.write_soon()
        return outcome

    def run_pure(self, call: Call) -> Outcome:
        outcome = run_pure(self.spec, call)
        self.journal.keep_call(
            CountedCall(
                None,
                call.component.get("id"),
                bool(outcome.get("ok")),
                0,
                {},
                row=(call.node["id"], call.iteration),
            )
        )
        return outcome

    # -- the port: records --------------------------------------------------------------------

    def record(self, record: NodeRecord) -> None:
        moment = now()
        self.journal.keep_row(StepRow.of(record, moment))
        self.journal.write_soon()
        self._trace(record, moment)

    def _keep_waiting(self, node: NodeRecord) -> None:
        moment = now()
        self.journal.keep_row(StepRow.of(node, moment))
        self._trace(node, moment)

    def _trace(self, record: NodeRecord, moment: datetime) -> None:
        """Note a node's span: from when it began waiting, closed when it ends."""
        if self.trace is None:
            return
        component = self.spec.plan["components"].get(record.node.get("component") or "", {})
        tracing.record_node(
            self.trace,
            node=record.node,
            iteration=record.iteration,
            status=record.status,
            component=component.get("name"),
            attempts=record.attempts,
            started=record.started_at,
            finished=record.completed_at or moment,
        )

    def publish(self, variables: Mapping[str, Any]) -> None:
        self.journal.keep_variables(variables)
        self.journal.write_soon()

    async def now(self, key: str) -> datetime:
        entry = f"now:{key}"
        if entry in self.replay.entries:
            return datetime.fromisoformat(self.replay.entries[entry])
        moment = now()
        self.journal.keep_entry(entry, moment.isoformat())
        self.journal.write_soon()
        return moment

    def stop_requested(self) -> bool:
        return self.stop.is_set()

    # -- the port: waits ----------------------------------------------------------------------

    def _deadline(self, key: str, seconds: float | None) -> float | None:
        """Return when a wait of `seconds` keyed `key` ends (the first time it was asked)."""
        if seconds is None:
            return None
        entry = f"timer:{key}"
        if entry in self.replay.entries:
            return float(self.replay.entries[entry])
        wake = time.time() + seconds
        self.journal.keep_entry(entry, wake)
        return wake

    async def sleep(self, key: str, seconds: float, node: NodeRecord | None) -> None:
        fresh = f"timer:{key}" not in self.replay.entries
        wake = self._deadline(key, seconds)
        assert wake is not None
        if node is not None and fresh:
            self._keep_waiting(node)
        await self.journal.write()
        left = wake - time.time()
        if left > 0 and await self._stopped_within(left):
            raise Interrupted()

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait `seconds`; return True early if the run's parent asks it to stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stop.wait()
                return True
        return False

    async def _wait_for(
        self, key: str, timeout: float | None, node: NodeRecord, claim: Any
    ) -> tuple[bool, Any]:
        """Claim with `claim()` until it finds something, the timeout passes, or the run is
        asked to stop; woken by the run's notifications."""
        if f"timeout:{key}" in self.replay.entries:
            return False, None
        wake = self._deadline(key, timeout)
        self._keep_waiting(node)
        await self.journal.write()
        with self.process.events.watch(self.execution_id) as announced:
            while True:
                announced.clear()
                found, value = await claim()
                if found:
                    return True, value
                if self.stop.is_set():
                    raise Interrupted()
                left = RECHECK_SECONDS if wake is None else wake - time.time()
                if left <= 0:
                    self.journal.keep_entry(f"timeout:{key}", True)
                    await self.journal.write()
                    return False, None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(left, RECHECK_SECONDS)):
                        await announced.wait()

    async def _claim(self, sql: str, params: Mapping[str, Any]) -> tuple[bool, Any]:
        rows = await self.process.pool.execute(
            sql, {**self.fence_params, "e": self.execution_id, **params}, what="a wait"
        )
        if not rows[0]["owned"]:
            self.journal.lost = True
            raise FenceLost(self.execution_id)
        return bool(rows[0]["found"]), rows[0]["payload"]

    async def receive(
        self, key: str, signal: str, timeout: float | None, node: NodeRecord
    ) -> tuple[bool, Any]:
        if key in self.replay.received:
            return True, self.replay.received[key]
        return await self._wait_for(
            key,
            timeout,
            node,
            lambda: self._claim(_CLAIM_SIGNAL, {"key": key, "name": signal}),
        )

    async def take(
        self, key: str, queue: str, order: str, wait: bool, timeout: float | None, node: NodeRecord
    ) -> tuple[bool, Any]:
        taker = f"{self.execution_id}:{key}"
        if taker in self.replay.taken:
            return True, self.replay.taken[taker]
        sql = _CLAIM_ITEM.format(order=_ITEM_ORDER[order])

        def claim() -> Any:
            return self._claim(sql, {"key": taker, "queue": queue})

        if not wait:
            return await claim()  # type: ignore[no-any-return]
        return await self._wait_for(key, timeout or None, node, claim)

    # -- the port: children -------------------------------------------------------------------

    async def start_child(self, request: ChildRequest) -> ChildOutcome:
        await self.journal.write()
        return await asyncio.to_thread(_start_child, self.spec, request)

    async def child_result(self, request: ChildRequest, child: ChildOutcome) -> ChildOutcome:
        await self.journal.write()
        with self.process.events.watch(self.execution_id) as announced:
            while True:
                announced.clear()
                rows = await self.process.pool.execute(_CHILD, {"c": child.execution_id})
                if rows and rows[0]["finished"]:
                    row = rows[0]
                    return ChildOutcome(
                        execution_id=child.execution_id,
                        status=row["status"],
                        output=row["outputs"],
                        extra={"error": row["error"]},
                    )
                if self.stop.is_set():
                    raise Interrupted()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RECHECK_SECONDS):
                        await announced.wait()

    async def block_until(self, key: str, child_workflow: str, node: NodeRecord) -> None:
        rows = await self.process.pool.execute(
            _BLOCK_UNTIL, {"w": self.spec.workflow_id, "c": child_workflow}
        )
        block = rows[0]["block_until"] if rows else None
        if not isinstance(block, dict) or not block.get("workflows"):
            return
        names = list(block["workflows"])
        every = block.get("mode", "all") == "all"
        self._keep_waiting(node)
        await self.journal.write()
        with self.process.events.watch(self.execution_id) as announced:
            while True:
                announced.clear()
                finished = {
                    r["kebab_name"]
                    for r in await self.process.pool.execute(
                        _SIBLINGS_FINISHED, {"e": self.execution_id, "names": names}
                    )
                }
                if (finished >= set(names)) if every else bool(finished):
                    return
                if self.stop.is_set():
                    raise Interrupted()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RECHECK_SECONDS):
                        await announced.wait()


def _start_child(run: RunSpec, request: ChildRequest) -> ChildOutcome:
    """Create (once) and enqueue the child's run as the parent's owner: row-level security
    decides which workflows it may start."""
    from workflow_builder.runtime.service import start_child

    return retrying(lambda: start_child(run, request), "starting a child run")


def _admit_waiting(workflow_id: str) -> None:
    from workflow_builder.runtime.admission import admit_after

    retrying(lambda: admit_after(UUID(workflow_id)), "admitting waiting runs")


@DBOS.workflow(name=RUN_WORKFLOW, max_recovery_attempts=None)
async def run_workflow(execution_id: str) -> dict[str, Any]:
    """The durable run of one execution."""
    run_id = DBOS.workflow_id
    assert run_id is not None
    owner = current_owner_xid(run_id)
    assert owner is not None, "a queued run always carries its ownership token"
    return await DbosRun(_runtime(), execution_id, run_id, owner).execute()


# -- the engine in a worker process -----------------------------------------------------------

_launch_lock = threading.Lock()
_launched_url: str | None = None


def migrate_engine(url: str) -> None:
    """Create or upgrade the engine's own schema (`dbos`) in the product's database.

    `service_role` gets access to it, so that system work can enqueue a run in the same
    transaction that records it.
    """
    DBOS.migrate(url, schema=SYSTEM_SCHEMA, application_role="service_role")


def launch_worker(url: str, *, executor_id: str, queues: list[str] | None = None) -> None:
    """Start the engine in this process as worker `executor_id`.

    `queues` restricts which task queues it serves (None: all of them, present and future).
    """
    global _launched_url
    with _launch_lock:
        if _launched_url is not None:
            if _launched_url != url:
                raise RuntimeError("this process already runs a worker for another database")
            return
        config: Any = {
            "name": APP_NAME,
            "system_database_url": url,
            "dbos_system_schema": SYSTEM_SCHEMA,
            "executor_id": executor_id,
            "application_version": APP_VERSION,
            "run_migrations": True,
            "max_executor_threads": 64,
            "sys_db_pool_size": ENGINE_POOL_SIZE,
            # No ping per checkout (a round trip on every engine read and write): the engine
            # retries its operations on a lost connection, and recycled connections are fresh.
            "db_engine_kwargs": {"pool_pre_ping": False, "pool_recycle": 1800},
            "scheduler_polling_interval_sec": 5.0,
            # The engine's own lines (start-up, its hosted console's address) only when asked.
            "log_level": "DEBUG" if get_settings().log_level.upper() == "DEBUG" else "WARNING",
            "notification_listener_polling_interval_sec": 1.0,
        }
        DBOS(config=config)
        if queues is not None:
            DBOS.listen_queues(queues)
        _launch_off_any_event_loop()
        _launched_url = url
        log.info("engine worker %s launched (version %s)", executor_id, APP_VERSION)


def _launch_off_any_event_loop() -> None:
    """Launch the engine from a thread of its own.

    The engine adopts the event loop running in the thread that launches it and runs every
    workflow there. Whatever loop the caller runs (an API server's, a test driver's) may be
    busy or blocked for long stretches, so runs must get the engine's own background loop.
    """
    failure: list[BaseException] = []

    def launch() -> None:
        try:
            DBOS.launch()
        except BaseException as error:  # re-raised in the caller's thread
            failure.append(error)

    thread = threading.Thread(target=launch, name="wfb-engine-launch")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def engine_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop this process's runs execute on (None before the engine launches)."""
    return _loop()


def stop_dequeuing() -> None:
    """Stop taking new runs from the queues (and firing schedules); runs here go on."""
    from dbos._dbos import _dbos_global_instance

    if _dbos_global_instance is not None:
        for event in _dbos_global_instance.background_thread_stop_events:
            event.set()


def calls_in_flight() -> int:
    """Return how many component calls of this process are running."""
    return 0 if _process is None else _process.in_flight


def hand_over_local_runs() -> list[str]:
    """Stop every run executing here without writing (their workers-to-be resume them);
    return their ids."""
    if _process is None:
        return []
    runs = list(_process.runs.values())
    loop = _loop()
    if loop is not None:
        for run in runs:
            loop.call_soon_threadsafe(run.hand_over)
    return [run.execution_id for run in runs]


def _loop() -> asyncio.AbstractEventLoop | None:
    from dbos._dbos import _dbos_global_instance

    if _dbos_global_instance is None:
        return None
    return _dbos_global_instance._background_event_loop.target_loop()


def shutdown_worker() -> None:
    """Stop the engine in this process; unfinished runs stay durable for another worker."""
    global _launched_url
    with _launch_lock:
        if _launched_url is None:
            return
        DBOS.destroy()
        _launched_url = None


def worker_running() -> bool:
    """Return whether this process runs an engine worker."""
    return _launched_url is not None


# -- the engine as the API and the workers use it ---------------------------------------------


def client() -> DBOSClient:
    """Return the engine client of the process's database: enqueue, cancel, resume,
    schedules, with or without a worker in this process."""
    return _client(get_database())


@lru_cache(maxsize=4)
def _client(database: Database) -> DBOSClient:
    return DBOSClient(
        system_database_engine=database.engine,
        application_name=APP_NAME,
        dbos_system_schema=SYSTEM_SCHEMA,
    )


class DbosEngine:
    """The runtime's view of DBOS outside a run (see `engines.Engine`)."""

    name = "dbos"
    # A run's signals, items and variables live in the database, whatever the run is doing.
    holds_run_state = False

    def enqueue_run(
        self, session: Session, *, execution_id: str, queue: str, run_id: str | None = None
    ) -> None:
        options: Any = {
            "workflow_name": RUN_WORKFLOW,
            "queue_name": queue,
            "workflow_id": run_id or execution_id,
        }
        client().enqueue_in_transaction(session, options, execution_id)

    def register_queue(self, task_queue: str, max_concurrent_workflows: int) -> None:
        client().register_queue(
            task_queue,
            global_concurrency=max_concurrent_workflows,
            polling_interval_sec=QUEUE_POLLING_SECONDS,
            on_conflict="always_update",
        )

    def cancel_run(self, execution_id: str, run_id: str) -> None:
        with contextlib.suppress(DBOSNonExistentWorkflowError):
            client().cancel_workflow(run_id)

    def resume_runs(self, run_ids_by_queue: Mapping[str, list[str]]) -> None:
        sys_db = client()._sys_db
        for queue, run_ids in run_ids_by_queue.items():
            if run_ids:
                sys_db.resume_workflows(run_ids, queue_name=queue)

    def register_schedule(
        self,
        *,
        schedule_id: str,
        cron: str,
        timezone: str,
        queue: str,
        fire_now: bool,
        remaining: int | None = None,
    ) -> None:
        name = schedule_name(schedule_id)
        engine_client = client()
        engine_client.delete_schedule(name)
        engine_client.create_schedule(
            schedule_name=name,
            workflow_name=TICK_WORKFLOW,
            schedule=cron,
            context={"schedule_id": schedule_id},
            cron_timezone=timezone,
            queue_name=queue,
        )
        if fire_now:
            engine_client.trigger_schedule(name)

    def delete_schedule(self, schedule_id: str) -> None:
        client().delete_schedule(schedule_name(schedule_id))

    def signal_run(
        self, session: Session, *, execution_id: str, queue: str, name: str, payload: Any
    ) -> None:
        raise NotImplementedError("signals to DBOS runs are rows of execution_signals")

    def add_item(self, *, execution_id: str, queue: str, request: Mapping[str, Any]) -> Any:
        raise NotImplementedError("work items of DBOS runs are rows of work_queue_items")

    def query_run(self, execution_id: str, name: str) -> Any:
        raise NotImplementedError("queries of DBOS runs read the database")


DBOS_ENGINE = DbosEngine()


def schedule_name(schedule_id: str) -> str:
    """Return the engine's name for a workflow_scheduled_workflows row."""
    return f"wfb-schedule-{schedule_id}"


@DBOS.workflow(name=TICK_WORKFLOW)
def tick(scheduled_at: datetime, context: Any) -> None:
    """One firing of a cron schedule (the engine fires each tick exactly once)."""
    from workflow_builder.runtime.schedules import start_scheduled_run

    DBOS.run_step(
        {"name": "wfb.tick"}, start_scheduled_run, context["schedule_id"], scheduled_at.isoformat()
    )
