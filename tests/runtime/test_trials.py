"""Trying one node of a draft without deploying: sample or pinned data, the component's own
execution path (schema checks, sandbox), nothing recorded, errors that name the node."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.runtime.conftest import Api, chain, transform, trigger


def _shout() -> dict[str, Any]:
    return {
        "nodes": [
            trigger(),
            transform("shape", {"name": "input.name", "greeting": "'hello'"}),
            {
                "id": "shout",
                "type": "activity",
                "component": {"name": "python_code"},
                "config": {
                    "code": "def main(inputs):\n"
                    "    return inputs['shape']['greeting'] + ' ' + inputs['shape']['name']\n"
                },
                "input": {"shape": "nodes.shape.output"},
            },
            {"id": "done", "type": "end", "config": {"output": "nodes.shout.output"}},
        ],
        "edges": chain("start", "shape", "shout", "done"),
    }


def test_a_draft_node_runs_with_sample_data_and_nothing_is_recorded(api: Api) -> None:
    workflow_id = api.create_workflow(_shout())
    tried = api.call(
        "POST", f"/workflows/{workflow_id}/nodes/shape/try", 200, json={"input": {"name": "Ada"}}
    ).json()
    assert tried["ok"] is True and tried["error"] is None
    assert tried["inputs"] == {"name": "Ada", "greeting": "hello"}
    assert tried["output"] == {"name": "Ada", "greeting": "hello"}

    shout = api.call(
        "POST",
        f"/workflows/{workflow_id}/nodes/shout/try",
        200,
        json={"nodes": {"shape": tried["output"]}},
    ).json()
    assert shout["ok"] is True, shout["error"]
    assert shout["output"]["result"] == "hello Ada"
    assert api.call("GET", f"/workflows/{workflow_id}", 200).json()["status"] == "draft"
    listed = api.call("GET", "/executions", 200, params={"workflow_id": workflow_id}).json()
    assert listed["total"] == 0
    assert api.call("GET", f"/workflows/{workflow_id}/versions", 200).json() == []


def test_pinned_data_is_saved_with_the_draft_and_used_when_no_sample_is_sent(api: Api) -> None:
    definition = {
        **_shout(),
        "pinned_data": {"start": {"name": "Grace"}, "shape": {"greeting": "hi", "name": "Bob"}},
    }
    workflow_id = api.create_workflow(definition)
    saved = api.call("GET", f"/workflows/{workflow_id}", 200).json()["definition"]
    assert saved["pinned_data"]["start"] == {"name": "Grace"}

    shape = api.call("POST", f"/workflows/{workflow_id}/nodes/shape/try", 200).json()
    assert shape["output"] == {"name": "Grace", "greeting": "hello"}
    shout = api.call("POST", f"/workflows/{workflow_id}/nodes/shout/try", 200).json()
    assert shout["output"]["result"] == "hi Bob"

    # Pinned data is no part of what runs: the compiled version is the same without it.
    with_pins = api.call("POST", f"/workflows/{workflow_id}/compile", 200).json()["version"]
    api.call("PATCH", f"/workflows/{workflow_id}", 200, json={"definition": _shout()})
    without = api.call("POST", f"/workflows/{workflow_id}/compile", 200).json()
    assert without["created"] is False
    assert without["version"]["content_hash"] == with_pins["content_hash"]


def test_a_tried_node_runs_the_way_a_runs_call_does(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python_code's own process: another pid, none of the API's environment.
    monkeypatch.setenv("WFB_TRIAL_CANARY", "not for tenants")
    definition = _shout()
    definition["nodes"][2]["config"]["code"] = (
        "import os\ndef main(inputs):\n    return [os.getpid(), sorted(os.environ)]\n"
    )
    workflow_id = api.create_workflow(definition)
    tried = api.call(
        "POST", f"/workflows/{workflow_id}/nodes/shout/try", 200, json={"nodes": {"shape": {}}}
    ).json()
    assert tried["ok"] is True, tried["error"]
    pid, environment = tried["output"]["result"]
    assert pid != os.getpid()
    assert "WFB_TRIAL_CANARY" not in environment
    assert not {"DATABASE_URL", "WFB_TEST_DATABASE_URL"} & set(environment)


def test_a_failing_call_is_an_answer_not_an_error(api: Api) -> None:
    definition = _shout()
    definition["nodes"][2]["config"]["code"] = "def main(inputs):\n    raise ValueError('nope')\n"
    workflow_id = api.create_workflow(definition)
    tried = api.call("POST", f"/workflows/{workflow_id}/nodes/shout/try", 200).json()
    assert tried["ok"] is False and "nope" in tried["error"]["message"]


def test_refusals_name_the_node_and_field(api: Api) -> None:
    workflow_id = api.create_workflow(_shout())
    assert (
        "Node 'ghost'"
        in api.call("POST", f"/workflows/{workflow_id}/nodes/ghost/try", 404).json()["detail"]
    )
    [error] = api.call("POST", f"/workflows/{workflow_id}/nodes/done/try", 422).json()["errors"]
    assert "end node" in error["message"]
    bad = _shout()
    bad["nodes"][1]["input"] = {"name": "abs(input.name)"}
    broken = api.create_workflow(bad)
    [error] = api.call(
        "POST", f"/workflows/{broken}/nodes/shape/try", 422, json={"input": {"name": "x"}}
    ).json()["errors"]
    assert error["pointer"] == "/definition/nodes/1/input/name"
    assert "node shape" in error["message"]
    compiles_not = _shout()
    compiles_not["nodes"][2]["input"] = {"shape": "nodes.ghost.output"}
    problem = api.call(
        "POST",
        f"/workflows/{api.create_workflow(compiles_not)}/nodes/shape/try",
        422,
    ).json()
    assert problem["type"].endswith("/compilation")


def _labelled(label: str) -> dict[str, Any]:
    return {
        "nodes": [
            trigger({"type": "object", "required": ["who"]}),
            transform("t", {"label": f"'{label}'", "who": "input.who"}),
            {"id": "done", "type": "end", "config": {"output": "nodes.t.output"}},
        ],
        "edges": chain("start", "t", "done"),
    }


def test_a_draft_is_test_run_without_deploying_and_marked_as_a_test(api: Api) -> None:
    workflow_id = api.create_workflow(_labelled("draft"))
    started = api.call(
        "POST", f"/workflows/{workflow_id}/test-runs", 201, json={"inputs": {"who": "Ada"}}
    ).json()
    assert started["is_test"] is True
    finished = api.wait(started["id"])
    assert finished["status"] == "completed", finished["error"]
    assert finished["outputs"] == {"label": "draft", "who": "Ada"}
    assert api.call("GET", f"/workflows/{workflow_id}", 200).json()["status"] == "draft"
    [version] = api.call("GET", f"/workflows/{workflow_id}/versions", 200).json()
    assert version["is_active"] is False and version["id"] == finished["compiled_code_id"]

    def listed(**params: Any) -> list[str]:
        page = api.call("GET", "/executions", 200, params={"workflow_id": workflow_id, **params})
        return [run["id"] for run in page.json()["items"]]

    assert listed(is_test="true") == [started["id"]] == listed()
    assert listed(is_test="false") == []
    runs = api.call("GET", "/statistics/runs", 200, params={"workflow_id": workflow_id}).json()
    assert runs["totals"]["total"] == 1 and runs["totals"]["test_runs"] == 1
    [row] = api.call(
        "GET", "/statistics/workflows", 200, params={"workflow_id": workflow_id}
    ).json()["items"]
    assert row["runs"] == 1 and row["test_runs"] == 1


def test_a_test_run_of_a_deployed_workflow_runs_the_draft_and_deploys_nothing(api: Api) -> None:
    workflow_id = api.deploy(_labelled("deployed"))
    api.call("PATCH", f"/workflows/{workflow_id}", 200, json={"definition": _labelled("edited")})
    test_run = api.call(
        "POST", f"/workflows/{workflow_id}/test-runs", 201, json={"inputs": {"who": "Ada"}}
    ).json()
    assert api.wait(test_run["id"])["outputs"]["label"] == "edited"
    assert api.wait(api.start(workflow_id, {"who": "Bob"}))["outputs"]["label"] == "deployed"
    state = api.call("GET", f"/workflows/{workflow_id}/deployment", 200).json()
    assert state["changed"] is True
    assert state["deployed_version"]["id"] != api.execution(test_run["id"])["compiled_code_id"]


def test_a_test_run_checks_its_inputs_and_the_draft(api: Api) -> None:
    workflow_id = api.create_workflow(_labelled("x"))
    [error] = api.call(
        "POST", f"/workflows/{workflow_id}/test-runs", 422, json={"inputs": {}}
    ).json()["errors"]
    assert "who" in error["message"]
    broken = _labelled("x")
    broken["nodes"][1]["input"] = {"label": "nodes.ghost.output"}
    problem = api.call(
        "POST", f"/workflows/{api.create_workflow(broken)}/test-runs", 422, json={"inputs": {}}
    ).json()
    assert problem["type"].endswith("/compilation")


def test_a_test_runs_calls_are_left_out_of_the_components_statistics(api: Api) -> None:
    workflow_id = api.deploy(_shout())

    def calls() -> int:
        rows = api.call(
            "GET", "/statistics/components", 200, params={"workflow_id": workflow_id}
        ).json()
        items = rows["items"] if isinstance(rows, dict) else rows
        return sum(row["execution_count"] for row in items)

    test_run = api.call(
        "POST", f"/workflows/{workflow_id}/test-runs", 201, json={"inputs": {"name": "Ada"}}
    ).json()
    assert api.wait(test_run["id"])["status"] == "completed"
    assert calls() == 0
    assert api.wait(api.start(workflow_id, {"name": "Bob"}))["status"] == "completed"
    counted = calls()
    assert counted > 0  # the deployed run's calls count
    again = api.call(
        "POST", f"/workflows/{workflow_id}/test-runs", 201, json={"inputs": {"name": "Cy"}}
    ).json()
    assert api.wait(again["id"])["status"] == "completed"
    assert calls() == counted
