"""Crash recovery with real worker processes: SIGKILL a worker in the middle of a long step,
start another, and the run completes without repeating the steps completed before the kill."""

from __future__ import annotations

import signal
import time

import pytest
from sqlalchemy import text

from tests.runtime.conftest import Api, Peer, WorkerProcess, call, chain, trigger, worker_rows
from tests.support import unique
from workflow_builder.db import Database, system_session


@pytest.mark.slow
def test_a_killed_worker_s_run_completes_on_another_without_repeating_steps(
    api: Api, peer: Peer, db: Database, workers: list[WorkerProcess]
) -> None:
    project_id = api.call("POST", "/projects", 201, json={"name": unique("crash")}).json()["id"]
    keys = {name: unique(name) for name in ("one", "two", "slow", "after")}
    definition = {
        "nodes": [
            trigger(),
            call("one", f"{peer.url}/count/{keys['one']}", input={}),
            call("two", f"{peer.url}/count/{keys['two']}", input={}),
            call("slow", f"{peer.url}/slow/{keys['slow']}?seconds=4", input={}),
            call("after", f"{peer.url}/count/{keys['after']}", input={}),
            {
                "id": "done",
                "type": "end",
                "config": {
                    "output": "[nodes.one.output.body.count, nodes.two.output.body.count, "
                    "nodes.after.output.body.count]"
                },
            },
        ],
        "edges": chain("start", "one", "two", "slow", "after", "done"),
    }
    workflow_id = api.deploy(definition, project_id=project_id)

    first = WorkerProcess(db, project_id, unique("first"))
    workers.append(first)
    first.wait_registered()
    execution_id = api.start(workflow_id)
    deadline = time.monotonic() + 30
    while peer.count(keys["slow"]) == 0:  # the long step is in flight
        assert time.monotonic() < deadline, first.output()
        time.sleep(0.05)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    assert api.execution(execution_id)["status"] == "running"

    second = WorkerProcess(db, project_id, unique("second"))
    workers.append(second)
    run = api.wait(execution_id, timeout=60)

    assert run["status"] == "completed", run
    assert run["outputs"] == [1, 1, 1]
    assert peer.count(keys["one"]) == 1 and peer.count(keys["two"]) == 1
    assert peer.count(keys["after"]) == 1
    assert peer.count(keys["slow"]) == 2  # the step in flight at the kill ran again
    [(status, error, _, stopped_at)] = worker_rows(first.worker_id)
    assert status == "error" and "no heartbeat" in error and stopped_at is not None

    listed = api.call("GET", f"/workers?project_id={project_id}", 200).json()
    assert {w["worker_id"].split("@")[0]: w["status"] for w in listed} == {
        first.worker_id: "error",
        second.worker_id: "running",
    }
    assert second.stop(signal.SIGTERM) == 0
    [(status, _, _, stopped_at)] = worker_rows(second.worker_id)
    assert status == "stopped" and stopped_at is not None


@pytest.mark.slow
def test_a_schedule_fires_once_per_tick_with_several_workers(
    api: Api, db: Database, workers: list[WorkerProcess]
) -> None:
    workflow_id = api.create_workflow(
        {"nodes": [trigger(), {"id": "done", "type": "end"}], "edges": chain("start", "done")}
    )
    api.call(
        "POST",
        f"/workflows/{workflow_id}/schedules",
        201,
        json={"cron_expression": "* * * * * *", "timezone": "UTC"},
    )
    # A second process serving every queue, beside this test process's worker.
    other = WorkerProcess(db, "", unique("sched"))
    workers.append(other)
    time.sleep(3)
    api.call("POST", f"/workflows/{workflow_id}/deploy", 200)
    started = time.monotonic()
    time.sleep(6)
    api.call("PATCH", f"/workflows/{workflow_id}", 200, json={"status": "paused"})
    elapsed = time.monotonic() - started
    listed = api.call("GET", f"/executions?workflow_id={workflow_id}&limit=200", 200).json()
    ticks = [i for i in listed["items"] if i["trigger_kind"] == "schedule"]
    assert 2 <= len(ticks) <= elapsed + 2, (len(ticks), elapsed)
    with system_session() as session:
        keys = session.execute(
            text(
                "select count(distinct idempotency_key) from workflow_executions "
                "where workflow_id = :w"
            ),
            {"w": workflow_id},
        ).scalar_one()
    assert keys == len(ticks)
