"""Runs started by an earlier version of the Temporal workflow go on after an upgrade: their
recorded histories replay, deterministically, under today's workflow code. (Needs no server:
Temporal's replayer feeds the workflow a recorded history.)"""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.support import run_async
from workflow_builder.runtime.engines.temporal.worker import _RUNNER
from workflow_builder.runtime.engines.temporal.workflows import RunWorkflow, TickWorkflow

HISTORIES = Path(__file__).with_name("histories")


def replay(name: str) -> None:
    """Replay a recorded history (Temporal's CLI: `temporal workflow show --output json`)."""
    recorded = json.loads((HISTORIES / name).read_text())
    started = recorded["events"][0]["workflowExecutionStartedEventAttributes"]
    history = WorkflowHistory.from_json(started.get("workflowId", "recorded"), recorded)
    replayer = Replayer(workflows=[RunWorkflow, TickWorkflow], workflow_runner=_RUNNER)
    run_async(replayer.replay_workflow(history))


def test_a_run_that_loaded_and_closed_itself_with_activities_replays() -> None:
    """Before runs loaded and closed themselves with local activities, `wfb_load` and
    `wfb_close` were activities of their own: such a run (trigger, one call, end) replays."""
    replay("one_call_run_before_local_bookkeeping.json")
