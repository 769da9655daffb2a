"""Work queues, child workflows, versions, limits, schedules and statistics, through the API."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text

from tests.runtime.conftest import Api, chain, edge, transform, trigger, waits_for_signal
from tests.support import unique
from workflow_builder.config import get_settings
from workflow_builder.db import system_session
from workflow_builder.statistics.service import fold_counters


def queue_workflow(
    priority: str, *, max_size: int | None = None, dedupe: bool = False, takes: int = 3
) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [trigger()]
    names = [f"take{i}" for i in range(takes)]
    for name in names:
        nodes.append(
            {
                "id": name,
                "type": "work_queue",
                "config": {"queue": "jobs", "operation": "wait_for_item", "timeout_seconds": 30},
            }
        )
    nodes.append(
        {
            "id": "done",
            "type": "end",
            "config": {"output": "[" + ", ".join(f"nodes.{n}.output.item" for n in names) + "]"},
        }
    )
    return {
        "signals": [{"name": "go"}],
        "work_queues": [
            {"name": "jobs", "priority": priority, "max_size": max_size, "deduplicate": dedupe}
        ],
        "nodes": [
            nodes[0],
            {"id": "gate", "type": "wait_for_signal", "config": {"signal": "go"}},
            *nodes[1:],
        ],
        "edges": chain("start", "gate", *names, "done"),
    }


def _add(api: Api, execution_id: str, item: Any, priority: int = 0, expect: int = 201) -> Any:
    return api.call(
        "POST",
        f"/executions/{execution_id}/work-queues/jobs/items",
        expect,
        json={"item": item, "priority": priority},
    ).json()


def test_work_queue_orders_fifo_lifo_and_priority(api: Api) -> None:
    expected = {"fifo": ["a", "b", "c"], "lifo": ["c", "b", "a"], "priority": ["b", "c", "a"]}
    for order, taken in expected.items():
        execution_id = api.start(api.deploy(queue_workflow(order)))
        api.wait_for_step(execution_id, "gate", "waiting")
        for item, priority in (("a", 1), ("b", 9), ("c", 5)):
            _add(api, execution_id, item, priority)
        items = api.call("GET", f"/executions/{execution_id}/queries/jobs_items", 200).json()
        assert [i["item"] for i in items["result"]] == taken, order
        api.call("POST", f"/executions/{execution_id}/signals/go", 202, json={})
        assert api.wait(execution_id)["outputs"] == taken, order


def test_deploy_stores_the_declared_signals_queries_and_work_queues(api: Api) -> None:
    workflow_id = api.deploy(queue_workflow("lifo", max_size=5))
    signals = api.call("GET", f"/workflows/{workflow_id}/signals", 200).json()["items"]
    queries = api.call("GET", f"/workflows/{workflow_id}/queries", 200).json()["items"]
    queues = api.call("GET", f"/workflows/{workflow_id}/work-queues", 200).json()["items"]
    assert {(s["signal_name"], s["auto_generated"]) for s in signals} == {
        ("go", False),
        ("jobs_add", True),
    }
    assert {(q["query_name"], q["auto_generated"]) for q in queries} == {("jobs_items", True)}
    assert [(q["queue_name"], q["priority"], q["max_size"]) for q in queues] == [
        ("jobs", "lifo", 5)
    ]


def test_work_queue_deduplicates_and_refuses_when_full(api: Api) -> None:
    execution_id = api.start(api.deploy(queue_workflow("fifo", max_size=2, dedupe=True, takes=2)))
    api.wait_for_step(execution_id, "gate", "waiting")
    assert _add(api, execution_id, {"id": 1})["accepted"] is True
    assert _add(api, execution_id, {"id": 1})["deduplicated"] is True
    assert _add(api, execution_id, {"id": 2})["size"] == 2
    full = _add(api, execution_id, {"id": 3}, expect=409)
    assert "full" in full["detail"]
    api.call("POST", f"/executions/{execution_id}/signals/go", 202, json={})
    assert api.wait(execution_id)["outputs"] == [{"id": 1}, {"id": 2}]


def test_an_item_wakes_a_run_waiting_for_one(api: Api) -> None:
    definition = queue_workflow("fifo", takes=1)
    definition["nodes"] = [n for n in definition["nodes"] if n["id"] != "gate"]
    definition["edges"] = chain("start", "take0", "done")
    execution_id = api.start(api.deploy(definition))
    api.wait_for_step(execution_id, "take0", "waiting")
    _add(api, execution_id, "late item")
    assert api.wait(execution_id)["outputs"] == ["late item"]


def test_a_child_workflow_runs_and_returns_its_result_to_the_parent(api: Api) -> None:
    child = unique("child")
    api.deploy(
        {
            "nodes": [
                trigger(),
                transform("double", {"was": "input.n"}),
                {"id": "done", "type": "end", "config": {"output": "nodes.double.output"}},
            ],
            "edges": chain("start", "double", "done"),
        },
        kebab_name=child,
    )
    parent = {
        "child_workflows": [{"workflow": child}],
        "nodes": [
            trigger(),
            {
                "id": "kid",
                "type": "child_workflow",
                "input": {"n": "`21`"},
                "config": {"workflow": child, "mode": "execute"},
            },
            {"id": "done", "type": "end", "config": {"output": "nodes.kid.output.result"}},
        ],
        "edges": chain("start", "kid", "done"),
    }
    run = api.run(parent)
    assert run["status"] == "completed", run
    assert run["outputs"] == {"was": 21}
    children = api.call("GET", "/executions?limit=200", 200).json()["items"]
    assert [c for c in children if c["parent_execution_id"] == run["id"]]


def _waiting_child(api: Api) -> str:
    child = unique("waiter")
    api.deploy(
        {
            "signals": [{"name": "never"}],
            "nodes": [
                trigger(),
                {"id": "wait", "type": "wait_for_signal", "config": {"signal": "never"}},
                {"id": "done", "type": "end"},
            ],
            "edges": chain("start", "wait", "done"),
        },
        kebab_name=child,
    )
    return child


def test_parent_close_policies_terminate_request_cancel_and_abandon(api: Api) -> None:
    results = {}
    for policy in ("terminate", "request_cancel", "abandon"):
        child = _waiting_child(api)
        parent = {
            "child_workflows": [{"workflow": child, "parent_close_policy": policy}],
            "nodes": [
                trigger(),
                {
                    "id": "kid",
                    "type": "child_workflow",
                    "config": {"workflow": child, "mode": "start", "parent_close_policy": policy},
                },
                {"id": "done", "type": "end"},
            ],
            "edges": chain("start", "kid", "done"),
        }
        run = api.run(parent)
        assert run["status"] == "completed"
        kid = next(s for s in run["steps"] if s["node_id"] == "kid")["outputs"]["workflow_id"]
        if policy == "abandon":
            # An abandoned child goes on waiting for its signal after its parent closed.
            api.wait_for_step(kid, "wait", "waiting")
            time.sleep(1)
            results[policy] = api.execution(kid)["status"]
            api.call("POST", f"/executions/{kid}/cancel", 200)
        else:
            # The parent's close reaches the child in its own time (the child may not even
            # have started yet): it ends canceled, however long it took.
            results[policy] = api.wait(kid)["status"]
    assert results == {"terminate": "canceled", "request_cancel": "canceled", "abandon": "running"}


def test_a_run_finishes_on_the_version_it_started_with(api: Api) -> None:
    def definition(label: str) -> dict[str, Any]:
        return {
            "signals": [{"name": "go"}],
            "nodes": [
                trigger(),
                {"id": "wait", "type": "wait_for_signal", "config": {"signal": "go"}},
                {"id": "done", "type": "end", "config": {"output": f"'{label}'"}},
            ],
            "edges": chain("start", "wait", "done"),
        }

    workflow_id = api.deploy(definition("v1"))
    old_run = api.start(workflow_id)
    api.wait_for_step(old_run, "wait", "waiting")
    api.call("PATCH", f"/workflows/{workflow_id}", 200, json={"definition": definition("v2")})
    api.call("POST", f"/workflows/{workflow_id}/deploy", 200)
    new_run = api.start(workflow_id)
    for run in (old_run, new_run):
        api.wait_for_step(run, "wait", "waiting")
        api.call("POST", f"/executions/{run}/signals/go", 202, json={})
    assert api.wait(old_run)["outputs"] == "v1"
    assert api.wait(new_run)["outputs"] == "v2"
    versions = api.call("GET", f"/workflows/{workflow_id}/versions", 200).json()
    assert len(versions) == 2 and sum(v["is_active"] for v in versions) == 1


def test_max_concurrent_executions_is_enforced(api: Api) -> None:
    definition = waits_for_signal()
    workflow_id = api.deploy(definition, max_concurrent_executions=2)
    runs = [api.start(workflow_id) for _ in range(4)]
    deadline = time.monotonic() + 30
    while [api.execution(r)["status"] for r in runs].count("running") < 2:
        assert time.monotonic() < deadline, "two runs never started"
        time.sleep(0.1)
    time.sleep(1)  # the other two stay pending
    statuses = [api.execution(r)["status"] for r in runs]
    assert statuses.count("running") == 2 and statuses.count("pending") == 2, statuses
    # Each run is signalled once: those running now, then those admitted as the first close.
    signalled: set[str] = set()
    for run in runs:
        if api.execution(run)["status"] == "running":
            api.wait_for_step(run, "wait", "waiting")
            api.call("POST", f"/executions/{run}/signals/go", 202, json={})
            signalled.add(run)
    for run in runs:
        if run not in signalled:
            api.wait_for_step(run, "wait", "waiting", timeout=30)
            api.call("POST", f"/executions/{run}/signals/go", 202, json={})
    assert [api.wait(r)["status"] for r in runs] == ["completed"] * 4


def _admission(execution_id: str) -> tuple[bool, bool]:
    """Return (admitted, handed to the engine) for a run."""
    with system_session() as session:
        admitted = session.execute(
            text("select admitted_at is not null from workflow_executions where id = :e"),
            {"e": execution_id},
        ).scalar_one()
    return bool(admitted), _handed_to_engine(execution_id)


def _handed_to_engine(execution_id: str) -> bool:
    """Whether the engine holds a workflow for the run (DBOS: a status row; Temporal: a
    workflow execution of that id)."""
    if get_settings().engine == "temporal":
        from temporalio.service import RPCError

        from workflow_builder.runtime.engines.temporal.client import call

        try:
            call(lambda client: client.get_workflow_handle(execution_id).describe())
        except RPCError as error:
            if error.status.name == "NOT_FOUND":
                return False
            raise
        return True
    with system_session() as session:
        enqueued = session.execute(
            text("select count(*) from dbos.workflow_status where workflow_uuid = :w"),
            {"w": execution_id},
        ).scalar_one()
    return bool(enqueued)


def test_a_run_with_room_is_admitted_by_its_start_and_waits_behind_earlier_ones(
    api: Api,
) -> None:
    definition = waits_for_signal()
    workflow_id = api.deploy(definition, max_concurrent_executions=1)
    first = api.start(workflow_id)
    # Room: admitted and handed to its queue in the start's own transaction.
    assert _admission(first) == (True, True)
    second = api.start(workflow_id)
    # Full: it waits, accepted but not handed to the engine (nothing polls for it).
    assert _admission(second) == (False, False)
    api.wait_for_step(first, "wait", "waiting")
    api.call("POST", f"/executions/{first}/signals/go", 202, json={})
    assert api.wait(first)["status"] == "completed"
    # The first run's end admits the second; a third waits behind it.
    deadline = time.monotonic() + 10
    while _admission(second) != (True, True):
        assert time.monotonic() < deadline, "the second run was never admitted"
        time.sleep(0.05)
    third = api.start(workflow_id)
    assert _admission(third) == (False, False)
    api.wait_for_step(second, "wait", "waiting", timeout=30)
    api.call("POST", f"/executions/{second}/signals/go", 202, json={})
    api.wait_for_step(third, "wait", "waiting", timeout=30)
    api.call("POST", f"/executions/{third}/signals/go", 202, json={})
    assert [api.wait(r)["status"] for r in (second, third)] == ["completed"] * 2


def test_concurrent_starts_never_admit_past_the_limit(api: Api) -> None:
    definition = waits_for_signal()
    workflow_id = api.deploy(definition, max_concurrent_executions=3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        runs = list(pool.map(lambda _: api.start(workflow_id), range(16)))
    time.sleep(1.5)
    with system_session() as session:
        admitted = session.execute(
            text(
                "select count(*) from workflow_executions where workflow_id = :w "
                "and admitted_at is not null"
            ),
            {"w": workflow_id},
        ).scalar_one()
    assert admitted == 3
    for run in runs:
        api.call("POST", f"/executions/{run}/cancel", 200)


def test_a_schedule_fires_on_its_cron_and_stops_at_max_runs(api: Api) -> None:
    workflow_id = api.create_workflow(
        {"nodes": [trigger(), {"id": "done", "type": "end"}], "edges": chain("start", "done")}
    )
    api.call(
        "POST",
        f"/workflows/{workflow_id}/schedules",
        201,
        json={"cron_expression": "* * * * * *", "timezone": "UTC", "max_runs": 2},
    )
    api.call("POST", f"/workflows/{workflow_id}/deploy", 200)
    deadline = time.monotonic() + 45
    while True:
        listed = api.call("GET", f"/executions?workflow_id={workflow_id}", 200).json()
        if listed["total"] >= 2 and all(i["status"] == "completed" for i in listed["items"]):
            break
        assert time.monotonic() < deadline, listed
        time.sleep(0.5)
    time.sleep(3)
    listed = api.call("GET", f"/executions?workflow_id={workflow_id}", 200).json()
    assert listed["total"] == 2
    assert {i["trigger_kind"] for i in listed["items"]} == {"schedule"}


def test_statistics_equal_what_concurrent_runs_histories_add_up_to(api: Api) -> None:
    definition = {
        "nodes": [
            trigger(),
            transform("a", {"x": "`1`"}),
            transform("b", {"y": "`2`"}),
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "a", "b", "done"),
    }
    workflow_id = api.deploy(definition)
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda _: api.start(workflow_id), range(8)))
    finished = [api.wait(r) for r in runs]
    assert {r["status"] for r in finished} == {"completed"}
    calls = [s for r in finished for s in r["steps"] if s["node_type"] == "activity"]
    with system_session() as session:
        fold_counters(session)
        stats = session.execute(
            text(
                """select execution_count, success_count, failure_count
               from activity_statistics where workflow_id = :w"""
            ),
            {"w": workflow_id},
        ).one()
        version = session.execute(
            text(
                "select execution_count from workflow_compiled_code where workflow_id = :w "
                "and is_active"
            ),
            {"w": workflow_id},
        ).scalar_one()
    assert tuple(stats) == (sum(s["attempts"] for s in calls), len(calls), 0)
    assert version == 8
    assert edge  # the helper is shared by the other modules of this package


def test_start_immediately_fires_once_at_deploy(api: Api) -> None:
    workflow_id = api.create_workflow(
        {"nodes": [trigger(), {"id": "done", "type": "end"}], "edges": chain("start", "done")}
    )
    api.call(
        "POST",
        f"/workflows/{workflow_id}/schedules",
        201,
        json={
            "cron_expression": "0 0 1 1 *",
            "timezone": "Europe/Paris",
            "start_immediately": True,
        },
    )
    api.call("POST", f"/workflows/{workflow_id}/deploy", 200)
    deadline = time.monotonic() + 30
    while api.call("GET", f"/executions?workflow_id={workflow_id}", 200).json()["total"] < 1:
        assert time.monotonic() < deadline, "the immediate run never started"
        time.sleep(0.3)
    time.sleep(2)
    listed = api.call("GET", f"/executions?workflow_id={workflow_id}", 200).json()
    assert listed["total"] == 1 and listed["items"][0]["trigger_kind"] == "schedule"
