"""Children talking to their parent, and children that wait for their siblings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.runtime.conftest import Api, chain, trigger
from tests.support import unique


def _child_reporting_back(api: Api) -> str:
    """A child that reads its parent's `stage` query and signals it back as `child_done`."""
    name = unique("reporter")
    api.deploy(
        {
            "nodes": [
                trigger(),
                {
                    "id": "ask",
                    "type": "activity",
                    "component": {"name": "query_parent"},
                    "config": {"query": "stage"},
                    "input": {},
                },
                {
                    "id": "tell",
                    "type": "activity",
                    "component": {"name": "signal_parent"},
                    "config": {"signal": "child_done"},
                    "input": {"payload": "nodes.ask.output.result"},
                },
                {"id": "done", "type": "end"},
            ],
            "edges": chain("start", "ask", "tell", "done"),
        },
        kebab_name=name,
    )
    return name


def _parent(child: str, *, allowed: bool) -> dict[str, Any]:
    return {
        "variables": {"stage": {"initial": "waiting for the child"}},
        "signals": [{"name": "child_done"}],
        "queries": [{"name": "stage", "expression": "vars.stage"}],
        "child_workflows": [
            {"workflow": child, "can_signal_parent": allowed, "can_query_parent": allowed}
        ],
        "nodes": [
            trigger(),
            {"id": "kid", "type": "child_workflow", "config": {"workflow": child, "mode": "start"}},
            {
                "id": "wait",
                "type": "wait_for_signal",
                "config": {"signal": "child_done", "timeout_seconds": 5},
            },
            {"id": "done", "type": "end", "config": {"output": "nodes.wait.output"}},
        ],
        "edges": chain("start", "kid", "wait", "done"),
    }


def test_a_child_may_query_and_signal_its_parent_when_the_parent_allows_it(api: Api) -> None:
    run = api.run(_parent(_child_reporting_back(api), allowed=True))
    assert run["status"] == "completed", run
    assert run["outputs"] == {"received": True, "payload": "waiting for the child"}


def test_a_child_may_not_signal_its_parent_otherwise(api: Api) -> None:
    run = api.run(_parent(_child_reporting_back(api), allowed=False))
    wait = next(s for s in run["steps"] if s["node_id"] == "wait")
    assert wait["outputs"] == {"received": False, "payload": None}  # it timed out
    kid = next(s for s in run["steps"] if s["node_id"] == "kid")["outputs"]["workflow_id"]
    child = api.wait(kid)
    assert child["status"] == "failed" and "ParentAccessDenied" in child["error"]


def test_block_until_starts_a_child_after_the_named_siblings_finish(api: Api) -> None:
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
    parent_id = api.create_workflow(
        {
            "child_workflows": [{"workflow": slow}, {"workflow": late}],
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
    api.call(
        "POST",
        f"/workflows/{parent_id}/child-workflows",
        201,
        json={"child_workflow_name": late, "block_until": {"workflows": [slow], "mode": "all"}},
    )
    api.call("POST", f"/workflows/{parent_id}/deploy", 200)
    run = api.wait(api.start(parent_id), timeout=60)
    assert run["status"] == "completed", run
    ids = {
        s["node_id"]: s["outputs"]["workflow_id"]
        for s in run["steps"]
        if s["node_id"] in ("first", "second")
    }
    first, second = api.execution(ids["first"]), api.execution(ids["second"])
    assert datetime.fromisoformat(second["started_at"]) >= datetime.fromisoformat(
        first["completed_at"]
    )
