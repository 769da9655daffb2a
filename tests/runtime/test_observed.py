"""Defects seen from outside, each reproduced as a user meets it: deploys with schedules,
deduplicated items on a full queue, block_until in a definition, refused children, a queue
overflowing with unstarted runs, and the wording of a few messages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import sign_up
from tests.runtime.conftest import Api, chain, trigger, waits_for_signal
from tests.support import unique
from workflow_builder.config import get_settings


def test_a_definition_that_declares_a_schedule_deploys(api: Api) -> None:
    definition = {
        "schedules": [{"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}],
        "nodes": [trigger(), {"id": "done", "type": "end"}],
        "edges": chain("start", "done"),
    }
    workflow_id = api.deploy(definition)
    schedules = api.call("GET", f"/workflows/{workflow_id}/schedules", 200).json()["items"]
    assert [(s["cron_expression"], s["timezone"]) for s in schedules] == [
        ("0 9 * * 1-5", "Europe/Paris")
    ]


def test_a_schedule_trigger_deploys(api: Api) -> None:
    definition = {
        "nodes": [
            {
                "id": "start",
                "type": "trigger",
                "config": {"kind": "schedule", "cron": "*/5 * * * *", "timezone": "UTC"},
            },
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "done"),
    }
    workflow_id = api.deploy(definition)
    schedules = api.call("GET", f"/workflows/{workflow_id}/schedules", 200).json()["items"]
    assert [s["cron_expression"] for s in schedules] == ["*/5 * * * *"]


def _full_deduplicating_queue(api: Api) -> str:
    definition = {
        "work_queues": [{"name": "jobs", "max_size": 1, "deduplicate": True}],
        **waits_for_signal(),
    }
    run = api.start(api.deploy(definition))
    api.call("POST", f"/executions/{run}/work-queues/jobs/items", 201, json={"item": {"n": 1}})
    return run


def test_resending_a_queued_item_to_a_full_deduplicating_queue_is_idempotent(api: Api) -> None:
    run = _full_deduplicating_queue(api)
    again = api.call(
        "POST", f"/executions/{run}/work-queues/jobs/items", 201, json={"item": {"n": 1}}
    )
    assert again.json()["deduplicated"] is True and again.json()["accepted"] is False
    # Through the queue's generated signal as well.
    api.call("POST", f"/executions/{run}/signals/jobs_add", 202, json={"n": 1})
    # A different item is still refused: the queue is full.
    full = api.call(
        "POST", f"/executions/{run}/work-queues/jobs/items", 409, json={"item": {"n": 2}}
    )
    assert "full" in full.json()["detail"]
    assert len(api.call("GET", f"/executions/{run}/work-queues/jobs/items", 200).json()) == 1
    api.call("POST", f"/executions/{run}/cancel", 200)


def test_block_until_declared_in_the_definition_holds_the_child_back(api: Api) -> None:
    slow, late = unique("slow"), unique("late")
    api.deploy(
        {
            "nodes": [
                trigger(),
                {"id": "nap", "type": "delay", "config": {"seconds": 2}},
                {"id": "done", "type": "end"},
            ],
            "edges": chain("start", "nap", "done"),
        },
        kebab_name=slow,
    )
    api.deploy(
        {"nodes": [trigger(), {"id": "done", "type": "end"}], "edges": chain("start", "done")},
        kebab_name=late,
    )
    run = api.run(
        {
            "child_workflows": [
                {"workflow": slow},
                {"workflow": late, "block_until": {"workflows": [slow], "mode": "all"}},
            ],
            "nodes": [
                trigger(),
                {
                    "id": "first",
                    "type": "child_workflow",
                    "config": {"workflow": slow, "mode": "start"},
                },
                {
                    "id": "second",
                    "type": "child_workflow",
                    "config": {"workflow": late, "mode": "execute"},
                },
                {"id": "done", "type": "end"},
            ],
            "edges": chain("start", "first", "second", "done"),
        }
    )
    assert run["status"] == "completed", run
    ids = {
        s["node_id"]: s["outputs"]["workflow_id"]
        for s in run["steps"]
        if s["node_id"] in ("first", "second")
    }
    first, second = api.execution(ids["first"]), api.execution(ids["second"])
    assert second["started_at"] >= first["completed_at"]


def test_a_child_the_owner_may_not_start_fails_its_node_not_the_run(
    api: Api, client: TestClient
) -> None:
    other = Api(client, sign_up(client, role="developer"))
    theirs = unique("theirs")
    other.deploy(
        {"nodes": [trigger(), {"id": "done", "type": "end"}], "edges": chain("start", "done")},
        kebab_name=theirs,
        visibility="public",
    )
    run = api.run(
        {
            "child_workflows": [{"workflow": theirs}],
            "nodes": [
                trigger(),
                {"id": "kid", "type": "child_workflow", "config": {"workflow": theirs}},
                {"id": "ok", "type": "end", "config": {"output": "'started'"}},
                {"id": "refused", "type": "end", "config": {"output": "nodes.kid.status"}},
            ],
            "edges": [
                {"id": "e1", "source": "start", "target": "kid"},
                {"id": "e2", "source": "kid", "target": "ok"},
                {"id": "e3", "source": "kid", "target": "refused", "source_handle": "error"},
            ],
        }
    )
    assert run["status"] == "completed", run
    assert run["outputs"] == "failed"  # the error handle was taken
    kid = next(s for s in run["steps"] if s["node_id"] == "kid")
    assert kid["status"] == "failed"
    assert kid["outputs"]["error"]["type"] == "ChildWorkflowRefused", kid


def test_starts_beyond_a_full_queue_are_answered_429_with_retry_after(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workflow_builder.runtime.admission import PENDING

    # A project no worker serves: its runs stay accepted and unstarted.
    project = api.call("POST", "/projects", 201, json={"name": unique("idle")}).json()
    workflow_id = api.deploy(
        {"nodes": [trigger(), {"id": "done", "type": "end"}], "edges": chain("start", "done")},
        project_id=project["id"],
    )
    monkeypatch.setattr(get_settings(), "max_pending_runs", 3)
    PENDING.forget()
    runs = []
    for _ in range(3):
        runs.append(api.start(workflow_id))
        PENDING.forget()
    refused = api.call("POST", f"/workflows/{workflow_id}/executions", 429, json={"inputs": {}})
    assert int(refused.headers["Retry-After"]) >= 1
    assert "3 runs waiting to start" in refused.json()["detail"]
    for run in runs:
        api.call("POST", f"/executions/{run}/cancel", 200)


def test_unknown_queries_and_webhooks_are_named_plainly(api: Api, client: TestClient) -> None:
    run = api.start(api.deploy(waits_for_signal()))
    missing = api.call("GET", f"/executions/{run}/queries/nope", 404).json()
    assert missing["detail"] == "Query 'nope' was not found"
    hook = client.post("/hooks/no/such/path", json={})
    assert hook.status_code == 404
    assert hook.json()["detail"] == "The webhook /hooks/no/such/path was not found"
    api.call("POST", f"/executions/{run}/cancel", 200)
