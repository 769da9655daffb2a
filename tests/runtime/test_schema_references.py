"""JSON Schema references never fetch anything: a `$ref` to a loopback URL or to a file is a 422
naming its pointer when the schema is saved, and a stored schema that holds one (saved before
this check existed) is a 422 when it is used, while the loopback server sees no request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.api.conftest import assert_problem
from tests.runtime.conftest import Api, Peer, chain, transform
from tests.runtime.test_webhooks import api_key, post
from tests.support import unique
from workflow_builder.db import system_session
from workflow_builder.webhooks import service as webhooks


@pytest.fixture
def target(peer: Peer) -> tuple[Peer, str]:
    """A loopback URL that counts the requests it gets, and its key."""
    key = unique("schema")
    return peer, f"{peer.url}/count/{key}"


def remote(url: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"a": {"$ref": url}}}


HOSTILE = ("loopback", "file:///etc/passwd", "file:///proc/self/environ")


def hostile_refs(url: str) -> list[str]:
    return [url if ref == "loopback" else ref for ref in HOSTILE]


def pointers(response: Any) -> set[str]:
    body = assert_problem(response, 422)
    return {error["pointer"] for error in body["errors"]}


def assert_not_fetched(target: tuple[Peer, str]) -> None:
    peer, url = target
    assert peer.count(url.rsplit("/", 1)[1]) == 0


def test_a_component_schema_with_a_remote_ref_is_refused_naming_the_pointer(
    api: Api, target: tuple[Peer, str]
) -> None:
    for ref in hostile_refs(target[1]):
        for field in ("config_schema", "input_schema", "output_schema"):
            body = {"name": unique("c"), "type": "activity", field: remote(ref)}
            response = api.call("POST", "/components", json=body)
            assert pointers(response) == {f"/{field}/properties/a/$ref"}
            assert ref in response.text
    assert_not_fetched(target)


def test_a_component_update_with_a_remote_ref_is_refused(
    api: Api, target: tuple[Peer, str]
) -> None:
    created = api.call("POST", "/components", 201, json={"name": unique("c"), "type": "activity"})
    response = api.call(
        "PATCH", f"/components/{created.json()['id']}", json={"input_schema": remote(target[1])}
    )
    assert pointers(response) == {"/input_schema/properties/a/$ref"}
    assert_not_fetched(target)


def test_prompt_variables_with_a_remote_ref_are_refused(api: Api, target: tuple[Peer, str]) -> None:
    for ref in hostile_refs(target[1]):
        body = {"name": unique("p"), "prompt_content": "Hi", "prompt_variables": remote(ref)}
        response = api.call("POST", "/agent-prompts", json=body)
        assert pointers(response) == {"/prompt_variables/properties/a/$ref"}
    assert_not_fetched(target)


def definition(input_schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "trigger", "config": {"input_schema": input_schema}},
            transform("echo", {"value": "input"}),
            {"id": "done", "type": "end", "config": {"output": "nodes.echo.output"}},
        ],
        "edges": chain("start", "echo", "done"),
        **extra,
    }


def test_a_definition_with_a_remote_ref_is_refused_on_create_and_on_update(
    api: Api, target: tuple[Peer, str]
) -> None:
    url = target[1]
    hostile = definition(
        remote(url),
        signals=[{"name": "go", "parameters": {"$ref": "file:///etc/passwd"}}],
        work_queues=[{"name": "jobs", "work_item_schema": {"items": {"$ref": url}}}],
        variables={"v": {"initial": 1, "schema": {"$defs": {"x": {"$ref": url}}}}},
    )
    expected = {
        "/definition/nodes/0/config/input_schema/properties/a/$ref",
        "/definition/signals/0/parameters/$ref",
        "/definition/work_queues/0/work_item_schema/items/$ref",
        "/definition/variables/v/schema/$defs/x/$ref",
    }
    name = unique("wf")
    created = api.call("POST", "/workflows", json={"kebab_name": name, "definition": hostile})
    assert pointers(created) == expected
    workflow_id = api.create_workflow(definition({"type": "object"}))
    updated = api.call("PATCH", f"/workflows/{workflow_id}", json={"definition": hostile})
    assert pointers(updated) == expected
    assert_not_fetched(target)


def test_declarations_with_a_remote_ref_are_refused(api: Api, target: tuple[Peer, str]) -> None:
    workflow_id = api.create_workflow(definition({"type": "object"}))
    url = target[1]
    for path, body, pointer in (
        ("signals", {"signal_name": "go", "parameters": remote(url)}, "/parameters"),
        ("queries", {"query_name": "q", "return_type": remote(url)}, "/return_type"),
        ("work-queues", {"queue_name": "w", "work_item_schema": remote(url)}, "/work_item_schema"),
    ):
        response = api.call("POST", f"/workflows/{workflow_id}/{path}", json=body)
        assert pointers(response) == {f"{pointer}/properties/a/$ref"}
    assert_not_fetched(target)


def test_references_inside_the_document_and_to_published_schemas_still_work(api: Api) -> None:
    schema = {
        "type": "object",
        "$defs": {"count": {"type": "integer", "minimum": 0}},
        "properties": {
            "n": {"$ref": "#/$defs/count"},
            "meta": {"$ref": "https://json-schema.org/draft/2020-12/schema"},
        },
        "required": ["n"],
    }
    workflow_id = api.deploy(definition(schema))
    refused = api.call("POST", f"/workflows/{workflow_id}/executions", json={"inputs": {"n": -1}})
    assert pointers(refused) == {"/n"}
    run = api.wait(api.start(workflow_id, {"n": 3, "meta": {"type": "string"}}))
    assert run["status"] == "completed"


def _tamper_active_version(workflow_id: str, input_schema: dict[str, Any]) -> None:
    """Store `input_schema` in the workflow's active version, as a version compiled before
    references were checked would hold it."""
    with system_session() as session:
        row = session.execute(
            text(
                "select id, workflow_code from workflow_compiled_code "
                "where workflow_id = :w and is_active"
            ),
            {"w": workflow_id},
        ).one()
        plan = json.loads(row.workflow_code)
        for node in plan["nodes"]:
            if node["type"] == "trigger":
                node["config"]["input_schema"] = input_schema
        session.execute(
            text("update workflow_compiled_code set workflow_code = :c where id = :i"),
            {"c": json.dumps(plan), "i": row.id},
        )


def test_a_stored_remote_ref_is_a_422_on_run_start_and_fetches_nothing(
    api: Api, target: tuple[Peer, str]
) -> None:
    workflow_id = api.deploy(definition({"type": "object"}))
    for ref in hostile_refs(target[1]):
        _tamper_active_version(workflow_id, remote(ref))
        response = api.call(
            "POST", f"/workflows/{workflow_id}/executions", json={"inputs": {"a": 1}}
        )
        assert pointers(response) == {"/a"}
        assert "resolves nowhere" in response.text
    assert_not_fetched(target)


def test_a_stored_remote_ref_is_a_422_on_a_webhook_and_fetches_nothing(
    api: Api, client: TestClient, target: tuple[Peer, str]
) -> None:
    path = unique("hook")
    hook = definition({"type": "object"})
    hook["nodes"][0]["config"] |= {"kind": "webhook", "path": path}
    workflow_id = api.deploy(hook)
    _tamper_active_version(workflow_id, remote(target[1]))
    webhooks.forget_hooks()
    response = post(client, path, {"a": 1}, key=api_key(api))
    assert pointers(response) == {"/a"}
    assert_not_fetched(target)


def test_a_stored_remote_ref_is_a_422_on_prompt_render(api: Api, target: tuple[Peer, str]) -> None:
    created = api.call(
        "POST",
        "/agent-prompts",
        201,
        json={"name": unique("p"), "prompt_content": "{{ a }}", "prompt_variables": {}},
    ).json()
    with system_session() as session:
        session.execute(
            text("update agent_prompts set prompt_variables = cast(:v as jsonb) where id = :i"),
            {"v": json.dumps(remote(target[1])), "i": created["id"]},
        )
    response = api.call(
        "POST", f"/agent-prompts/{created['id']}/render", json={"variables": {"a": 1}}
    )
    assert pointers(response) == {"/variables/a"}
    assert_not_fetched(target)


def test_validation_reports_a_stored_remote_ref_with_its_pointer(
    api: Api, target: tuple[Peer, str]
) -> None:
    workflow_id = api.create_workflow(definition({"type": "object"}))
    with system_session() as session:
        session.execute(
            text("update workflows set definition = cast(:d as jsonb) where id = :w"),
            {"d": json.dumps(definition(remote(target[1]))), "w": workflow_id},
        )
    report = api.call("POST", f"/workflows/{workflow_id}/validate", 200).json()
    assert {(e["code"], e["pointer"]) for e in report["errors"]} == {
        ("invalid_json_schema", "/nodes/0/config/input_schema/properties/a/$ref")
    }
    deploy = api.call("POST", f"/workflows/{workflow_id}/deploy")
    assert deploy.status_code == 422, deploy.text
    assert_not_fetched(target)
