"""The interpreter: one durable workflow that executes any compiled plan.

A run is the workflow `wfb_run(execution_id)`. It loads its pinned plan in its first step and
walks it deterministically: nodes become ready by the join rule and run one at a time in plan
order. Every effect goes through the engine (steps, sleeps, messages, child runs), so after a
crash the run replays its checkpoints and resumes after the last completed one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dbos import DBOS, SetWorkflowTimeout
from dbos._error import DBOSWorkflowCancelledError

from workflow_builder.compiler import parse_expression
from workflow_builder.runtime import coordination, steps

RUN_WORKFLOW = "wfb_run"
BODY_WORKFLOW = "wfb_body"
VARS_EVENT = "wfb.vars"
CONTROL_TOPIC = "wfb.control"
FOREVER = 10 * 365 * 24 * 3600.0


def signal_topic(name: str) -> str:
    """Return the message topic a signal named `name` is delivered on."""
    return f"signal:{name}"


def work_queue_topic(queue: str) -> str:
    """Return the topic that wakes a run waiting for an item of `queue`."""
    return f"wq:{queue}"


class RunFailed(Exception):
    """The run fails: a node failed with no error handle, or the plan could not go on."""


class Interrupted(Exception):
    """The run was cancelled (by a user, its deadline or its parent) while it waited."""


def _check_wake(message: Any) -> Any:
    """Return a received message, or raise Interrupted for the wake-up a cancellation sends."""
    if isinstance(message, dict) and message.get("wake") == "stop":
        raise Interrupted()
    return message


class EndRun(Exception):
    """An end node ran: the run is over with this status and output."""

    def __init__(self, status: str, output: Any) -> None:
        super().__init__(status)
        self.status = status
        self.output = output


@dataclass
class Result:
    """How a node resolved in the current scope."""

    status: str  # completed | failed | skipped
    outcome: str | None = None
    output: Any = None


@dataclass
class Scope:
    """Where expressions are evaluated: the visible node results and the loop variables."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    item: Any = None
    index: Any = None
    iteration: Any = None
    path: str = ""


def truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, and empty strings, lists and objects are false."""
    return value not in (False, None, "", [], {})


class Runner:
    """Executes one plan for one run (or one loop-body iteration of it)."""

    def __init__(self, run: Mapping[str, Any], variables: dict[str, Any] | None = None) -> None:
        self.run = run
        self.plan: Mapping[str, Any] = run["plan"]
        self.nodes: dict[str, Mapping[str, Any]] = {n["id"]: n for n in self.plan["nodes"]}
        self.order: list[str] = [n["id"] for n in self.plan["nodes"]]
        self.vars: dict[str, Any] = (
            variables
            if variables is not None
            else {name: v.get("initial") for name, v in self.plan.get("variables", {}).items()}
        )

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, source: str | None, scope: Scope) -> Any:
        """Return the value of an expression in `scope` (None for no expression)."""
        if source is None:
            return None
        data = {
            "input": self.run["inputs"],
            "vars": self.vars,
            "nodes": scope.nodes,
            "item": scope.item,
            "index": scope.index,
            "iteration": scope.iteration,
        }
        return parse_expression(source).search(data)

    def node_inputs(self, node: Mapping[str, Any], scope: Scope) -> Any:
        spec = node.get("input") or {}
        if "map" in spec:
            return {name: self.evaluate(expr, scope) for name, expr in spec["map"].items()}
        return self.evaluate(spec.get("from"), scope) if spec.get("from") else {}

    # -- scheduling ---------------------------------------------------------------------------

    def members(self, loop_id: str | None) -> list[str]:
        if loop_id is None:
            return [nid for nid in self.order if self.nodes[nid].get("scope") is None]
        return list(self.nodes[loop_id]["body"]["nodes"])

    def run_scope(self, loop_id: str | None, scope: Scope) -> dict[str, Result]:
        """Run the nodes of the top level (loop_id None) or of one loop-body iteration."""
        results: dict[str, Result] = {}
        members = self.members(loop_id)
        progressed = True
        while progressed:
            progressed = False
            for node_id in members:
                if node_id in results:
                    continue
                state = self._incoming(self.nodes[node_id], results, loop_id)
                if state == "pending":
                    continue
                node = self.nodes[node_id]
                if self.run.get("parent_close_policy") == "request_cancel":
                    # A child whose parent may ask it to stop looks for the request between nodes.
                    _check_wake(DBOS.recv(CONTROL_TOPIC, timeout_seconds=0))
                if state == "skipped":
                    results[node_id] = Result("skipped")
                    steps.record_node(self.run["execution_id"], node, scope.path, "skipped")
                else:
                    results[node_id] = self.execute(node, scope)
                scope.nodes[node_id] = {
                    "status": results[node_id].status,
                    "output": results[node_id].output,
                }
                progressed = True
                break  # rescan from the start: ready nodes always run in plan order
        return results

    def _incoming(
        self, node: Mapping[str, Any], results: Mapping[str, Result], loop_id: str | None
    ) -> str:
        """Return 'ready', 'skipped' or 'pending' for a node by the join rule."""
        incoming = node.get("incoming") or []
        if not incoming:
            return "ready"
        taken = False
        for edge in incoming:
            if edge["source"] == loop_id:
                taken = taken or edge["outcome"] == "body"
                continue
            source = results.get(edge["source"])
            if source is None:
                return "pending"
            if source.status != "skipped" and source.outcome == edge["outcome"]:
                taken = True
        return "ready" if taken else "skipped"

    # -- nodes ----------------------------------------------------------------------------------

    def execute(self, node: Mapping[str, Any], scope: Scope) -> Result:
        kind = node["type"]
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            raise RunFailed(f"node {node['id']!r}: unknown node type {kind!r}")
        result: Result = handler(node, scope)
        if kind not in ("activity", "agent"):
            status = "failed" if result.status == "failed" else "completed"
            steps.record_node(
                self.run["execution_id"], node, scope.path, status, outputs=result.output
            )
        return result

    def _trigger(self, node: Mapping[str, Any], scope: Scope) -> Result:
        return Result("completed", "next", self.run["inputs"])

    def _join(self, node: Mapping[str, Any], scope: Scope) -> Result:
        return Result("completed", "next", {})

    def _activity(self, node: Mapping[str, Any], scope: Scope) -> Result:
        component = self.plan["components"][node["component"]]
        inputs = self.node_inputs(node, scope)
        retry = node.get("retry") or {}
        attempts = int(retry.get("maximum_attempts") or 1)
        interval = float(retry.get("initial_interval") or 1.0)
        key = f"{node['id']}{scope.path}"
        outcome: dict[str, Any] = {}
        for attempt in range(1, attempts + 1):
            outcome = DBOS.run_step(
                {"name": f"{key}#{attempt}"},
                steps.call_component,
                self.run,
                node,
                component,
                scope.path,
                attempt,
                f"{DBOS.workflow_id}:{key}#{attempt}",
                inputs,
            )
            if outcome["ok"]:
                return Result("completed", "next", outcome["output"])
            error = outcome["error"]
            final = (
                attempt == attempts
                or not error["retryable"]
                or error["type"] in (retry.get("non_retryable_error_types") or [])
            )
            if final:
                break
            DBOS.sleep(min(interval, float(retry.get("maximum_interval") or interval)))
            interval *= float(retry.get("backoff_coefficient") or 1.0)
        return self._node_failed(node, outcome["error"])

    _agent = _activity

    def _condition(self, node: Mapping[str, Any], scope: Scope) -> Result:
        value = truthy(self.evaluate(node["config"]["expression"], scope))
        return Result("completed", "true" if value else "false", {"result": value})

    def _switch(self, node: Mapping[str, Any], scope: Scope) -> Result:
        for case in node["config"]["cases"]:
            if truthy(self.evaluate(case["expression"], scope)):
                return Result("completed", case["name"], {"case": case["name"]})
        return Result("completed", "default", {"case": "default"})

    def _set_variable(self, node: Mapping[str, Any], scope: Scope) -> Result:
        value = self.evaluate(node["config"]["value"], scope)
        self.vars[node["config"]["variable"]] = value
        DBOS.set_event(VARS_EVENT, self.vars)
        return Result("completed", "next", {"value": value})

    def _delay(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        seconds = config.get("seconds")
        if seconds is None:
            until = self.evaluate(config.get("until"), scope)
            try:
                target = datetime.fromisoformat(str(until))
            except ValueError:
                raise RunFailed(
                    f"node {node['id']!r}: until must be an ISO 8601 time, got {until!r}"
                ) from None
            now = datetime.fromisoformat(DBOS.run_step({"name": "wfb.clock"}, steps.now_iso))
            if target.tzinfo is None:
                target = target.replace(tzinfo=now.tzinfo)
            seconds = max((target - now).total_seconds(), 0.0)
        if seconds:
            steps.record_node(
                self.run["execution_id"], node, scope.path, "waiting", completed=False
            )
            DBOS.sleep(float(seconds))
        return Result("completed", "next", {})

    def _wait_for_signal(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        steps.record_node(self.run["execution_id"], node, scope.path, "waiting", completed=False)
        message = _check_wake(
            DBOS.recv(
                signal_topic(config["signal"]),
                timeout_seconds=float(config.get("timeout_seconds") or FOREVER),
            )
        )
        if message is None:
            return Result("completed", "timed_out", {"received": False, "payload": None})
        return Result("completed", "received", {"received": True, "payload": message["payload"]})

    def _work_queue(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        queue = config["queue"]
        declared = {q["name"]: q for q in self.plan.get("work_queues", [])}
        order = declared.get(queue, {}).get("priority", "fifo")
        key = f"{node['id']}{scope.path}"
        if config["operation"] == "take":
            item = DBOS.run_step(
                {"name": f"{key}:take"},
                coordination.take_item,
                self.run["execution_id"],
                queue,
                order,
                f"{DBOS.workflow_id}:{key}",
            )
            return Result("completed", "next", {"item": item})
        steps.record_node(self.run["execution_id"], node, scope.path, "waiting", completed=False)
        timeout = float(config.get("timeout_seconds") or FOREVER)
        deadline = DBOS.run_step({"name": f"{key}:deadline"}, coordination.deadline, timeout)
        for round_ in range(1_000_000):
            item = DBOS.run_step(
                {"name": f"{key}:take{round_}"},
                coordination.take_item,
                self.run["execution_id"],
                queue,
                order,
                f"{DBOS.workflow_id}:{key}",
            )
            if item is not None:
                return Result("completed", "received", {"item": item})
            remaining = DBOS.run_step(
                {"name": f"{key}:left{round_}"}, coordination.seconds_left, deadline
            )
            if remaining <= 0 or _check_wake(DBOS.recv(work_queue_topic(queue), remaining)) is None:
                return Result("completed", "timed_out", {"item": None})
        raise RunFailed(f"node {node['id']!r}: too many wake-ups without an item")

    def _child_workflow(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        key = f"{node['id']}{scope.path}"
        inputs = self.node_inputs(node, scope)
        self._block_until(node, scope, key)
        child = DBOS.run_step(
            {"name": f"{key}:create"},
            coordination.create_child_execution,
            self.run,
            config["workflow"],
            config["parent_close_policy"],
            inputs,
            key,
        )
        if "error" in child:
            return self._node_failed(node, child["error"])
        options: Any = {
            "workflow_name": RUN_WORKFLOW,
            "queue_name": child["queue_name"],
            "workflow_id": child["execution_id"],
            "workflow_timeout": child["timeout_seconds"],
        }
        if config["parent_close_policy"] == "abandon":
            # Detached from the parent's deadline: an abandoned child outlives its parent.
            with SetWorkflowTimeout(None):
                handle = DBOS.enqueue_workflow_with_options(options, child["execution_id"])
        else:
            handle = DBOS.enqueue_workflow_with_options(options, child["execution_id"])
        if config.get("mode", "execute") == "start":
            return Result(
                "completed", "next", {"workflow_id": child["execution_id"], "result": None}
            )
        outcome = handle.get_result()
        if outcome.get("status") != "completed":
            return self._node_failed(
                node, {"type": "ChildWorkflowFailed", "message": outcome.get("error") or "failed"}
            )
        return Result(
            "completed", "next", {"workflow_id": child["execution_id"], "result": outcome["output"]}
        )

    def _block_until(self, node: Mapping[str, Any], scope: Scope, key: str) -> None:
        """Wait, durably, until the sibling children its declaration names have finished."""
        block = DBOS.run_step(
            {"name": f"{key}:block"},
            coordination.block_until_of,
            self.run["workflow_id"],
            node["config"]["workflow"],
        )
        if not block:
            return
        steps.record_node(self.run["execution_id"], node, scope.path, "waiting", completed=False)
        for round_ in range(1_000_000):
            if DBOS.run_step(
                {"name": f"{key}:blocked{round_}"},
                coordination.siblings_finished,
                self.run["execution_id"],
                block["workflows"],
                block.get("mode", "all"),
            ):
                return
            DBOS.sleep(coordination.BLOCK_POLL_SECONDS)

    def _node_failed(self, node: Mapping[str, Any], error: Mapping[str, Any]) -> Result:
        """Take the node's error handle if it is wired; otherwise fail the run, naming the node."""
        if node.get("successors", {}).get("error"):
            return Result("failed", "error", {"error": dict(error)})
        raise RunFailed(f"node {node['id']!r} failed: {error.get('type')}: {error.get('message')}")

    def _end(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        output = self.evaluate(config.get("output"), scope)
        steps.record_node(self.run["execution_id"], node, scope.path, "completed", outputs=output)
        raise EndRun(config.get("status", "completed"), output)

    # -- loops --------------------------------------------------------------------------------

    def iterate(self, loop_id: str, scope: Scope, **loop_vars: Any) -> tuple[Scope, Any]:
        """Run one iteration of a loop body; return its scope and its result value."""
        label = ",".join(f"{k}={v}" for k, v in loop_vars.items() if k != "item")
        inner = Scope(
            nodes=dict(scope.nodes),
            item=loop_vars.get("item", scope.item),
            index=loop_vars.get("index", scope.index),
            iteration=loop_vars.get("iteration", scope.iteration),
            path=f"{scope.path}[{loop_id}:{label}]",
        )
        self.run_scope(loop_id, inner)
        return inner, self.evaluate(self.nodes[loop_id]["body"].get("result"), inner)

    def _loop(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        result: Any = None
        count = 0
        for iteration in range(int(config["max_iterations"])):
            inner, result = self.iterate(node["id"], scope, iteration=iteration)
            count += 1
            if truthy(self.evaluate(config["until"], inner)):
                break
        return Result("completed", "done", {"iterations": count, "result": result})

    def _for_each(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        items = self.evaluate(config["items"], scope)
        if not isinstance(items, list):
            raise RunFailed(
                f"node {node['id']!r}: items must be a list, got {type(items).__name__}"
            )
        concurrency = int(config.get("concurrency") or 1)
        if concurrency == 1:
            results = [
                self.iterate(node["id"], scope, item=i, index=n)[1] for n, i in enumerate(items)
            ]
        else:
            results = self._concurrent_iterations(node, scope, items, concurrency)
        return Result("completed", "done", {"results": results, "count": len(results)})

    def _concurrent_iterations(
        self, node: Mapping[str, Any], scope: Scope, items: list[Any], concurrency: int
    ) -> list[Any]:
        """Run iterations as child workflows, at most `concurrency` at a time, in item order.

        Each iteration sees a snapshot of the variables; what it sets stays inside it.
        """
        handles: list[Any] = []
        results: list[Any] = []
        for index, item in enumerate(items):
            if len(handles) - len(results) >= concurrency:
                results.append(handles[len(results)].get_result())
            handles.append(
                DBOS.start_workflow(
                    run_body,
                    self.run["execution_id"],
                    node["id"],
                    scope.nodes,
                    self.vars,
                    item,
                    index,
                    scope.path,
                )
            )
        results.extend(handle.get_result() for handle in handles[len(results) :])
        return results

    # -- the whole run ------------------------------------------------------------------------

    def execute_run(self) -> dict[str, Any]:
        """Run the plan to its end and close the execution; return its status and output."""
        DBOS.run_step({"name": "wfb.started"}, steps.mark_started, self.run["execution_id"])
        if self.vars:
            DBOS.set_event(VARS_EVENT, self.vars)
        status, output, error = "completed", None, None
        try:
            self.run_scope(None, Scope())
        except EndRun as end:
            status, output = end.status, end.output
            error = "the workflow ended with status failed" if end.status == "failed" else None
        except RunFailed as failure:
            status, error = "failed", str(failure)
        DBOS.run_step(
            {"name": "wfb.children"}, coordination.close_children, self.run["execution_id"]
        )
        DBOS.run_step(
            {"name": "wfb.finish"}, steps.finish, self.run["execution_id"], status, output, error
        )
        return {"status": status, "output": output, "error": error}


@DBOS.workflow(name=RUN_WORKFLOW)
def run_execution(execution_id: str) -> dict[str, Any]:
    """The durable run of one execution."""
    run = DBOS.run_step({"name": "wfb.load"}, steps.load_run, execution_id)
    if run["status"] not in ("pending", "running"):
        # Closed before it started (canceled while its admission was enqueuing it): nothing to do.
        return {"status": run["status"], "output": None, "error": None}
    try:
        return Runner(run).execute_run()
    except Interrupted:
        coordination.mark_interrupted(execution_id)
        return {"status": "canceled", "output": None, "error": "interrupted"}
    except DBOSWorkflowCancelledError:
        coordination.mark_interrupted(execution_id)
        raise


@DBOS.workflow(name=BODY_WORKFLOW)
def run_body(
    execution_id: str,
    loop_id: str,
    nodes: dict[str, Any],
    variables: dict[str, Any],
    item: Any,
    index: int,
    path: str,
) -> Any:
    """One iteration of a concurrent for_each body, as a child of its run."""
    run = DBOS.run_step({"name": "wfb.load"}, steps.load_run, execution_id)
    runner = Runner(run, dict(variables))
    _, result = runner.iterate(loop_id, Scope(nodes=dict(nodes), path=path), item=item, index=index)
    return result
