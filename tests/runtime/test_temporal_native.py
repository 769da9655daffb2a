"""On Temporal, runs are Temporal's own: Temporal's CLI queries and signals them, schedules are
Temporal Schedules. (Runs on the Temporal pass of `make test`, `WFB_ENGINE=temporal`.)"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

import pytest

from tests.runtime.conftest import Api, Peer, call, chain, trigger
from tests.support import unique
from workflow_builder.config import get_settings
from workflow_builder.runtime.engines.temporal import server

pytestmark = pytest.mark.skipif(
    os.environ.get("WFB_ENGINE") != "temporal", reason="the Temporal engine's own tooling"
)


def temporal(*args: str) -> Any:
    """Temporal's CLI against the server the runs are on; its JSON answer."""
    settings = get_settings()
    done = subprocess.run(
        [
            server.binary(),
            *args,
            "--address",
            os.environ["TEMPORAL_ADDRESS"],
            "--namespace",
            settings.temporal_namespace,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_temporal_cli_queries_and_signals_a_run(api: Api) -> None:
    definition = {
        "variables": {"stage": {"initial": "new", "schema": {"type": "string"}}},
        "signals": [{"name": "go", "parameters": {"type": "object"}}],
        "queries": [{"name": "stage", "expression": "vars.stage"}],
        "nodes": [
            trigger(),
            {
                "id": "mark",
                "type": "set_variable",
                "config": {"variable": "stage", "value": "'waiting'"},
            },
            {"id": "wait", "type": "wait_for_signal", "config": {"signal": "go"}},
            {"id": "done", "type": "end", "config": {"output": "nodes.wait.output.payload"}},
        ],
        "edges": chain("start", "mark", "wait", "done"),
    }
    execution_id = api.start(api.deploy(definition))
    api.wait_for_step(execution_id, "wait", "waiting")

    answer = temporal("workflow", "query", "--workflow-id", execution_id, "--type", "stage")
    assert answer["queryResult"] == ["waiting"], answer
    temporal(
        "workflow", "signal", "--workflow-id", execution_id, "--name", "go", "--input", '{"ok": 1}'
    )
    run = api.wait(execution_id)
    assert run["status"] == "completed" and run["outputs"] == {"ok": 1}, run
    described = temporal("workflow", "describe", "--workflow-id", execution_id)
    assert described["workflowExecutionInfo"]["execution"]["runId"] == run["engine_run_id"]
    assert described["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"


def test_a_schedule_is_a_temporal_schedule_with_its_cron_and_remaining_actions(api: Api) -> None:
    workflow_id = api.create_workflow(
        {"nodes": [trigger(), {"id": "done", "type": "end"}], "edges": chain("start", "done")}
    )
    created = api.call(
        "POST",
        f"/workflows/{workflow_id}/schedules",
        201,
        json={"cron_expression": "0 3 * * *", "timezone": "Europe/Paris", "max_runs": 5},
    ).json()
    api.call("POST", f"/workflows/{workflow_id}/deploy", 200)
    schedule_id = f"wfb-schedule-{created['id']}"
    deadline = time.monotonic() + 30
    while True:
        listed = temporal("schedule", "list") or []
        if any(s.get("scheduleId") == schedule_id for s in listed):
            break
        assert time.monotonic() < deadline, listed
        time.sleep(0.5)
    described = temporal("schedule", "describe", "--schedule-id", schedule_id)
    spec = described["schedule"]["spec"]
    assert spec.get("timezoneName") == "Europe/Paris", spec
    # "0 3 * * *" in Temporal's calendar form (zero values are left out of its JSON): second 0,
    # minute 0, hour 3, every day.
    calendar = spec["structuredCalendar"][0]
    assert calendar["second"] == [{"step": 1}] and calendar["minute"] == [{"step": 1}], spec
    assert calendar["hour"] == [{"start": 3, "end": 3, "step": 1}], spec
    state = described["schedule"]["state"]
    assert state.get("limitedActions") is True and int(state["remainingActions"]) == 5, state


def _events(execution_id: str) -> list[dict[str, Any]]:
    """The run's Temporal history, event by event."""
    shown = temporal("workflow", "show", "--workflow-id", execution_id)
    events: list[dict[str, Any]] = shown["events"]
    return events


def _of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The events of one type (the CLI spells it EVENT_TYPE_X or X, by version)."""
    wanted = {kind, f"EVENT_TYPE_{kind}"}
    return [e for e in events if e.get("eventType") in wanted]


def test_a_one_call_run_schedules_its_call_alone_and_loads_and_closes_locally(
    api: Api, peer: Peer
) -> None:
    """A run loads its pinned plan and closes itself with local activities, inside its workflow
    tasks: a one-call run costs the Temporal server one activity task and two workflow tasks,
    as a hand-written one-activity workflow does, and its history rows still say what ran."""
    key = unique("one-call")
    definition = {
        "nodes": [
            trigger(),
            call("fetch", f"{peer.url}/count/{key}"),
            {"id": "done", "type": "end", "config": {"output": "nodes.fetch.output"}},
        ],
        "edges": chain("start", "fetch", "done"),
    }
    execution_id = api.start(api.deploy(definition))
    run = api.wait(execution_id)
    assert run["status"] == "completed", run
    assert run["outputs"]["body"] == {"key": key, "count": 1}, run
    steps = {s["node_id"]: (s["status"], s["attempts"]) for s in run["steps"]}
    assert steps["start"][0] == "completed" and steps["done"][0] == "completed", steps
    assert steps["fetch"] == ("completed", 1), steps

    events = _events(execution_id)
    scheduled = [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in _of_type(events, "ACTIVITY_TASK_SCHEDULED")
    ]
    assert scheduled == ["wfb_call"], scheduled
    assert len(_of_type(events, "WORKFLOW_TASK_COMPLETED")) == 2, events
    markers = [
        e["markerRecordedEventAttributes"]["markerName"]
        for e in _of_type(events, "MARKER_RECORDED")
    ]
    assert markers.count("core_local_activity") == 2, markers


def test_the_runs_a_transaction_admits_start_in_one_trip_to_the_client(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs admitted together start once their transaction commits, one after another in one
    trip to the Temporal client's event loop (not a thread hand-over each); a rolled-back
    transaction starts none."""
    from uuid import UUID

    from workflow_builder.db import user_session
    from workflow_builder.runtime.engines.temporal import client as temporal_client
    from workflow_builder.runtime.service import insert_execution

    workflow_id = api.deploy(
        {"nodes": [trigger(), {"id": "done", "type": "end"}], "edges": chain("start", "done")}
    )
    trips: list[object] = []
    real_call = temporal_client.call

    def counting(make: Any, timeout: float = temporal_client.RPC_SECONDS) -> Any:
        trips.append(make)
        return real_call(make, timeout)

    monkeypatch.setattr(temporal_client, "call", counting)

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), user_session(api.user.id) as session:
        insert_execution(
            session, user_id=api.user.id, workflow_id=UUID(workflow_id), inputs={}, enqueue=True
        )
        raise RolledBack
    with user_session(api.user.id) as session:
        started = [
            insert_execution(
                session, user_id=api.user.id, workflow_id=UUID(workflow_id), inputs={}, enqueue=True
            )
            for _ in range(3)
        ]
    assert len(trips) == 1, trips
    for run in started:
        assert api.wait(str(run.execution_id))["status"] == "completed"
