"""Runs end to end through the API, on a real worker: every node type and the run lifecycle."""

from __future__ import annotations

from typing import Any

import pytest

from tests.runtime.conftest import Api, chain, edge, transform, trigger


def test_a_chain_of_activities_completes_with_the_end_nodes_output(api: Api) -> None:
    definition = {
        "nodes": [
            trigger(
                {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
            ),
            transform("greet", {"greeting": "join(' ', ['hello', input.name])"}),
            transform("shout", {"loud": "nodes.greet.output.greeting"}),
            {"id": "done", "type": "end", "config": {"output": "{text: nodes.shout.output.loud}"}},
        ],
        "edges": chain("start", "greet", "shout", "done"),
    }
    run = api.run(definition, {"name": "ada"})
    assert run["status"] == "completed", run
    assert run["outputs"] == {"text": "hello ada"}
    statuses = {step["node_id"]: step["status"] for step in run["steps"]}
    assert statuses == {
        "start": "completed",
        "greet": "completed",
        "shout": "completed",
        "done": "completed",
    }


def condition_workflow() -> dict[str, Any]:
    return {
        "nodes": [
            trigger({"type": "object", "properties": {"n": {"type": "integer"}}}),
            {"id": "big", "type": "condition", "config": {"expression": "input.n > `10`"}},
            transform("yes", {"branch": "'big'"}),
            transform("no", {"branch": "'small'"}),
            {"id": "merge", "type": "join"},
            {
                "id": "done",
                "type": "end",
                "config": {"output": "[nodes.yes.output.branch, nodes.no.output.branch]"},
            },
        ],
        "edges": [
            edge("start", "big"),
            edge("big", "yes", "true"),
            edge("big", "no", "false"),
            edge("yes", "merge"),
            edge("no", "merge"),
            edge("merge", "done"),
        ],
    }


def test_a_condition_takes_one_branch_and_the_join_waits_only_for_it(api: Api) -> None:
    workflow_id = api.deploy(condition_workflow())
    big = api.wait(api.start(workflow_id, {"n": 50}))
    small = api.wait(api.start(workflow_id, {"n": 1}))
    assert big["outputs"] == ["big", None]
    assert small["outputs"] == [None, "small"]
    statuses = {s["node_id"]: s["status"] for s in small["steps"]}
    assert statuses["yes"] == "skipped" and statuses["no"] == "completed"
    assert statuses["merge"] == "completed"


def test_a_switch_takes_the_first_matching_case_or_default(api: Api) -> None:
    definition = {
        "nodes": [
            trigger(),
            {
                "id": "route",
                "type": "switch",
                "config": {
                    "cases": [
                        {"name": "many", "expression": "length(input.items) > `2`"},
                        {"name": "some", "expression": "length(input.items) > `0`"},
                    ]
                },
            },
            {"id": "a", "type": "end", "config": {"output": "'many'"}},
            {"id": "b", "type": "end", "config": {"output": "'some'"}},
            {"id": "c", "type": "end", "config": {"output": "'none'"}},
        ],
        "edges": [
            edge("start", "route"),
            edge("route", "a", "many"),
            edge("route", "b", "some"),
            edge("route", "c", "default"),
        ],
    }
    workflow_id = api.deploy(definition)
    outputs = [
        api.wait(api.start(workflow_id, {"items": items}))["outputs"]
        for items in ([1, 2, 3], [1], [])
    ]
    assert outputs == ["many", "some", "none"]


def for_each_workflow(concurrency: int) -> dict[str, Any]:
    return {
        "nodes": [
            trigger(),
            {
                "id": "each",
                "type": "for_each",
                "config": {"items": "input.words", "concurrency": concurrency},
            },
            transform("upper", {"word": "item", "at": "index"}),
            {"id": "done", "type": "end", "config": {"output": "nodes.each.output"}},
        ],
        "edges": [
            edge("start", "each"),
            edge("each", "upper", "body"),
            edge("upper", "each", target_handle="back"),
            edge("each", "done", "done"),
        ],
    }


@pytest.mark.parametrize("concurrency", [1, 3])
def test_for_each_runs_the_body_per_item_and_collects_results_in_order(
    api: Api, concurrency: int
) -> None:
    words = ["a", "b", "c", "d", "e"]
    run = api.run(for_each_workflow(concurrency), {"words": words})
    assert run["status"] == "completed", run
    assert run["outputs"] == {
        "count": 5,
        "results": [{"word": w, "at": i} for i, w in enumerate(words)],
    }
    iterations = sorted(s["iteration"] for s in run["steps"] if s["node_id"] == "upper")
    assert len(iterations) == 5 and len(set(iterations)) == 5


def test_a_loop_repeats_its_body_until_its_condition_holds(api: Api) -> None:
    definition = {
        "nodes": [
            trigger(),
            {
                "id": "poll",
                "type": "loop",
                "config": {"until": "iteration >= `3`", "max_iterations": 10},
            },
            transform("tick", {"n": "iteration"}),
            {"id": "done", "type": "end", "config": {"output": "nodes.poll.output"}},
        ],
        "edges": [
            edge("start", "poll"),
            edge("poll", "tick", "body"),
            edge("tick", "poll", target_handle="back"),
            edge("poll", "done", "done"),
        ],
    }
    run = api.run(definition)
    assert run["outputs"] == {"iterations": 4, "result": {"n": 3}}


def test_a_loop_stops_at_its_maximum_of_iterations(api: Api) -> None:
    definition = {
        "nodes": [
            trigger(),
            {"id": "poll", "type": "loop", "config": {"until": "`false`", "max_iterations": 3}},
            transform("tick", {"n": "iteration"}),
            {"id": "done", "type": "end", "config": {"output": "nodes.poll.output.iterations"}},
        ],
        "edges": [
            edge("start", "poll"),
            edge("poll", "tick", "body"),
            edge("tick", "poll", target_handle="back"),
            edge("poll", "done", "done"),
        ],
    }
    assert api.run(definition)["outputs"] == 3


def test_variables_are_set_and_read_back_by_a_query(api: Api) -> None:
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
    answer = api.call("GET", f"/executions/{execution_id}/queries/stage", 200).json()
    assert answer == {"query": "stage", "result": "waiting"}
    api.call("POST", f"/executions/{execution_id}/signals/go", 202, json={"ok": True})
    run = api.wait(execution_id)
    assert run["status"] == "completed" and run["outputs"] == {"ok": True}


def test_signals_are_validated_and_unknown_ones_are_404(api: Api) -> None:
    definition = {
        "signals": [
            {
                "name": "approve",
                "parameters": {
                    "type": "object",
                    "properties": {"by": {"type": "string"}},
                    "required": ["by"],
                },
            }
        ],
        "nodes": [
            trigger(),
            {
                "id": "wait",
                "type": "wait_for_signal",
                "config": {"signal": "approve", "timeout_seconds": 60},
            },
            {"id": "done", "type": "end", "config": {"output": "nodes.wait.output"}},
        ],
        "edges": chain("start", "wait", "done"),
    }
    execution_id = api.start(api.deploy(definition))
    api.wait_for_step(execution_id, "wait", "waiting")
    bad = api.call("POST", f"/executions/{execution_id}/signals/approve", 422, json={"by": 7})
    assert bad.json()["errors"][0]["pointer"] == "/by"
    api.call("POST", f"/executions/{execution_id}/signals/nope", 404, json={})
    api.call("POST", f"/executions/{execution_id}/signals/approve", 202, json={"by": "ada"})
    assert api.wait(execution_id)["outputs"] == {"received": True, "payload": {"by": "ada"}}


def test_wait_for_signal_times_out_through_its_timed_out_outcome(api: Api) -> None:
    definition = {
        "signals": [{"name": "ping"}],
        "nodes": [
            trigger(),
            {
                "id": "wait",
                "type": "wait_for_signal",
                "config": {"signal": "ping", "timeout_seconds": 1},
            },
            {"id": "late", "type": "end", "config": {"output": "'timed out'"}},
            {"id": "ok", "type": "end", "config": {"output": "'got it'"}},
        ],
        "edges": [
            edge("start", "wait"),
            edge("wait", "late", "timed_out"),
            edge("wait", "ok", "received"),
        ],
    }
    assert api.run(definition)["outputs"] == "timed out"


def test_a_delay_waits_durably(api: Api) -> None:
    definition = {
        "nodes": [
            trigger(),
            {"id": "nap", "type": "delay", "config": {"seconds": 1}},
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "nap", "done"),
    }
    run = api.run(definition)
    assert run["status"] == "completed" and run["duration_ms"] >= 1000


def test_inputs_are_validated_against_the_trigger_schema(api: Api) -> None:
    workflow_id = api.deploy(condition_workflow())
    response = api.call(
        "POST", f"/workflows/{workflow_id}/executions", 422, json={"inputs": {"n": "many"}}
    )
    assert response.json()["errors"][0]["pointer"] == "/n"


def test_an_idempotency_key_starts_one_run_only(api: Api) -> None:
    workflow_id = api.deploy(condition_workflow())
    key = {"Idempotency-Key": "order-42"}
    first = api.start(workflow_id, {"n": 1}, headers=key)
    second = api.start(workflow_id, {"n": 1}, headers=key)
    assert first == second
    listed = api.call("GET", f"/executions?workflow_id={workflow_id}", 200).json()
    assert listed["total"] == 1


def test_only_an_active_workflow_runs(api: Api) -> None:
    draft = api.create_workflow(condition_workflow())
    api.call("POST", f"/workflows/{draft}/executions", 409, json={"inputs": {}})
    workflow_id = api.deploy(condition_workflow())
    api.call("PATCH", f"/workflows/{workflow_id}", 200, json={"status": "paused"})
    refused = api.call("POST", f"/workflows/{workflow_id}/executions", 409, json={"inputs": {}})
    assert "paused" in refused.json()["detail"]
