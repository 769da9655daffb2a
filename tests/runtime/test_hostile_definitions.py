"""Hostile definitions get a located 4xx, never a 500: over-long time zones, expressions nested
1,000 deep, NUL and lone surrogates in ids and texts, NaN, infinities and overflowing numbers,
each refused by the API's own checks with the pointer of the offending field, the same way on
create (POST) and on update (PATCH)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import assert_problem
from tests.runtime.conftest import Api, chain, transform
from tests.support import unique


def base() -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "trigger"},
            transform("echo", {"value": "input"}),
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "echo", "done"),
    }


def pointers(response: Any) -> set[str]:
    return {error["pointer"] for error in assert_problem(response, 422)["errors"]}


# -- compiler checks: validate reports, compile and deploy refuse, all located -----------------

LONG_ZONE = "A" * 300
WIDE_ZONE = "é" * 120  # 240 bytes of UTF-8 in a file name


def schedule_trigger(zone: str) -> dict[str, Any]:
    definition = base()
    definition["nodes"][0]["config"] = {"kind": "schedule", "cron": "0 9 * * *", "timezone": zone}
    return definition


def declared_schedule(zone: str) -> dict[str, Any]:
    definition = base()
    definition["schedules"] = [{"cron": "0 9 * * *", "timezone": zone}]
    return definition


def with_condition(expression: str) -> dict[str, Any]:
    definition = base()
    definition["nodes"].insert(
        1, {"id": "check", "type": "condition", "config": {"expression": expression}}
    )
    definition["edges"] = [
        *chain("start", "check"),
        {**chain("check", "echo")[0], "source_handle": "true"},
        *chain("echo", "done"),
    ]
    return definition


COMPILER_CASES = {
    "time zone of 300 bytes on a trigger": (
        schedule_trigger(LONG_ZONE),
        "/nodes/0/config/timezone",
    ),
    "time zone of 240 bytes of UTF-8": (schedule_trigger(WIDE_ZONE), "/nodes/0/config/timezone"),
    "time zone of 300 bytes on a schedule": (declared_schedule(LONG_ZONE), "/schedules/0/timezone"),
    "parentheses 1,000 deep": (
        with_condition("(" * 1000 + "input" + ")" * 1000),
        "/nodes/1/config/expression",
    ),
    "brackets 1,000 deep": (
        with_condition("[" * 1000 + "input" + "]" * 1000),
        "/nodes/1/config/expression",
    ),
    "negations 3,000 deep": (with_condition("!" * 3000 + "input"), "/nodes/1/config/expression"),
    "functions 200 deep": (
        with_condition("not_null(" * 200 + "input" + ")" * 200),
        "/nodes/1/config/expression",
    ),
}


@pytest.mark.parametrize("case", list(COMPILER_CASES), ids=list(COMPILER_CASES))
def test_validate_compile_and_deploy_locate_the_problem(api: Api, case: str) -> None:
    definition, pointer = COMPILER_CASES[case]
    workflow_id = api.create_workflow(definition)
    report = api.call("POST", f"/workflows/{workflow_id}/validate", 200).json()
    assert pointer in {error["pointer"] for error in report["errors"]}
    assert all(len(error["message"]) < 400 for error in report["errors"])
    for step in ("compile", "deploy"):
        refused = api.call("POST", f"/workflows/{workflow_id}/{step}")
        assert refused.status_code == 422, refused.text
        assert pointer in refused.text


def test_a_schedule_declaration_with_an_over_long_time_zone_is_a_422(api: Api) -> None:
    workflow_id = api.create_workflow(base())
    response = api.call(
        "POST",
        f"/workflows/{workflow_id}/schedules",
        json={"cron_expression": "0 9 * * *", "timezone": LONG_ZONE[:50]},
    )
    assert pointers(response) == {"/timezone"}


# -- the API's own check of every body: POST and PATCH alike ----------------------------------


def raw(api: Api, method: str, path: str, body: str) -> Any:
    return api.call(
        method, path, content=body.encode(), headers={"Content-Type": "application/json"}
    )


def definition_with(node_id: str = "start", edge_id: str = "start-to-echo") -> str:
    """A definition's JSON text with raw (escaped) ids, as a hostile client would send it."""
    text = json.dumps(base())
    return text.replace('"id": "start"', f'"id": "{node_id}"', 1).replace(
        '"id": "start-to-echo"', f'"id": "{edge_id}"', 1
    )


