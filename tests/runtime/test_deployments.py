"""Compiled versions through the API: content hashing, listing, rollback, errors, schema."""

from __future__ import annotations

from typing import Any

from tests.runtime.conftest import Api, chain, transform, trigger


def _definition(label: str) -> dict[str, Any]:
    return {
        "nodes": [
            trigger(),
            transform("t", {"label": f"'{label}'"}),
            {"id": "done", "type": "end", "config": {"output": "nodes.t.output"}},
        ],
        "edges": chain("start", "t", "done"),
    }


def test_compiling_an_unchanged_definition_returns_the_same_version(api: Api) -> None:
    workflow_id = api.create_workflow(_definition("a"))
    first = api.call("POST", f"/workflows/{workflow_id}/compile", 200).json()
    again = api.call("POST", f"/workflows/{workflow_id}/compile", 200).json()
    assert first["created"] is True and again["created"] is False
    assert first["version"]["id"] == again["version"]["id"]
    assert len(first["version"]["content_hash"]) == 64 and first["version"]["is_active"]


def test_a_version_can_be_activated_again_and_new_runs_use_it(api: Api) -> None:
    workflow_id = api.deploy(_definition("one"))
    [v1] = api.call("GET", f"/workflows/{workflow_id}/versions", 200).json()
    api.call("PATCH", f"/workflows/{workflow_id}", 200, json={"definition": _definition("two")})
    api.call("POST", f"/workflows/{workflow_id}/deploy", 200)
    assert api.wait(api.start(workflow_id))["outputs"] == {"label": "two"}

    api.call("POST", f"/workflows/{workflow_id}/versions/{v1['id']}/activate", 200)
    versions = api.call("GET", f"/workflows/{workflow_id}/versions", 200).json()
    assert [v["id"] for v in versions if v["is_active"]] == [v1["id"]]
    assert api.wait(api.start(workflow_id))["outputs"] == {"label": "one"}
    detail = api.call("GET", f"/workflows/{workflow_id}/versions/{v1['id']}", 200).json()
    assert detail["plan"]["interpreter"] == "wfb-interpreter/1"
    assert {c["name"] for c in detail["components"]} == {"transform"}


def test_compile_errors_name_the_node_and_field(api: Api) -> None:
    broken = _definition("x")
    broken["nodes"][1]["input"] = {"label": "nodes.ghost.output"}
    workflow_id = api.create_workflow(broken)
    problem = api.call("POST", f"/workflows/{workflow_id}/deploy", 422).json()
    assert problem["type"].endswith("/compilation")
    [error] = problem["errors"]
    assert "unknown_node_reference" in error["message"] and "node t" in error["message"]
    assert error["pointer"] == "/definition/nodes/1/input/label"
    assert api.call("GET", f"/workflows/{workflow_id}", 200).json()["status"] == "draft"


def test_the_definition_schema_is_served(api: Api) -> None:
    schema = api.call("GET", "/schemas/workflow-definition", 200).json()
    assert schema["$schema"].startswith("https://json-schema.org/draft/2020-12")
    assert "nodes" in schema["properties"]


def test_an_edit_to_a_deployed_workflow_is_reported_and_runs_only_once_deployed(
    api: Api,
) -> None:
    workflow_id = api.deploy(_definition("one"))
    state = api.call("GET", f"/workflows/{workflow_id}/deployment", 200).json()
    assert state["changed"] is False and state["draft_compiles"] is True
    assert state["deployed_version"]["content_hash"] == state["draft_hash"]

    api.call("PATCH", f"/workflows/{workflow_id}", 200, json={"definition": _definition("two")})
    state = api.call("GET", f"/workflows/{workflow_id}/deployment", 200).json()
    assert state["changed"] is True and state["status"] == "active"
    assert state["draft_hash"] != state["deployed_version"]["content_hash"]
    # Until deployed, runs keep using the deployed version, and the state above says so.
    assert api.wait(api.start(workflow_id))["outputs"] == {"label": "one"}

    deployed = api.call("POST", f"/workflows/{workflow_id}/deploy", 200).json()
    assert deployed["version"]["content_hash"] == state["draft_hash"]
    assert api.call("GET", f"/workflows/{workflow_id}/deployment", 200).json()["changed"] is False
    assert api.wait(api.start(workflow_id))["outputs"] == {"label": "two"}
    versions = api.call("GET", f"/workflows/{workflow_id}/versions", 200).json()
    assert [v["execution_count"] for v in versions] == [1, 1]


def test_a_draft_that_does_not_compile_counts_as_changed(api: Api) -> None:
    workflow_id = api.deploy(_definition("one"))
    broken = _definition("x")
    broken["nodes"][1]["input"] = {"label": "nodes.ghost.output"}
    api.call("PATCH", f"/workflows/{workflow_id}", 200, json={"definition": broken})
    state = api.call("GET", f"/workflows/{workflow_id}/deployment", 200).json()
    assert state["draft_compiles"] is False and state["draft_hash"] is None
    assert state["changed"] is True


def _coded(code: str) -> dict[str, Any]:
    return {
        "nodes": [
            trigger(),
            {
                "id": "work",
                "type": "activity",
                "component": {"name": "python_code"},
                "config": {"code": code},
                "input": {},
            },
            {"id": "done", "type": "end", "config": {"output": "nodes.work.output"}},
        ],
        "edges": chain("start", "work", "done"),
    }


def test_a_failed_run_is_retried_with_the_deployed_version_when_asked(api: Api) -> None:
    workflow_id = api.deploy(_coded("def main(inputs):\n    raise ValueError('broken')\n"))
    run = api.start(workflow_id)
    assert api.wait(run)["status"] == "failed"
    api.call(
        "PATCH",
        f"/workflows/{workflow_id}",
        200,
        json={"definition": _coded("def main(inputs):\n    return {'fixed': True}\n")},
    )
    fixed = api.call("POST", f"/workflows/{workflow_id}/deploy", 200).json()["version"]

    api.call("POST", f"/executions/{run}/retry?version=deployed", 200)
    finished = api.wait(run)
    assert finished["status"] == "completed", finished["error"]
    assert finished["outputs"]["result"] == {"fixed": True}
    assert finished["compiled_code_id"] == fixed["id"]
    api.call("POST", f"/executions/{run}/retry?version=newest", 422)
