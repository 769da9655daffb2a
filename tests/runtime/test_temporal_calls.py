"""A component call's activity on Temporal, in process: when it heartbeats and when it writes
its running row. (Needs no server: the component and the heartbeat are stand-ins.)"""

from __future__ import annotations

import time
from typing import Any

import pytest
from temporalio import activity

from workflow_builder.runtime import effects
from workflow_builder.runtime.engines.temporal import activities, names
from workflow_builder.runtime.port import Call, RunSpec

RUN = RunSpec(
    execution_id="00000000-0000-0000-0000-000000000001",
    workflow_id="00000000-0000-0000-0000-000000000002",
    project_id=None,
    compiled_code_id="00000000-0000-0000-0000-000000000003",
    inputs=None,
    created_by=None,
    parent_execution_id=None,
    parent_close_policy=None,
    task_queue_name="q",
    max_concurrent_activities=1,
    plan={},
)
CALL = Call({"id": "n", "type": "activity"}, {"name": "c"}, "n", "", {})


@pytest.fixture
def beats(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The heartbeats the call sends (times since the fixture was made)."""
    since = time.monotonic()
    sent: list[float] = []
    monkeypatch.setattr(activity, "heartbeat", lambda: sent.append(time.monotonic() - since))
    monkeypatch.setattr(names, "HEARTBEAT_SECONDS", 0.3)
    monkeypatch.setattr(activities, "RUNNING_ROW_SECONDS", 0.2)
    return sent


def _taking(seconds: float) -> Any:
    def invoke(run: RunSpec, call: Call) -> dict[str, Any]:
        time.sleep(seconds)
        return {"ok": True, "output": seconds}

    return invoke


def test_a_short_call_sends_no_heartbeat_and_writes_no_running_row(
    beats: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(effects, "invoke", _taking(0.05))
    started: list[float] = []
    outcome = activities._heartbeating(RUN, CALL, None, lambda: started.append(time.monotonic()))
    assert outcome == {"ok": True, "output": 0.05}
    assert beats == [] and started == []


def test_a_longer_call_writes_its_running_row_then_heartbeats(
    beats: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(effects, "invoke", _taking(0.9))
    began = time.monotonic()
    started: list[float] = []
    outcome = activities._heartbeating(RUN, CALL, None, lambda: started.append(time.monotonic()))
    assert outcome == {"ok": True, "output": 0.9}
    assert len(started) == 1 and 0.15 <= started[0] - began <= 0.6, started
    # RUNNING_ROW_SECONDS, then a heartbeat every HEARTBEAT_SECONDS while the call goes on.
    assert 1 <= len(beats) <= 3, beats
    assert beats[0] >= 0.45, beats
