"""The interpreter: walks any compiled plan for one run, through the engine port.

It imports no engine. Nodes that become ready together start together (in plan order), so
independent branches run concurrently; a node waits for every incoming edge that can still
reach it (the join rule); an `end` node stops the work still in flight. Pure nodes (trigger,
condition, switch, set_variable, join, end, and pure components such as `transform`) run here,
in the workflow code, with no checkpoint of their own: they are deterministic functions of
recorded results, so a replay computes them again. Everything else — component calls, timers,
signals, work-queue items, child runs, the clock — goes through the port, keyed by the node id
and the loop iterations it runs in, so a replay finds each result whatever order concurrent
branches reached it in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from workflow_builder.compiler.expressions import parse_expression
from workflow_builder.runtime.port import (
    Call,
    ChildRequest,
    EnginePort,
    Interrupted,
    NodeRecord,
    RetryPolicy,
    RunSpec,
)

FOREVER = 10 * 365 * 24 * 3600.0
PURE_NODE_TYPES = frozenset({"trigger", "join", "condition", "switch", "set_variable", "end"})
CALL_NODE_TYPES = frozenset({"activity", "agent"})


class RunFailed(Exception):
    """The run fails: a node failed with no error handle, or the plan could not go on."""


class EndRun(Exception):
    """An end node ran (or a test run reached its last node): the run is over."""

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


@dataclass(frozen=True)
class RunEnd:
    """How a run ended."""

    status: str  # completed | failed | canceled
    output: Any = None
    error: str | None = None


async def _first_done(tasks: list[asyncio.Task[Result]]) -> None:
    """Return once one of `tasks` is done. (Not asyncio.wait: its sets iterate in an order a
    replay need not reproduce; done-callbacks run in the event loop's own order.)"""
    if any(task.done() for task in tasks):
        return
    woken = asyncio.get_running_loop().create_future()

    def wake(_: Any) -> None:
        if not woken.done():
            woken.set_result(None)

    for task in tasks:
        task.add_done_callback(wake)
    try:
        await woken
    finally:
        for task in tasks:
            task.remove_done_callback(wake)


async def _cancel_all(tasks: list[asyncio.Task[Any]], leaving: BaseException) -> None:
    """Cancel the tasks still running as a scope leaves on `leaving`, and wait until they have
    stopped — unless the run's coroutine is being closed (GeneratorExit: its engine dropped
    it), which may not suspend again."""
    for task in tasks:
        task.cancel()
    if tasks and not isinstance(leaving, GeneratorExit):
        await asyncio.gather(*tasks, return_exceptions=True)


def truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, and empty strings, lists and objects are false."""
    return value not in (False, None, "", [], {})


class Interpreter:
    """Executes one run's plan through its engine port."""

    def __init__(
        self,
        run: RunSpec,
        port: EnginePort,
        *,
        pure_implementations: frozenset[str] = frozenset(),
        variables: dict[str, Any] | None = None,
        publish: bool = True,
    ) -> None:
        self.run = run
        self.port = port
        self.plan: Mapping[str, Any] = run.plan
        self.pure_implementations = pure_implementations
        self.nodes: dict[str, Mapping[str, Any]] = {n["id"]: n for n in self.plan["nodes"]}
        self.order: list[str] = [n["id"] for n in self.plan["nodes"]]
        if variables is not None:
            self.vars = variables
        elif run.variables is not None:
            self.vars = dict(run.variables)
        else:
            self.vars = {
                name: v.get("initial") for name, v in self.plan.get("variables", {}).items()
            }
        # Concurrent for_each iterations work on a copy of the variables and publish nothing.
        self.publishes = publish
        test = self.plan.get("test") or {}
        self.pinned: Mapping[str, Any] = test.get("pinned") or {}
        self.stop_after: str | None = test.get("stop_after")

    # -- the whole run ----------------------------------------------------------------------

    async def execute(self) -> RunEnd:
        """Run the plan to its end; return how the run ended (the caller closes it)."""
        try:
            await self.run_scope(None, Scope())
        except EndRun as end:
            error = "the workflow ended with status failed" if end.status == "failed" else None
            return RunEnd(end.status, end.output, error)
        except RunFailed as failure:
            return RunEnd("failed", None, str(failure))
        except Interrupted:
            return RunEnd("canceled", None, "canceled: its parent closed (request_cancel policy)")
        return RunEnd("completed")

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(self, source: str | None, scope: Scope) -> Any:
        """Return the value of an expression in `scope` (None for no expression)."""
        if source is None:
            return None
        data = {
            "input": self.run.inputs,
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

    # -- scheduling -------------------------------------------------------------------------

    def members(self, loop_id: str | None) -> list[str]:
        if loop_id is None:
            return [nid for nid in self.order if self.nodes[nid].get("scope") is None]
        return list(self.nodes[loop_id]["body"]["nodes"])

    async def run_scope(self, loop_id: str | None, scope: Scope) -> dict[str, Result]:
        """Run the nodes of the top level (loop_id None) or of one loop-body iteration:
        every ready node starts at once; the scope ends when every node has resolved."""
        results: dict[str, Result] = {}
        running: dict[str, asyncio.Task[Result]] = {}
        members = self.members(loop_id)
        try:
            while True:
                self._start_ready(members, results, running, loop_id, scope)
                if not running:
                    return results
                await _first_done(list(running.values()))
                for node_id in [n for n in members if n in running and running[n].done()]:
                    self._resolve(node_id, running.pop(node_id).result(), results, scope)
        except BaseException as leaving:
            await _cancel_all(list(running.values()), leaving)
            raise

    def _start_ready(
        self,
        members: list[str],
        results: dict[str, Result],
        running: dict[str, asyncio.Task[Result]],
        loop_id: str | None,
        scope: Scope,
    ) -> None:
        """Resolve or start every node that is ready, in plan order, until none is."""
        progressed = True
        while progressed:
            progressed = False
            for node_id in members:
                if node_id in results or node_id in running:
                    continue
                node = self.nodes[node_id]
                state = self._incoming(node, results, loop_id)
                if state == "pending":
                    continue
                progressed = True
                if state == "skipped":
                    self.port.record(NodeRecord(node, scope.path, "skipped"))
                    self._resolve(node_id, Result("skipped"), results, scope)
                    continue
                if self.port.stop_requested():
                    raise Interrupted()
                if node_id in self.pinned:
                    output = self.pinned[node_id]
                    self.port.record(NodeRecord(node, scope.path, "completed", outputs=output))
                    self._resolve(node_id, Result("completed", "next", output), results, scope)
                elif node["type"] in PURE_NODE_TYPES or self._pure_call(node):
                    self._resolve(node_id, self._run_pure(node, scope), results, scope)
                else:
                    running[node_id] = asyncio.ensure_future(self._run_node(node, scope))

    def _resolve(
        self, node_id: str, result: Result, results: dict[str, Result], scope: Scope
    ) -> None:
        results[node_id] = result
        scope.nodes[node_id] = {"status": result.status, "output": result.output}
        if node_id == self.stop_after and result.status != "skipped":
            raise EndRun("completed", result.output)

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

    # -- pure nodes -------------------------------------------------------------------------

    def _pure_call(self, node: Mapping[str, Any]) -> bool:
        if node["type"] not in CALL_NODE_TYPES:
            return False
        component = self.plan["components"][node["component"]]
        return component.get("implementation_path") in self.pure_implementations

    def _run_pure(self, node: Mapping[str, Any], scope: Scope) -> Result:
        kind = node["type"]
        path = scope.path
        if kind in CALL_NODE_TYPES:
            component = self.plan["components"][node["component"]]
            inputs = self.node_inputs(node, scope)
            call = Call(node, component, f"{node['id']}{path}", path, inputs)
            outcome = self.port.run_pure(call)
            record = NodeRecord(
                node, path, "completed", component_id=component.get("id"), attempts=1
            )
            if outcome.get("ok"):
                self.port.record(replace(record, inputs=inputs, outputs=outcome.get("output")))
                return Result("completed", "next", outcome.get("output"))
            error = outcome["error"]
            self.port.record(
                replace(record, status="failed", inputs=inputs, error=error["message"])
            )
            return self._node_failed(node, dict(error))
        if kind == "trigger":
            result = Result("completed", "next", self.run.inputs)
        elif kind == "join":
            result = Result("completed", "next", {})
        elif kind == "condition":
            value = truthy(self.evaluate(node["config"]["expression"], scope))
            result = Result("completed", "true" if value else "false", {"result": value})
        elif kind == "switch":
            result = Result("completed", "default", {"case": "default"})
            for case in node["config"]["cases"]:
                if truthy(self.evaluate(case["expression"], scope)):
                    result = Result("completed", case["name"], {"case": case["name"]})
                    break
        elif kind == "set_variable":
            value = self.evaluate(node["config"]["value"], scope)
            self.vars[node["config"]["variable"]] = value
            if self.publishes:
                self.port.publish(self.vars)
            result = Result("completed", "next", {"value": value})
        else:  # end
            config = node["config"]
            output = self.evaluate(config.get("output"), scope)
            self.port.record(NodeRecord(node, path, "completed", outputs=output))
            raise EndRun(config.get("status", "completed"), output)
        self.port.record(NodeRecord(node, path, "completed", outputs=result.output))
        return result

    def _node_failed(self, node: Mapping[str, Any], error: Mapping[str, Any]) -> Result:
        """Take the node's error handle if it is wired; otherwise fail the run, naming the node."""
        if node.get("successors", {}).get("error"):
            return Result("failed", "error", {"error": dict(error)})
        raise RunFailed(f"node {node['id']!r} failed: {error.get('type')}: {error.get('message')}")

    # -- nodes with effects or waits --------------------------------------------------------

    async def _run_node(self, node: Mapping[str, Any], scope: Scope) -> Result:
        kind = node["type"]
        if kind in CALL_NODE_TYPES:
            return await self._call(node, scope)
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            raise RunFailed(f"node {node['id']!r}: unknown node type {kind!r}")
        result: Result = await handler(node, scope)
        return result

    async def _call(self, node: Mapping[str, Any], scope: Scope) -> Result:
        """A component call, attempted as its retry policy says."""
        call = Call(
            node,
            self.plan["components"][node["component"]],
            f"{node['id']}{scope.path}",
            scope.path,
            self.node_inputs(node, scope),
            RetryPolicy.of(node.get("retry")),
        )
        outcome = await self.port.call(call)
        if outcome.get("ok"):
            return Result("completed", "next", outcome.get("output"))
        return self._node_failed(node, dict(outcome["error"]))

    async def _delay(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        key = f"{node['id']}{scope.path}"
        seconds = config.get("seconds")
        if seconds is None:
            until = self.evaluate(config.get("until"), scope)
            try:
                target = datetime.fromisoformat(str(until))
            except ValueError:
                raise RunFailed(
                    f"node {node['id']!r}: until must be an ISO 8601 time, got {until!r}"
                ) from None
            now = await self.port.now(key)
            if target.tzinfo is None:
                target = target.replace(tzinfo=now.tzinfo)
            seconds = max((target - now).total_seconds(), 0.0)
        if seconds:
            await self.port.sleep(key, float(seconds), NodeRecord(node, scope.path, "waiting"))
        self.port.record(NodeRecord(node, scope.path, "completed", outputs={}))
        return Result("completed", "next", {})

    async def _wait_for_signal(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        received, payload = await self.port.receive(
            f"{node['id']}{scope.path}",
            config["signal"],
            config.get("timeout_seconds"),
            NodeRecord(node, scope.path, "waiting"),
        )
        if not received:
            result = Result("completed", "timed_out", {"received": False, "payload": None})
        else:
            result = Result("completed", "received", {"received": True, "payload": payload})
        self.port.record(NodeRecord(node, scope.path, "completed", outputs=result.output))
        return result

    async def _work_queue(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        queue = config["queue"]
        declared = {q["name"]: q for q in self.plan.get("work_queues", [])}
        order = declared.get(queue, {}).get("priority", "fifo")
        waits = config["operation"] != "take"
        found, item = await self.port.take(
            f"{node['id']}{scope.path}",
            queue,
            order,
            waits,
            config.get("timeout_seconds"),
            NodeRecord(node, scope.path, "waiting"),
        )
        if not waits:
            result = Result("completed", "next", {"item": item})
        elif found:
            result = Result("completed", "received", {"item": item})
        else:
            result = Result("completed", "timed_out", {"item": None})
        self.port.record(NodeRecord(node, scope.path, "completed", outputs=result.output))
        return result

    async def _child_workflow(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        key = f"{node['id']}{scope.path}"
        request = ChildRequest(
            key=key,
            workflow=config["workflow"],
            policy=config["parent_close_policy"],
            inputs=self.node_inputs(node, scope),
            wait=config.get("mode", "execute") != "start",
        )
        await self.port.block_until(key, request.workflow, NodeRecord(node, scope.path, "waiting"))
        child = await self.port.start_child(request)
        if child.error is not None:
            return self._recorded_failure(node, scope, child.error)
        if not request.wait:
            output = {"workflow_id": child.execution_id, "result": None}
            self.port.record(NodeRecord(node, scope.path, "completed", outputs=output))
            return Result("completed", "next", output)
        self.port.record(NodeRecord(node, scope.path, "waiting"))
        finished = await self.port.child_result(request, child)
        if finished.status != "completed":
            error = {
                "type": "ChildWorkflowFailed",
                "message": f"the child run ended {finished.status}"
                + (f": {finished.extra.get('error')}" if finished.extra.get("error") else ""),
            }
            return self._recorded_failure(node, scope, error)
        output = {"workflow_id": child.execution_id, "result": finished.output}
        self.port.record(NodeRecord(node, scope.path, "completed", outputs=output))
        return Result("completed", "next", output)

    def _recorded_failure(
        self, node: Mapping[str, Any], scope: Scope, error: Mapping[str, Any]
    ) -> Result:
        self.port.record(
            NodeRecord(
                node, scope.path, "failed", outputs={"error": dict(error)}, error=error["message"]
            )
        )
        return self._node_failed(node, error)

    # -- loops --------------------------------------------------------------------------------

    async def iterate(self, loop_id: str, scope: Scope, **loop_vars: Any) -> tuple[Scope, Any]:
        """Run one iteration of a loop body; return its scope and its result value."""
        label = ",".join(f"{k}={v}" for k, v in loop_vars.items() if k != "item")
        inner = Scope(
            nodes=dict(scope.nodes),
            item=loop_vars.get("item", scope.item),
            index=loop_vars.get("index", scope.index),
            iteration=loop_vars.get("iteration", scope.iteration),
            path=f"{scope.path}[{loop_id}:{label}]",
        )
        await self.run_scope(loop_id, inner)
        return inner, self.evaluate(self.nodes[loop_id]["body"].get("result"), inner)

    async def _loop(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        result: Any = None
        count = 0
        for iteration in range(int(config["max_iterations"])):
            inner, result = await self.iterate(node["id"], scope, iteration=iteration)
            count += 1
            if truthy(self.evaluate(config["until"], inner)):
                break
        output = {"iterations": count, "result": result}
        self.port.record(NodeRecord(node, scope.path, "completed", outputs=output))
        return Result("completed", "done", output)

    async def _for_each(self, node: Mapping[str, Any], scope: Scope) -> Result:
        config = node["config"]
        items = self.evaluate(config["items"], scope)
        if not isinstance(items, list):
            raise RunFailed(
                f"node {node['id']!r}: items must be a list, got {type(items).__name__}"
            )
        concurrency = max(int(config.get("concurrency") or 1), 1)
        if concurrency == 1:
            results = [
                (await self.iterate(node["id"], scope, item=item, index=index))[1]
                for index, item in enumerate(items)
            ]
        else:
            results = await self._concurrent_iterations(node, scope, items, concurrency)
        output = {"results": results, "count": len(results)}
        self.port.record(NodeRecord(node, scope.path, "completed", outputs=output))
        return Result("completed", "done", output)

    async def _concurrent_iterations(
        self, node: Mapping[str, Any], scope: Scope, items: list[Any], concurrency: int
    ) -> list[Any]:
        """Run iterations at most `concurrency` at a time; return their results in item order.

        Each iteration works on a snapshot of the variables; what it sets stays inside it.
        """
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int, item: Any) -> Any:
            async with gate:
                branch = Interpreter(
                    self.run,
                    self.port,
                    pure_implementations=self.pure_implementations,
                    variables=dict(self.vars),
                    publish=False,
                )
                return (await branch.iterate(node["id"], scope, item=item, index=index))[1]

        tasks = [asyncio.ensure_future(one(index, item)) for index, item in enumerate(items)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException as leaving:
            await _cancel_all(tasks, leaving)
            raise
