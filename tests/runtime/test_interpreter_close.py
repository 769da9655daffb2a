"""A run's coroutine that is closed while nodes run (the engine drops a run it no longer holds:
a Temporal workflow collected at shutdown, a process exiting) cancels them and awaits nothing:
a coroutine being closed may not suspend again, or Python reports "coroutine ignored
GeneratorExit" and the nodes' tasks are left behind."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

from tests.compiler.support import catalog, edge
from workflow_builder.compiler import compile_definition
from workflow_builder.runtime.interpreter import Interpreter
from workflow_builder.runtime.port import EnginePort, NodeRecord, RunSpec


class Sleeper:
    """The part of an engine port a run of delays uses; a delay never ends by itself."""

    def __init__(self) -> None:
        self.sleeping: list[asyncio.Future[None]] = []

    async def sleep(self, key: str, seconds: float, node: NodeRecord | None) -> None:
        woken = asyncio.get_running_loop().create_future()
        self.sleeping.append(woken)
        await woken

    def record(self, record: NodeRecord) -> None:
        pass

    def publish(self, variables: Any) -> None:
        pass

    def stop_requested(self) -> bool:
        return False


def two_delays() -> RunSpec:
    definition = {
        "format_version": 1,
        "nodes": [
            {"id": "start", "type": "trigger", "config": {"kind": "manual"}},
            {"id": "left", "type": "delay", "config": {"seconds": 60}},
            {"id": "right", "type": "delay", "config": {"seconds": 60}},
            {"id": "both", "type": "join"},
            {"id": "done", "type": "end"},
        ],
        "edges": [
            edge("e1", "start", "left"),
            edge("e2", "start", "right"),
            edge("e3", "left", "both"),
            edge("e4", "right", "both"),
            edge("e5", "both", "done"),
        ],
    }
    plan = compile_definition(definition, catalog())
    return RunSpec(
        execution_id="run",
        workflow_id="workflow",
        project_id=None,
        compiled_code_id="code",
        inputs={},
        created_by=None,
        parent_execution_id=None,
        parent_close_policy=None,
        task_queue_name="default",
        max_concurrent_activities=10,
        plan=plan.data,
    )


def test_closing_a_run_with_nodes_in_flight_cancels_them_without_awaiting() -> None:
    async def scenario() -> None:
        port = Sleeper()
        run = Interpreter(two_delays(), cast(EnginePort, port)).execute()
        # Step the run by hand, as an engine does, until both delays wait.
        run.send(None)
        while len(port.sleeping) < 2:
            await asyncio.sleep(0)
        # The engine drops the run: its coroutine is closed where it waits.
        run.close()  # raised RuntimeError when the run awaited while being closed
        for _ in range(3):
            await asyncio.sleep(0)
        assert [sleep.cancelled() for sleep in port.sleeping] == [True, True]

    # On a thread of its own: a loop of the session's may run on this one (Playwright's).
    failures: list[BaseException] = []

    def run_scenario() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as failure:  # reported below, on the test's thread
            failures.append(failure)

    thread = threading.Thread(target=run_scenario)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the closed run did not let its loop end"
    if failures:
        raise failures[0]
