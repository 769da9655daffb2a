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
