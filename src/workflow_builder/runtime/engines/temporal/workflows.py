"""The Temporal workflows: the interpreter as one Temporal workflow, and a schedule's tick.

`RunWorkflow` (`wfb_run`) implements the engine port in workflow code with Temporal's own
primitives: component calls are activities (Temporal retries them by the node's retry policy
and times them out by its timeout); pure nodes run here; timers are `workflow.sleep`; signals,
work-queue items and queries are Temporal signals, updates and queries on this workflow, so
Temporal's own CLI can signal and query a run; child runs are child workflows with Temporal's
parent-close policies; cancellation is Temporal cancellation. The workflow is deterministic and
runs in the SDK's sandbox; everything it learns from the database arrives through activities.

What the product records of a run — its history rows, statistics, its end — is written by the
activities (`activities.py`): the rows of pure nodes travel with the next activity the run
calls, so they cost no extra round trip. Loading the run (its pinned plan, marking it started)
and closing it are local activities: they run in the worker that runs the workflow task, within
that task, so a one-call run costs the Temporal server one activity task and two workflow
tasks, as a hand-written one-activity workflow does.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    TerminatedError,
    TimeoutType,
)
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    from workflow_builder.compiler.expressions import parse_expression
    from workflow_builder.runtime.engines.temporal import names
    from workflow_builder.runtime.interpreter import Interpreter, RunEnd
    from workflow_builder.runtime.port import (
        Call,
        ChildOutcome,
        ChildRequest,
        NodeRecord,
        Outcome,
        RunSpec,
    )
    from workflow_builder.runtime.pure import run_pure

# Activities of the runtime itself (not components) retry through database outages, forever.
_FOREVER = TemporalRetryPolicy(
    initial_interval=timedelta(seconds=0.2), maximum_interval=timedelta(seconds=5)
)


async def _bookkeeping(name: str, argument: Any) -> Any:
    """Run one of the runtime's own activities (on the workflow's task queue)."""
    return await workflow.execute_activity(
        name, argument, start_to_close_timeout=timedelta(seconds=60), retry_policy=_FOREVER
    )


async def _local(name: str, argument: Any) -> Any:
    """Run one of the runtime's own activities as a local activity: in this worker, within the
    workflow task (retried like `_bookkeeping`'s; a worker that dies meanwhile loses the task,
    and the worker that takes it over runs the activity again)."""
    return await workflow.execute_local_activity(
        name, argument, start_to_close_timeout=timedelta(seconds=60), retry_policy=_FOREVER
    )


_POLICIES = {
    "terminate": workflow.ParentClosePolicy.TERMINATE,
    "abandon": workflow.ParentClosePolicy.ABANDON,
    "request_cancel": workflow.ParentClosePolicy.REQUEST_CANCEL,
}


def _record(record: NodeRecord, at: float) -> dict[str, Any]:
    """A node record as the activities write it (`at`: workflow time, seconds)."""
    return {
        "node_id": record.node["id"],
        "node_type": record.node["type"],
        "iteration": record.iteration,
        "status": record.status,
        "outputs": record.outputs,
        "error": record.error,
        "component_id": record.component_id,
        "inputs": record.inputs,
        "attempts": record.attempts,
        "at": at,
    }


def _timed_out() -> RunEnd:
    return RunEnd("failed", None, "the run exceeded the workflow's execution timeout")


def _item_order(order: str) -> Any:
    if order == "lifo":
        return lambda item: (-item["seq"],)
    if order == "priority":
        return lambda item: (-item["priority"], item["seq"])
    return lambda item: (item["seq"],)


@workflow.defn(name=names.RUN_WORKFLOW)
class RunWorkflow:
    """One run of a compiled plan."""

    def __init__(self) -> None:
        self.spec: RunSpec | None = None
        self.declarations: dict[str, Any] = {}
        self.signals: dict[str, list[Any]] = defaultdict(list)
        self.items: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.sequence = 0
        self.variables: dict[str, Any] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.pending: list[dict[str, Any]] = []
        self.recorded: dict[str, Any] = {}  # outputs of calls a retried run keeps
        self.children: dict[str, ChildOutcome] = {}
        self.children_by_workflow: dict[str, list[str]] = defaultdict(list)
        self.pure: frozenset[str] = frozenset()
        # Signals that arrive before the run has loaded its plan (with its start, say).
        self.early: list[tuple[str, Any]] = []
        # Whether this run loads and closes itself with local activities (names.LOCAL_BOOKKEEPING;
        # runs started before the patch replay regular ones).
        self.local = False
        # The version the run started under (names.run_argument; 1: a bare execution id).
        self.version = 1
        # Version 2: the workflow time the run times out at, the interpreter's task, the timer
        # armed at the run's first wait (see _arm_deadline), and whether it fired.
        self.deadline: float | None = None
        self.main: asyncio.Task[RunEnd] | None = None
        self.expiry: asyncio.Task[None] | None = None
        self.timed_out = False

    # -- the run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: Any) -> dict[str, Any]:
        if isinstance(start, dict):
            execution_id = str(start["execution_id"])
            self.version = int(start.get("version") or names.RUN_VERSION)
            self.local = True
        else:  # started before names.RUN_VERSION: replays as it ran
            execution_id = str(start)
            self.local = workflow.patched(names.LOCAL_BOOKKEEPING)
        keep = _local if self.local else _bookkeeping
        loaded = await keep(names.LOAD, execution_id)
        if loaded["closed"]:
            return {"status": loaded["status"], "output": None, "error": None}
        self._load(loaded)
        assert self.spec is not None
        interpreter = Interpreter(self.spec, self, pure_implementations=self.pure)
        if self.version >= 2:
            end = await self._execute(interpreter, float(loaded["deadline"]))
        else:
            remaining = max(float(loaded["deadline"]) - workflow.time(), 0.0)
            try:
                end = await asyncio.wait_for(interpreter.execute(), timeout=remaining)
            except TimeoutError:
                end = _timed_out()
            except asyncio.CancelledError:
                end = RunEnd("canceled", None, "canceled")
        closed = await keep(
            names.CLOSE,
            {
                **self._ref(),
                "execution_id": execution_id,
                "status": end.status,
                "output": end.output,
                "error": end.error,
                "records": self._take_pending(),
                "variables": self.variables,
            },
        )
        # `closed`: True, or how the run was closed already (by a cancel, or by an earlier
        # attempt of this close whose result Temporal did not keep).
        if closed is not True:
            end = RunEnd(closed if isinstance(closed, str) else "canceled", end.output)
        return {"status": end.status, "output": end.output}

    async def _execute(self, interpreter: Interpreter, deadline: float) -> RunEnd:
        """Run the interpreter until it ends, the run is canceled or its deadline passes (the
        timer of which is armed only when the run first waits: `_arm_deadline`)."""
        self.deadline = deadline
        self.main = asyncio.ensure_future(interpreter.execute())
        try:
            return await self.main
        except asyncio.CancelledError:
            if self.timed_out:
                return _timed_out()
            return RunEnd("canceled", None, "canceled")
        finally:
            if self.expiry is not None and not self.expiry.done():
                self.expiry.cancel()

    def _arm_deadline(self) -> None:
        """Before the run first waits on anything but a call: start the timer that ends it at
        its deadline (a version 2 run; a call is bounded by the deadline itself)."""
        if self.deadline is None or self.expiry is not None:
            return
        self.expiry = asyncio.ensure_future(self._expire(self.deadline - workflow.time()))

    async def _expire(self, seconds: float) -> None:
        if seconds > 0:
            await workflow.sleep(seconds)
        self._time_out()

    def _time_out(self) -> None:
        """The deadline has passed: stop the interpreter (the run fails)."""
        if not self.timed_out and self.main is not None and not self.main.done():
            self.timed_out = True
            self.main.cancel()

    def _call_deadline(self) -> timedelta | None:
        """What is left of the run's time for a call (None: no bound, a run before version 2,
        whose timer is armed from its start)."""
        if self.deadline is None:
            return None
        return timedelta(seconds=max(self.deadline - workflow.time(), 0.0))

    def _load(self, loaded: dict[str, Any]) -> None:
        run = loaded["run"]
        self.spec = RunSpec(**run, plan=loaded["plan"])
        self.declarations = loaded["block_until"]
        self.pure = frozenset(loaded["pure_implementations"])
        self.recorded = loaded["recorded"]
        self.variables = (
            dict(run["variables"])
            if run.get("variables") is not None
            else {name: v.get("initial") for name, v in loaded["plan"].get("variables", {}).items()}
        )
        for signal in loaded["signals"]:
            self.signals[signal["name"]].append(signal["payload"])
        for item in loaded["items"]:
            self._queue_item(item["queue"], item["item"], item["priority"], item["dedupe"])
        for name, payload in self.early:
            self._deliver(name, payload)
        self.early.clear()

    def _ref(self) -> dict[str, Any]:
        """What an activity needs to know of the run, so it need not read it (`run`; only
        when the run loaded itself with a local activity, which reads its trace parent)."""
        if not self.local or self.spec is None:
            return {}
        spec = self.spec
        return {
            "run": {
                "workflow_id": spec.workflow_id,
                "project_id": spec.project_id,
                "compiled_code_id": spec.compiled_code_id,
                "created_by": spec.created_by,
                "task_queue_name": spec.task_queue_name,
                "max_concurrent_activities": spec.max_concurrent_activities,
                "trace_parent": spec.trace_parent,
            }
        }

    def _take_pending(self) -> list[dict[str, Any]]:
        taken, self.pending = self.pending, []
        return taken

    async def _flush(self) -> None:
        """Write the records kept so far now (before a wait the UI should see)."""
        if self.pending:
            await workflow.execute_local_activity(
                names.RECORD,
                {
                    **self._ref(),
                    "execution_id": self._spec.execution_id,
                    "records": self._take_pending(),
                },
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_FOREVER,
            )

    @property
    def _spec(self) -> RunSpec:
        assert self.spec is not None
        return self.spec

    # -- signals, updates, queries ------------------------------------------------------------

    def _queue_of(self, name: str) -> str | None:
        for declared in self._spec.plan.get("signals", []):
            if declared["name"] == name and declared.get("work_queue"):
                return str(declared["work_queue"])
        return None

    def _declared_queue(self, queue: str) -> dict[str, Any]:
        for declared in self._spec.plan.get("work_queues", []):
            if declared["name"] == queue:
                return dict(declared)
        return {}

    def _queue_item(
        self, queue: str, item: Any, priority: int, dedupe: str | None
    ) -> dict[str, Any]:
        """Add an item to a work queue (deduplicated, bounded, as the queue says)."""
        queued = self.items[queue]
        if dedupe is not None and any(i["dedupe"] == dedupe for i in queued):
            return {"accepted": False, "deduplicated": True, "size": len(queued)}
        declared = self._declared_queue(queue)
        if declared.get("max_size") is not None and len(queued) >= declared["max_size"]:
            return {"accepted": False, "deduplicated": False, "full": True, "size": len(queued)}
        self.sequence += 1
        queued.append({"item": item, "priority": priority, "dedupe": dedupe, "seq": self.sequence})
        return {"accepted": True, "deduplicated": False, "size": len(queued)}

    @workflow.signal(dynamic=True)
    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        payload = workflow.payload_converter().from_payload(args[0].payload) if args else None
        if self.spec is None:
            self.early.append((name, payload))
        else:
            self._deliver(name, payload)

    def _deliver(self, name: str, payload: Any) -> None:
        """A signal: a work queue's `<queue>_add` adds an item, any other is kept until a
        node receives it."""
        queue = self._queue_of(name)
        if queue is None:
            self.signals[name].append(payload)
            return
        dedupe = names.dedupe_key(self._declared_queue(queue), payload)
        self._queue_item(queue, payload, 0, dedupe)

    @workflow.update(name=names.ADD_ITEM)
    async def add_item(self, request: dict[str, Any]) -> dict[str, Any]:
        """Add a work item (the API's endpoint): answers accepted, deduplicated or full."""
        await workflow.wait_condition(lambda: self.spec is not None)
        priority = int(request.get("priority") or 0)
        return self._queue_item(request["queue"], request["item"], priority, request.get("dedupe"))

    @workflow.query(dynamic=True)
    def on_query(self, name: str, args: Sequence[RawValue]) -> Any:
        if self.spec is None:
            raise ApplicationError("the run has not loaded its plan yet", type="NotStarted")
        for queue in self._spec.plan.get("work_queues", []):
            if name == f"{queue['name']}_items":
                return self._items(queue["name"])
        for declared in self._spec.plan.get("queries", []):
            if declared["name"] == name and not declared.get("work_queue"):
                state = {"input": self._spec.inputs, "vars": self.variables, "nodes": self.nodes}
                return parse_expression(declared.get("expression") or "vars").search(state)
        raise ApplicationError(f"query {name!r} was not found", type="QueryNotFound")

    def _items(self, queue: str) -> list[dict[str, Any]]:
        order = self._declared_queue(queue).get("priority", "fifo")
        return [
            {"item": i["item"], "priority": i["priority"], "position": n}
            for n, i in enumerate(sorted(self.items[queue], key=_item_order(order)))
        ]

    # -- the port -------------------------------------------------------------------------------

    async def call(self, call: Call) -> Outcome:
        if call.key in self.recorded:
            return {"ok": True, "output": self.recorded[call.key]}
        node = call.node
        timeout = float(
            node.get("timeout_seconds")
            or self._spec.plan["settings"].get("activity_timeout_seconds", 300)
        )
        retry = call.retry
        left = self._call_deadline()
        if left is not None and left <= timedelta(0):
            self._time_out()
            await workflow.wait_condition(lambda: False)  # canceled by _time_out
        try:
            result = await workflow.execute_activity(
                names.CALL,
                {
                    **self._ref(),
                    "execution_id": self._spec.execution_id,
                    "node": dict(node),
                    "component": dict(call.component),
                    "key": call.key,
                    "iteration": call.iteration,
                    "inputs": call.inputs,
                    "retry": {
                        "maximum_attempts": retry.maximum_attempts,
                        "non_retryable_error_types": list(retry.non_retryable_error_types),
                    },
                    "records": self._take_pending(),
                    # A completed attempt's row and statistics come back to be written with
                    # the run's next write (another call's, a flush before a wait, the close).
                    "keep_result": True,
                },
                task_queue=self._spec.task_queue_name,
                start_to_close_timeout=timedelta(seconds=timeout + 5),
                schedule_to_close_timeout=left,
                heartbeat_timeout=timedelta(seconds=names.HEARTBEAT_TIMEOUT_SECONDS),
                retry_policy=TemporalRetryPolicy(
                    initial_interval=timedelta(seconds=retry.initial_interval),
                    backoff_coefficient=max(retry.backoff_coefficient, 1.0),
                    maximum_interval=timedelta(seconds=retry.pause_after(retry.maximum_attempts)),
                    maximum_attempts=retry.maximum_attempts,
                    non_retryable_error_types=list(retry.non_retryable_error_types),
                ),
            )
        except ActivityError as failed:
            cause = failed.cause
            if isinstance(cause, ApplicationError):
                return {
                    "ok": False,
                    "error": {
                        "type": cause.type or "ActivityError",
                        "message": cause.message,
                        "retryable": not cause.non_retryable,
                    },
                }
            if isinstance(cause, TemporalTimeout):
                if left is not None and cause.type == TimeoutType.SCHEDULE_TO_CLOSE:
                    # Only the run's deadline bounds a call's schedule-to-close time.
                    self._time_out()
                    await workflow.wait_condition(lambda: False)  # canceled by _time_out
                return {
                    "ok": False,
                    "error": {
                        "type": "ActivityTimeout",
                        "message": f"the call did not finish within {timeout} s",
                        "retryable": True,
                    },
                }
            raise
        self.pending.extend(result.get("kept") or [])
        if call.iteration == "":
            self.nodes[node["id"]] = {"status": "completed", "output": result["output"]}
        return {"ok": True, "output": result["output"]}

    def run_pure(self, call: Call) -> Outcome:
        return run_pure(self._spec, call)

    async def sleep(self, key: str, seconds: float, node: NodeRecord | None) -> None:
        self._arm_deadline()
        if node is not None:
            self.record(node)
            await self._flush()
        await workflow.sleep(seconds)

    async def receive(
        self, key: str, signal: str, timeout: float | None, node: NodeRecord
    ) -> tuple[bool, Any]:
        self._arm_deadline()
        self.record(node)
        await self._flush()
        try:
            await workflow.wait_condition(lambda: bool(self.signals[signal]), timeout=timeout)
        except TimeoutError:
            return False, None
        return True, self.signals[signal].pop(0)

    async def take(
        self, key: str, queue: str, order: str, wait: bool, timeout: float | None, node: NodeRecord
    ) -> tuple[bool, Any]:
        if wait and not self.items[queue]:
            self._arm_deadline()
            self.record(node)
            await self._flush()
            try:
                await workflow.wait_condition(lambda: bool(self.items[queue]), timeout=timeout)
            except TimeoutError:
                return False, None
        if not self.items[queue]:
            return False, None
        first = min(self.items[queue], key=_item_order(order))
        self.items[queue].remove(first)
        return True, first["item"]

    async def now(self, key: str) -> Any:
        return workflow.now()

    def record(self, record: NodeRecord) -> None:
        self.pending.append(_record(record, workflow.time()))
        if record.iteration == "" and record.status in ("completed", "failed", "skipped"):
            self.nodes[record.node["id"]] = {"status": record.status, "output": record.outputs}

    def publish(self, variables: Any) -> None:
        self.variables = dict(variables)

    async def start_child(self, request: ChildRequest) -> ChildOutcome:
        self._arm_deadline()
        created = await _bookkeeping(
            names.CREATE_CHILD,
            {
                **self._ref(),
                "execution_id": self._spec.execution_id,
                "created_by": self._spec.created_by,
                "key": request.key,
                "workflow": request.workflow,
                "policy": request.policy,
                "inputs": request.inputs,
                "records": self._take_pending(),
            },
        )
        if created.get("error"):
            return ChildOutcome(error=created["error"])
        child_id = created["execution_id"]
        handle = await workflow.start_child_workflow(
            names.RUN_WORKFLOW,
            names.run_argument(child_id) if self.version >= 2 else child_id,
            id=names.workflow_id(child_id),
            task_queue=created["queue"],
            parent_close_policy=_POLICIES[request.policy],
            cancellation_type=workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_REQUESTED,
        )
        outcome = ChildOutcome(execution_id=child_id)
        self.children[child_id] = outcome
        self.children_by_workflow[request.workflow].append(child_id)
        workflow_task = asyncio.ensure_future(self._follow(handle, outcome))
        outcome.extra["task"] = workflow_task
        return outcome

    async def _follow(self, handle: Any, outcome: ChildOutcome) -> None:
        try:
            result = await handle
            outcome.status = result.get("status", "completed")
            outcome.output = result.get("output")
        except ChildWorkflowError as failed:
            cause = failed.cause
            canceled = isinstance(cause, CancelledError | TerminatedError)
            outcome.status = "canceled" if canceled else "failed"
            outcome.extra["error"] = str(cause or failed)
        except asyncio.CancelledError:
            outcome.status = outcome.status or "canceled"
            raise
        finally:
            outcome.extra["finished"] = True

    async def child_result(self, request: ChildRequest, child: ChildOutcome) -> ChildOutcome:
        self._arm_deadline()
        await workflow.wait_condition(lambda: bool(child.extra.get("finished")))
        return child

    async def block_until(self, key: str, child_workflow: str, node: NodeRecord) -> None:
        block = self.declarations.get(child_workflow)
        if not block:
            return
        names_ = list(block["workflows"])
        every = block.get("mode", "all") == "all"

        def finished(name: str) -> bool:
            started = self.children_by_workflow.get(name) or []
            return bool(started) and all(self.children[c].extra.get("finished") for c in started)

        def ready() -> bool:
            return all(finished(n) for n in names_) if every else any(finished(n) for n in names_)

        if not ready():
            self._arm_deadline()
            self.record(node)
            await self._flush()
            await workflow.wait_condition(ready)

    def stop_requested(self) -> bool:
        return False


@workflow.defn(name=names.TICK_WORKFLOW)
class TickWorkflow:
    """One firing of a cron schedule: start the run of that tick (once per tick)."""

    @workflow.run
    async def run(self, schedule_id: str) -> str | None:
        scheduled = workflow.info().typed_search_attributes
        started: str | None = await _bookkeeping(
            names.TICK,
            {"schedule_id": schedule_id, "tick": names.tick_of(workflow.info(), scheduled)},
        )
        return started