BODY_CASES = {
    "NUL in a node id": (definition_with(node_id="st\\u0000art"), "/definition/nodes/0/id"),
    "lone surrogate in a node id": (
        definition_with(node_id="st\\ud800art"),
        "/definition/nodes/0/id",
    ),
    "NUL in an edge id": (definition_with(edge_id="e\\u0000"), "/definition/edges/0/id"),
    "lone surrogate in an edge id": (definition_with(edge_id="e\\udfff"), "/definition/edges/0/id"),
    "NaN in a config": (
        '{"nodes": [{"id": "d", "type": "delay", "config": {"seconds": NaN}}]}',
        "/definition/nodes/0/config/seconds",
    ),
    "Infinity in a config": (
        '{"nodes": [{"id": "d", "type": "delay", "config": {"seconds": Infinity}}]}',
        "/definition/nodes/0/config/seconds",
    ),
    "-Infinity in a config": (
        '{"nodes": [{"id": "d", "type": "delay", "config": {"seconds": -Infinity}}]}',
        "/definition/nodes/0/config/seconds",
    ),
    "1e309 in a config": (
        '{"nodes": [{"id": "d", "type": "delay", "config": {"seconds": 1e309}}]}',
        "/definition/nodes/0/config/seconds",
    ),
    "NUL in a property name": (
        '{"nodes": [{"id": "t", "type": "trigger", "config": {"a\\u0000": 1}}]}',
        "/definition/nodes/0/config/a\u0000",
    ),
}


@pytest.mark.parametrize("case", list(BODY_CASES), ids=list(BODY_CASES))
def test_post_and_patch_refuse_unstorable_values_with_their_pointer(api: Api, case: str) -> None:
    definition, pointer = BODY_CASES[case]
    created = raw(
        api, "POST", "/workflows", f'{{"kebab_name": "{unique("wf")}", "definition": {definition}}}'
    )
    workflow_id = api.create_workflow(base())
    updated = raw(api, "PATCH", f"/workflows/{workflow_id}", f'{{"definition": {definition}}}')
    for response in (created, updated):
        assert pointers(response) == {pointer}
    assert api.call("GET", f"/workflows/{workflow_id}", 200).json()["definition"] == base()


def test_unstorable_text_is_refused_in_any_body_and_query(api: Api) -> None:
    workflow_id = api.create_workflow(base())
    patched = raw(api, "PATCH", f"/workflows/{workflow_id}", '{"display_name": "x\\u0000y"}')
    assert pointers(patched) == {"/display_name"}
    component = raw(api, "POST", "/components", '{"name": "c\\ud83d", "type": "activity"}')
    assert pointers(component) == {"/name"}
    listed = api.call("GET", "/workflows", params={"q": "a\x00b"})
    assert {tuple(e["loc"]) for e in assert_problem(listed, 422)["errors"]} == {("query", "q")}


def test_numbers_beyond_the_integer_columns_are_refused_with_their_pointer(api: Api) -> None:
    definition = declared_schedule("UTC")
    definition["schedules"][0]["max_runs"] = 10**20
    workflow_id = api.create_workflow(definition)
    refused = api.call("POST", f"/workflows/{workflow_id}/deploy")
    assert refused.status_code == 422, refused.text
    assert "/schedules/0/max_runs" in refused.text


def test_a_valid_surrogate_pair_is_text_like_any_other(api: Api) -> None:
    workflow_id = api.create_workflow(base())
    patched = raw(
        api, "PATCH", f"/workflows/{workflow_id}", '{"display_name": "ok \\ud83d\\ude00"}'
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["display_name"] == "ok \U0001f600"


def test_deeply_nested_bodies_are_refused_before_they_are_walked(api: Api) -> None:
    recursive = {"type": "object", "additionalProperties": {"$ref": "#"}}
    workflow_id = api.deploy(
        {
            **base(),
            "nodes": [
                {"id": "start", "type": "trigger", "config": {"input_schema": recursive}},
                *base()["nodes"][1:],
            ],
        }
    )
    nested: Any = 1
    for _ in range(300):
        nested = {"a": nested}
    response = api.call("POST", f"/workflows/{workflow_id}/executions", json={"inputs": nested})
    [error] = assert_problem(response, 422)["errors"]
    assert error["pointer"] == "/inputs" + "/a" * 99
    assert "nested deeper than 100 levels" in error["message"]
    too_deep_to_parse = raw(
        api, "POST", f"/workflows/{workflow_id}/executions", "[" * 100_000 + "]" * 100_000
    )
    assert_problem(too_deep_to_parse, 400)
