"""On Temporal, runs are Temporal's own: Temporal's CLI queries and signals them, schedules are
Temporal Schedules. (Runs on the Temporal pass of `make test`, `WFB_ENGINE=temporal`.)"""

from __future__ import annotations

import base64
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


def test_a_one_call_run_has_no_timer_patch_marker_or_search_attribute_upsert(
    api: Api, peer: Peer
) -> None:
    """A run started under names.RUN_VERSION asks no `workflow.patched` (no patch marker, no
    `TemporalChangeVersion` upsert) and, waiting on its call alone, arms no execution-timeout
    timer (the call's schedule-to-close time is what is left of the run's)."""
    definition = {
        "nodes": [
            trigger(),
            call("fetch", f"{peer.url}/count/{unique('no-timer')}"),
            {"id": "done", "type": "end", "config": {"output": "nodes.fetch.output"}},
        ],
        "edges": chain("start", "fetch", "done"),
    }
    execution_id = api.start(api.deploy(definition, execution_timeout_seconds=600))
    assert api.wait(execution_id)["status"] == "completed"
    events = _events(execution_id)
    assert not _of_type(events, "TIMER_STARTED"), events
    assert not _of_type(events, "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"), events
    markers = [
        e["markerRecordedEventAttributes"]["markerName"]
        for e in _of_type(events, "MARKER_RECORDED")
    ]
    assert markers == ["core_local_activity", "core_local_activity"], markers
    [scheduled] = _of_type(events, "ACTIVITY_TASK_SCHEDULED")
    bound = scheduled["activityTaskScheduledEventAttributes"]["scheduleToCloseTimeout"]
    assert 590 <= float(bound.rstrip("s")) <= 601, bound


def test_a_run_past_its_timeout_during_a_call_fails_without_a_timer(api: Api, peer: Peer) -> None:
    """The run's deadline bounds a call in flight (its schedule-to-close time): the run fails
    with the execution timeout when it passes, though it never armed a timer."""
    definition = {
        "nodes": [
            trigger(),
            call("slow", f"{peer.url}/slow/{unique('late')}?seconds=30", timeout_seconds=60),
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "slow", "done"),
    }
    started = time.monotonic()
    execution_id = api.start(api.deploy(definition, execution_timeout_seconds=2))
    run = api.wait(execution_id, timeout=25)
    assert run["status"] == "failed" and "execution timeout" in run["error"], run
    assert time.monotonic() - started < 25
    assert not _of_type(_events(execution_id), "TIMER_STARTED")


def test_a_completed_calls_row_and_statistics_are_written_once_with_the_next_write(
    api: Api, peer: Peer
) -> None:
    """A completed call hands its history row and statistics back to the run, which writes
    them with its next write (here the flush before a wait): the row is there while the run
    waits, and the statistics count the call once, also after the run's close."""
    definition = {
        "signals": [{"name": "go"}],
        "nodes": [
            trigger(),
            call("fetch", f"{peer.url}/count/{unique('kept')}"),
            {"id": "wait", "type": "wait_for_signal", "config": {"signal": "go"}},
            {"id": "done", "type": "end", "config": {"output": "nodes.fetch.output"}},
        ],
        "edges": chain("start", "fetch", "wait", "done"),
    }
    workflow_id = api.deploy(definition)
    execution_id = api.start(workflow_id)
    api.wait_for_step(execution_id, "wait", "waiting")
    steps = {s["node_id"]: s for s in api.execution(execution_id)["steps"]}
    assert steps["fetch"]["status"] == "completed" and steps["fetch"]["attempts"] == 1, steps
    assert steps["fetch"]["outputs"]["body"]["count"] == 1, steps["fetch"]
    assert _statistics(workflow_id) == (1, 1, 0)
    [completed] = _of_type(_events(execution_id), "ACTIVITY_TASK_COMPLETED")
    result = completed["activityTaskCompletedEventAttributes"]["result"]["payloads"][0]
    assert "kept" in json.loads(base64.b64decode(result["data"])), result

    api.call("POST", f"/executions/{execution_id}/signals/go", 202, json={})
    run = api.wait(execution_id)
    assert run["status"] == "completed", run
    assert _statistics(workflow_id) == (1, 1, 0)


def _statistics(workflow_id: str) -> tuple[int, int, int]:
    from sqlalchemy import text

    from workflow_builder.db import system_session
    from workflow_builder.statistics.service import fold_counters

    with system_session() as session:
        fold_counters(session)
        row = session.execute(
            text(
                "select execution_count, success_count, failure_count from activity_statistics "
                "where workflow_id = :w"
            ),
            {"w": workflow_id},
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def test_a_run_that_waited_and_called_replays_from_its_history(api: Api, peer: Peer) -> None:
    """A run of today's workflow code (a call, a timer armed for its wait, a signal) replays
    deterministically from its own history."""
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    from tests.support import run_async
    from workflow_builder.runtime.engines.temporal.worker import _RUNNER
    from workflow_builder.runtime.engines.temporal.workflows import RunWorkflow, TickWorkflow

    definition = {
        "signals": [{"name": "go"}],
        "nodes": [
            trigger(),
            call("fetch", f"{peer.url}/count/{unique('replay')}"),
            {"id": "wait", "type": "wait_for_signal", "config": {"signal": "go"}},
            {"id": "done", "type": "end", "config": {"output": "nodes.wait.output"}},
        ],
        "edges": chain("start", "fetch", "wait", "done"),
    }
    execution_id = api.start(api.deploy(definition, execution_timeout_seconds=600))
    api.wait_for_step(execution_id, "wait", "waiting")
    api.call("POST", f"/executions/{execution_id}/signals/go", 202, json={"n": 1})
    assert api.wait(execution_id)["status"] == "completed"
    shown = temporal("workflow", "show", "--workflow-id", execution_id)
    assert _of_type(shown["events"], "TIMER_STARTED"), "the wait armed the deadline's timer"
    history = WorkflowHistory.from_json(execution_id, shown)
    replayer = Replayer(workflows=[RunWorkflow, TickWorkflow], workflow_runner=_RUNNER)
    run_async(replayer.replay_workflow(history))


def test_a_call_that_lasts_shows_running_with_the_rows_before_it(api: Api, peer: Peer) -> None:
    """A call's running row is written once the call has lasted RUNNING_ROW_SECONDS, with the
    rows the run kept before it: the history shows what runs while it runs."""
    definition = {
        "nodes": [
            trigger(),
            call("slow", f"{peer.url}/slow/{unique('lasting')}?seconds=4"),
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "slow", "done"),
    }
    execution_id = api.start(api.deploy(definition))
    api.wait_for_step(execution_id, "slow", "running", timeout=3)
    steps = {s["node_id"]: s["status"] for s in api.execution(execution_id)["steps"]}
    assert steps == {"start": "completed", "slow": "running"}, steps
    assert api.wait(execution_id)["status"] == "completed"
