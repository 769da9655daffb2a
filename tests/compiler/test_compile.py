"""Compiling valid definitions: plan structure, pinning, joins, loops and the content hash."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.compiler.support import Definition, base, catalog, edge, node, transform
from workflow_builder.compiler import (
    INTERPRETER_VERSION,
    CompilationError,
    CompiledPlan,
    compile_definition,
    definition_json_schema,
    validate,
)
from workflow_builder.compiler.definition import NODE_TYPES
from workflow_builder.compiler.schemas import incompatibilities


def plan_of(definition: Definition) -> CompiledPlan:
    """Return the plan of a definition that must be valid."""
    result = validate(definition, catalog())
    assert result.ok, [p.to_dict() for p in result.errors]
    return compile_definition(definition, catalog())


def planned(plan: CompiledPlan, node_id: str) -> dict[str, Any]:
    """Return one planned node."""
    return next(n for n in plan.data["nodes"] if n["id"] == node_id)


def every_node_type() -> Definition:
    """Return a workflow using every node type, parallel paths, joins and nested loops."""
    nodes: list[dict[str, Any]] = [
        {
            "id": "start",
            "type": "trigger",
            "config": {
                "kind": "schedule",
                "cron": "0 9 * * 1-5",
                "timezone": "Europe/Paris",
                "input_schema": {"type": "object", "properties": {"items": {"type": "array"}}},
            },
        },
        {
            "id": "route",
            "type": "switch",
            "config": {
                "cases": [
                    {"name": "big", "expression": "length(input.items) > `10`"},
                    {"name": "small", "expression": "length(input.items) > `0`"},
                ]
            },
        },
        {
            "id": "summarize",
            "type": "agent",
            "component": {"name": "summarize"},
            "input": {"text": "'many items'"},
        },
        {"id": "each", "type": "for_each", "config": {"items": "input.items", "concurrency": 3}},
        transform("shape", value="item", position="index"),
        {"id": "pause", "type": "delay", "config": {"seconds": 60}},
        {"id": "merge", "type": "join"},
        {
            "id": "retry",
            "type": "loop",
            "config": {"until": "nodes.probe.output.status == `200`", "max_iterations": 5},
        },
        {
            "id": "probe",
            "type": "activity",
            "component": {"name": "http_request"},
            "config": {"method": "GET", "url": "https://status.example"},
            "input": {},
            "retry": {"maximum_attempts": 1},
            "timeout_seconds": 5,
        },
        {
            "id": "gate",
            "type": "condition",
            "config": {"expression": "nodes.retry.output.iterations > `1`"},
        },
        {"id": "batches", "type": "for_each", "config": {"items": "input.items"}},
        {
            "id": "poll",
            "type": "loop",
            "config": {"until": "iteration >= `2`", "max_iterations": 3},
        },
        {
            "id": "tick",
            "type": "set_variable",
            "config": {"variable": "counter", "value": "iteration"},
        },
        {
            "id": "hold",
            "type": "wait_for_signal",
            "config": {"signal": "approve", "timeout_seconds": 60},
        },
        {"id": "take", "type": "work_queue", "config": {"queue": "orders", "operation": "take"}},
        {
            "id": "bill",
            "type": "child_workflow",
            "config": {"workflow": "billing"},
            "input": {"order": "nodes.take.output.item"},
        },
        {
            "id": "next_item",
            "type": "work_queue",
            "config": {"queue": "orders", "operation": "wait_for_item", "timeout_seconds": 30},
        },
        {
            "id": "spawn",
            "type": "child_workflow",
            "config": {"workflow": "billing", "mode": "start", "parent_close_policy": "abandon"},
        },
        {"id": "later", "type": "delay", "config": {"until": "'2030-01-01T00:00:00Z'"}},
        {
            "id": "finish",
            "type": "end",
            "config": {"output": "{merged: nodes.merge.output, counter: vars.counter}"},
        },
    ]
    edges = [
        edge("a01", "start", "route"),
        edge("a02", "route", "summarize", "big"),
        edge("a03", "route", "each", "small"),
        edge("a04", "route", "pause", "default"),
        edge("a05", "each", "shape", "body"),
        edge("a06", "shape", "each", target_handle="back"),
        edge("a07", "summarize", "merge"),
        edge("a08", "each", "merge", "done"),
        edge("a09", "pause", "merge"),
        edge("b01", "start", "retry"),
        edge("b02", "retry", "probe", "body"),
        edge("b03", "probe", "retry", target_handle="back"),
        edge("b04", "retry", "gate", "done"),
        edge("b05", "gate", "batches", "true"),
        edge("b06", "batches", "poll", "body"),
        edge("b07", "poll", "tick", "body"),
        edge("b08", "tick", "poll", target_handle="back"),
        edge("b09", "poll", "batches", "done", target_handle="back"),
        edge("b10", "gate", "finish", "false"),
        edge("b11", "batches", "finish", "done"),
        edge("c01", "start", "hold"),
        edge("c02", "hold", "take", "received"),
        edge("c03", "take", "bill"),
        edge("c04", "bill", "next_item"),
        edge("c05", "next_item", "finish", "received"),
        edge("c06", "next_item", "finish", "timed_out"),
        edge("c07", "hold", "spawn", "timed_out"),
        edge("c08", "spawn", "later"),
        edge("c09", "later", "finish"),
        edge("d01", "merge", "finish"),
    ]
    return {
        "format_version": 1,
        "nodes": nodes,
        "edges": edges,
        "variables": {"counter": {"initial": 0, "schema": {"type": "integer"}}},
        "settings": {"timeout_seconds": 600, "retry": {"maximum_attempts": 4}},
        "signals": [{"name": "approve", "parameters": {"type": "object"}}],
        "queries": [{"name": "progress", "expression": "vars.counter"}],
        "work_queues": [{"name": "orders", "work_item_schema": {"type": "object"}}],
        "schedules": [{"cron": "*/15 * * * *", "timezone": "UTC"}],
        "child_workflows": [{"workflow": "billing", "parent_close_policy": "abandon"}],
    }


def test_base_workflow_compiles_in_topological_order() -> None:
    plan = plan_of(base())

    order = [n["id"] for n in plan.data["nodes"]]
    assert order == ["start", "fetch", "adult", "mail", "done", "refuse"]
    assert planned(plan, "adult")["successors"] == {"true": ["mail"], "false": ["refuse"]}
    assert planned(plan, "mail")["incoming"] == [
        {"edge": "e3", "source": "adult", "outcome": "true"}
    ]
    assert plan.data["entry"] == "start"
    assert plan.data["interpreter"] == INTERPRETER_VERSION


def test_components_are_pinned_to_exact_versions() -> None:
    definition = base()
    del node(definition, "fetch")["component"]["version"]

    plan = plan_of(definition)

    assert planned(plan, "fetch")["component"] == "fetch_user@1.2.0"
    assert planned(plan, "mail")["component"] == "send_email@1.0.0"
    pinned = plan.data["components"]["fetch_user@1.2.0"]
    assert pinned["implementation_path"] == "tests.activities:fetch_user"
    assert pinned["id"] and pinned["version"] == "1.2.0"


def test_defaults_are_filled_and_retry_resolved_from_settings() -> None:
    definition = base()
    definition["settings"] = {"retry": {"maximum_attempts": 7}, "activity_timeout_seconds": 30}
    node(definition, "mail")["retry"] = {"initial_interval": 5}
    node(definition, "mail")["timeout_seconds"] = 12

    plan = plan_of(definition)

    fetch, mail = planned(plan, "fetch"), planned(plan, "mail")
    assert fetch["config"] == {"base_url": "https://users.example", "timeout_seconds": 10}
    assert fetch["retry"]["maximum_attempts"] == 7
    assert fetch["timeout_seconds"] == 30
    assert mail["retry"]["maximum_attempts"] == 7
    assert mail["retry"]["initial_interval"] == 5
    assert mail["timeout_seconds"] == 12
    assert planned(plan, "done")["config"] == {"status": "completed", "output": "nodes.mail.output"}


def test_every_node_type_compiles() -> None:
    plan = plan_of(every_node_type())

    assert {n["type"] for n in plan.data["nodes"]} == set(NODE_TYPES)


def test_parallel_branches_join_on_all_incoming_edges() -> None:
    plan = plan_of(every_node_type())

    merge = planned(plan, "merge")
    assert [(i["source"], i["outcome"]) for i in merge["incoming"]] == [
        ("summarize", "next"),
        ("each", "done"),
        ("pause", "next"),
    ]
    assert planned(plan, "start")["successors"] == {"next": ["hold", "retry", "route"]}
    assert len(planned(plan, "finish")["incoming"]) == 6


def test_loop_bodies_are_explicit_and_nested_scopes_recorded() -> None:
    plan = plan_of(every_node_type())

    each, batches, poll = planned(plan, "each"), planned(plan, "batches"), planned(plan, "poll")
    assert each["body"] == {
        "nodes": ["shape"],
        "entry": ["shape"],
        "back_edges": [{"edge": "a06", "source": "shape"}],
        "result": 'nodes."shape".output',
    }
    assert batches["body"]["nodes"] == ["poll"]
    assert poll["body"]["nodes"] == ["tick"]
    assert (poll["scope"], planned(plan, "tick")["scope"]) == ("batches", "poll")
    assert planned(plan, "gate")["scope"] is None
    assert each["successors"] == {"body": ["shape"], "done": ["merge"]}


def test_work_queue_signal_and_query_are_generated() -> None:
    plan = plan_of(every_node_type())

    assert [s["name"] for s in plan.data["signals"]] == ["approve", "orders_add"]
    assert [q["name"] for q in plan.data["queries"]] == ["orders_items", "progress"]


def test_call_without_input_takes_its_data_predecessor_output() -> None:
    definition = base()
    del node(definition, "fetch")["input"]
    node(definition, "start")["config"]["input_schema"]["required"] = ["user_id"]

    plan = plan_of(definition)

    assert planned(plan, "fetch")["input"] == {"from": 'nodes."start".output'}
    assert planned(plan, "mail")["input"]["map"]["subject"] == "'Welcome'"


def test_call_without_input_must_fit_its_predecessor_output() -> None:
    definition = base()
    del node(definition, "fetch")["input"]
    node(definition, "start")["config"]["input_schema"] = {
        "type": "object",
        "properties": {"user_id": {"type": "integer"}},
        "additionalProperties": False,
    }

    result = validate(definition, catalog())

    assert [(p.code, p.pointer) for p in result.errors] == [("incompatible_schemas", "/nodes/1")]


def test_a_closed_input_schema_refuses_properties_its_source_always_has() -> None:
    source = {
        "type": "object",
        "properties": {"status": {}, "body": {}},
        "required": ["status", "body"],
    }
    closed = {"type": "object", "properties": {"body": {}}, "additionalProperties": False}
    assert incompatibilities(source, closed) == [
        "value always has 'status', which the input schema does not accept"
    ]
    assert incompatibilities(source, {**closed, "additionalProperties": True}) == []
    assert incompatibilities({**source, "required": ["body"]}, closed) == []


def test_compiling_an_invalid_definition_raises_with_the_result() -> None:
    definition = base()
    node(definition, "adult")["config"]["expression"] = "nodes.ghost.output"

    with pytest.raises(CompilationError) as raised:
        compile_definition(definition, catalog())

    assert [p.code for p in raised.value.result.errors] == ["unknown_node_reference"]


def test_the_hash_is_stable_and_ignores_layout() -> None:
    first = plan_of(every_node_type())
    moved = every_node_type()
    for index, found in enumerate(moved["nodes"]):
        found["position"] = {"x": index * 37, "y": -index}
        found["label"] = f"Step {index}"
    for found in moved["edges"]:
        found["label"] = "moved"
    random.Random(7).shuffle(moved["nodes"])
    random.Random(8).shuffle(moved["edges"])

    assert plan_of(every_node_type()).content_hash == first.content_hash
    assert plan_of(moved).content_hash == first.content_hash
    assert plan_of(moved).to_json() == first.to_json()


def test_the_hash_changes_with_behaviour() -> None:
    changed = base()
    node(changed, "adult")["config"]["expression"] = "nodes.fetch.output.age >= `21`"

    assert plan_of(changed).content_hash != plan_of(base()).content_hash


def test_plan_json_is_canonical() -> None:
    text = plan_of(base()).to_json()

    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert "position" not in text and "Fetch the user" not in text


def test_compiled_code_columns() -> None:
    plan = plan_of(every_node_type())

    columns = plan.compiled_code()

    assert columns["workflow_code"] == plan.to_json()
    assert [c["name"] for c in json.loads(columns["activities_code"])] == [
        "http_request",
        "summarize",
        "transform",
    ]
    assert columns["worker_code"] == INTERPRETER_VERSION
    assert columns["requirements"] == "httpx>=0.27\n"
    assert columns["runtime_config"]["timeout_seconds"] == 600
    assert columns["runtime_config"]["retry"]["maximum_attempts"] == 4
    assert columns["runtime_config"]["for_each_concurrency"] == {"batches": 1, "each": 3}


def test_definition_schema_is_draft_2020_12_and_accepts_the_examples() -> None:
    schema = definition_json_schema()

    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert not list(validator.iter_errors(base()))
    assert not list(validator.iter_errors(every_node_type()))
    assert list(validator.iter_errors({"nodes": [{"id": "x", "type": "bogus"}]}))


def test_references_into_a_loop_body_are_limited_to_that_body() -> None:
    definition = every_node_type()
    node(definition, "finish")["config"]["output"] = "nodes.tick.output"

    result = validate(definition, catalog())

    assert [(p.code, p.node_id) for p in result.errors] == [("reference_not_ancestor", "finish")]


def test_a_loop_cannot_read_its_own_output_inside_its_body() -> None:
    definition = every_node_type()
    node(definition, "shape")["input"] = {"value": "nodes.each.output"}

    result = validate(definition, catalog())

    assert [(p.code, p.node_id) for p in result.errors] == [("reference_not_ancestor", "shape")]
