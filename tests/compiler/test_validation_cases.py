"""The broken-definition corpus: one case per validation code, with its exact location."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.compiler.support import Definition, base, catalog, edge, node, splice, transform
from workflow_builder.compiler import CODES, ValidationContext, validate
from workflow_builder.compiler.catalog import component_from_dict


@dataclass(frozen=True)
class Case:
    """A broken definition and the one problem it must produce."""

    code: str
    build: Callable[[], Definition | str]
    pointer: str
    node_id: str | None = None
    edge_id: str | None = None
    context: ValidationContext | None = None


def mutate(change: Callable[[Definition], Any]) -> Callable[[], Definition]:
    """Return a builder applying `change` to the base definition."""

    def build() -> Definition:
        definition = base()
        change(definition)
        return definition

    return build


def with_nodes(*nodes: dict[str, Any], handle: str | None = None) -> Callable[[], Definition]:
    """Return a builder splicing nodes (in order) after mail; `handle` names their exits."""

    def build() -> Definition:
        definition = base()
        previous = "mail"
        for extra in nodes:
            splice(definition, extra, previous)
            previous = extra["id"]
        for found in definition["edges"]:
            if handle and found["source"] in {n["id"] for n in nodes}:
                found["source_handle"] = handle
        return definition

    return build


def set_path(definition: Definition, path: list[Any], value: Any) -> None:
    """Set a nested value (node ids as the second part address nodes by id)."""
    target: Any = definition
    if path[0] == "nodes":
        target, path = node(definition, path[1]), path[2:]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def changed(path: list[Any], value: Any) -> Callable[[], Definition]:
    """Return a builder setting one value in the base definition."""
    return mutate(lambda d: set_path(d, path, value))


def condition(expression: str) -> Callable[[], Definition]:
    """Return a builder giving the `adult` condition another expression."""
    return changed(["nodes", "adult", "config", "expression"], expression)


def for_each(
    body: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    loop: dict[str, Any] | None = None,
) -> Callable[[], Definition]:
    """Return a builder with a loop node `each` (a for_each unless given) after mail."""

    def build() -> Definition:
        definition = base()
        each = loop or {"id": "each", "type": "for_each", "config": {"items": "input.items"}}
        splice(definition, each, "mail")
        for found in definition["edges"]:
            if found["source"] == "each":
                found["source_handle"] = "done"
        definition["nodes"] += body
        definition["edges"] += edges
        return definition

    return build


def loop_body(*extra_edges: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a body edge each -> item_step plus the given edges."""
    return [edge("b1", "each", "item_step", "body"), *extra_edges]


ITEM_STEP = transform("item_step", value="item")
BACK = edge("b2", "item_step", "each", target_handle="back")

CASES = [
    Case("invalid_json", lambda: "{not json", ""),
    Case(
        "invalid_document",
        changed(["nodes", "adult", "config"], {}),
        "/nodes/2/config/expression",
        "adult",
    ),
    Case("invalid_document", changed(["nodes", "adult", "type"], "bogus"), "/nodes/2", "adult"),
    Case("invalid_document", changed(["edges", 0, "source"], 7), "/edges/0/source"),
    Case(
        "missing_trigger",
        mutate(lambda d: (d["nodes"].pop(0), d["edges"].pop(0))),
        "/nodes",
    ),
    Case(
        "multiple_triggers",
        mutate(lambda d: d["nodes"].append({"id": "again", "type": "trigger"})),
        "/nodes/6",
        "again",
    ),
    Case(
        "trigger_has_incoming",
        mutate(lambda d: d["edges"].append(edge("loop", "mail", "start"))),
        "/edges/5/target",
        "start",
        "loop",
    ),
    Case(
        "incomplete_trigger",
        changed(["nodes", "start", "config", "kind"], "schedule"),
        "/nodes/0/config/cron",
        "start",
    ),
    Case(
        "incomplete_trigger",
        changed(["nodes", "start", "config"], {"kind": "webhook", "auth": "hmac"}),
        "/nodes/0/config/secret",
        "start",
    ),
    Case(
        "invalid_webhook_path",
        changed(["nodes", "start", "config"], {"kind": "webhook", "path": "Orders//new"}),
        "/nodes/0/config/path",
        "start",
    ),
    Case(
        "invalid_webhook_path",
        changed(["nodes", "start", "config"], {"kind": "webhook", "path": "a" * 256}),
        "/nodes/0/config/path",
        "start",
    ),
    Case(
        "unexpected_webhook_setting",
        changed(["nodes", "start", "config", "rate_limit_per_second"], 5),
        "/nodes/0/config/rate_limit_per_second",
        "start",
    ),
    Case(
        "unexpected_webhook_setting",
        changed(["nodes", "start", "config"], {"kind": "webhook", "secret": "hook_key"}),
        "/nodes/0/config/secret",
        "start",
    ),
    Case(
        "invalid_document",
        changed(["nodes", "start", "config"], {"kind": "webhook", "rate_limit_per_second": 0}),
        "/nodes/0/config/rate_limit_per_second",
        "start",
    ),
    Case(
        "duplicate_node_id",
        mutate(lambda d: d["nodes"].append(dict(node(d, "done")))),
        "/nodes/6/id",
        "done",
    ),
    Case(
        "duplicate_edge_id",
        mutate(lambda d: d["edges"].append(edge("e5", "mail", "done"))),
        "/edges/5/id",
        None,
        "e5",
    ),
    Case(
        "dangling_edge",
        mutate(lambda d: d["edges"].append(edge("e6", "mail", "ghost"))),
        "/edges/5/target",
        None,
        "e6",
    ),
    Case(
        "unknown_outcome",
        changed(["edges", 2, "source_handle"], "maybe"),
        "/edges/2/source_handle",
        "adult",
        "e3",
    ),
    Case(
        "invalid_target_handle",
        changed(["edges", 4, "target_handle"], "back"),
        "/edges/4/target_handle",
        "done",
        "e5",
    ),
    Case(
        "end_has_outgoing",
        mutate(lambda d: d["edges"].append(edge("e6", "refuse", "done"))),
        "/edges/5",
        "refuse",
        "e6",
    ),
    Case(
        "unreachable_node",
        mutate(lambda d: d["nodes"].append(transform("orphan"))),
        "/nodes/6",
        "orphan",
    ),
    Case(
        "undeclared_cycle",
        mutate(lambda d: d["edges"].append(edge("e6", "mail", "fetch"))),
        "/edges/1",
        "adult",
        "e2",
    ),
    Case("loop_missing_body", for_each([], []), "/nodes/6", "each"),
    Case("loop_missing_back_edge", for_each([ITEM_STEP], loop_body()), "/nodes/6", "each"),
    Case(
        "back_edge_outside_body",
        for_each(
            [ITEM_STEP], [*loop_body(BACK), edge("b3", "fetch", "each", target_handle="back")]
        ),
        "/edges/8",
        "each",
        "b3",
    ),
    Case(
        "loop_body_entered_from_outside",
        for_each([ITEM_STEP], [*loop_body(BACK), edge("b3", "mail", "item_step")]),
        "/edges/8",
        "item_step",
        "b3",
    ),
    Case(
        "loop_missing_max_iterations",
        for_each(
            [ITEM_STEP.copy() | {"input": {"value": "iteration"}}],
            loop_body(BACK),
            {"id": "each", "type": "loop", "config": {"until": "`true`"}},
        ),
        "/nodes/6/config/max_iterations",
        "each",
    ),
    Case(
        "duplicate_case",
        with_nodes(
            {
                "id": "route",
                "type": "switch",
                "config": {"cases": [{"name": "default", "expression": "`true`"}]},
            },
            handle="default",
        ),
        "/nodes/6/config/cases/0/name",
        "route",
    ),
    Case(
        "invalid_delay",
        with_nodes({"id": "wait", "type": "delay", "config": {"seconds": 5, "until": "'2030'"}}),
        "/nodes/6/config",
        "wait",
    ),
    Case(
        "unknown_component",
        changed(["nodes", "mail", "component", "name"], "fax"),
        "/nodes/3/component/name",
        "mail",
    ),
    Case(
        "unknown_component_version",
        changed(["nodes", "fetch", "component", "version"], "9.9.9"),
        "/nodes/1/component/version",
        "fetch",
    ),
    Case(
        "component_type_mismatch",
        mutate(lambda d: node(d, "mail").update(type="agent")),
        "/nodes/3/component",
        "mail",
    ),
    Case(
        "invalid_config",
        changed(["nodes", "fetch", "config", "base_url"], 5),
        "/nodes/1/config/base_url",
        "fetch",
    ),
    Case(
        "invalid_json_schema",
        changed(["nodes", "start", "config", "input_schema"], {"type": "nope"}),
        "/nodes/0/config/input_schema/type",
        "start",
    ),
    Case(
        "invalid_variable_initial",
        changed(["variables", "attempts", "initial"], "x"),
        "/variables/attempts/initial",
    ),
    Case(
        "invalid_expression",
        condition("nodes.fetch.output.age >="),
        "/nodes/2/config/expression",
        "adult",
    ),
    Case("unknown_reference", condition("env.HOME == 'x'"), "/nodes/2/config/expression", "adult"),
    Case(
        "reference_out_of_scope", condition("item.age > `1`"), "/nodes/2/config/expression", "adult"
    ),
    Case(
        "unknown_node_reference",
        condition("nodes.ghost.output"),
        "/nodes/2/config/expression",
        "adult",
    ),
    Case(
        "invalid_node_reference",
        condition("nodes.fetch.result"),
        "/nodes/2/config/expression",
        "adult",
    ),
    Case(
        "reference_not_ancestor",
        changed(["nodes", "refuse", "config", "output"], "nodes.mail.output"),
        "/nodes/4/config/output",
        "refuse",
    ),
    Case(
        "unknown_output_field",
        condition("nodes.fetch.output.height > `1`"),
        "/nodes/2/config/expression",
        "adult",
    ),
    Case(
        "unknown_input_field",
        changed(["nodes", "fetch", "input", "user_id"], "input.uid"),
        "/nodes/1/input/user_id",
        "fetch",
    ),
    Case("unknown_variable", condition("vars.missing"), "/nodes/2/config/expression", "adult"),
    Case(
        "missing_required_input",
        changed(["nodes", "mail", "input"], {"to": "nodes.fetch.output.email"}),
        "/nodes/3/input",
        "mail",
    ),
    Case(
        "unknown_input_property",
        changed(["nodes", "mail", "input", "cc"], "'x'"),
        "/nodes/3/input/cc",
        "mail",
    ),
    Case(
        "incompatible_schemas",
        changed(["nodes", "mail", "input", "to"], "nodes.fetch.output.age"),
        "/nodes/3/input/to",
        "mail",
    ),
    Case("invalid_cron", changed(["schedules"], [{"cron": "61 * * * *"}]), "/schedules/0/cron"),
    Case(
        "invalid_timezone",
        changed(["schedules"], [{"cron": "0 9 * * 1-5", "timezone": "Mars/Olympus"}]),
        "/schedules/0/timezone",
    ),
    Case(
        "name_collision",
        mutate(
            lambda d: d.update(
                work_queues=[{"name": "orders"}],
                signals=[{"name": "approve"}, {"name": "orders_add"}],
            )
        ),
        "/signals/1/name",
    ),
    Case(
        "undeclared_signal",
        with_nodes({"id": "hold", "type": "wait_for_signal", "config": {"signal": "cancel"}}),
        "/nodes/6/config/signal",
        "hold",
    ),
    Case(
        "unknown_work_queue",
        with_nodes(
            {"id": "pull", "type": "work_queue", "config": {"queue": "jobs", "operation": "take"}}
        ),
        "/nodes/6/config/queue",
        "pull",
    ),
    Case(
        "unknown_child_workflow",
        mutate(
            lambda d: splice(
                d, {"id": "bill", "type": "child_workflow", "config": {"workflow": "billing"}}
            ).update(child_workflows=[{"workflow": "billing"}])
        ),
        "/nodes/6/config/workflow",
        "bill",
        context=ValidationContext(known_workflows=frozenset({"shipping"})),
    ),
]

WARNINGS = [
    Case(
        "deprecated_component",
        with_nodes({"id": "legacy", "type": "activity", "component": {"name": "old_fetch"}}),
        "/nodes/6/component",
        "legacy",
    ),
    Case(
        "undeclared_child_workflow",
        with_nodes({"id": "bill", "type": "child_workflow", "config": {"workflow": "billing"}}),
        "/nodes/6/config/workflow",
        "bill",
    ),
    Case(
        "condition_outcome_unwired",
        mutate(lambda d: (d["edges"].pop(3), d["nodes"].pop(4))),
        "/nodes/2",
        "adult",
    ),
    Case(
        "switch_case_unwired",
        with_nodes(
            {
                "id": "route",
                "type": "switch",
                "config": {"cases": [{"name": "vip", "expression": "`false`"}]},
            },
            handle="default",
        ),
        "/nodes/6",
        "route",
    ),
    Case(
        "no_end_node",
        mutate(lambda d: d.update(nodes=d["nodes"][:4], edges=d["edges"][:3])),
        "/nodes",
    ),
]


def _ids(cases: list[Case]) -> list[str]:
    return [f"{c.code}-{c.pointer}" for c in cases]


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_broken_definition_reports_its_code_at_its_location(case: Case) -> None:
    result = validate(case.build(), catalog(), case.context)

    located = [(p.code, p.pointer, p.node_id, p.edge_id) for p in result.errors]
    assert (case.code, case.pointer, case.node_id, case.edge_id) in located
    assert {p.code for p in result.errors} == {case.code}, located
    assert all(p.message for p in result.errors)


@pytest.mark.parametrize("case", WARNINGS, ids=_ids(WARNINGS))
def test_questionable_definition_warns_but_stays_valid(case: Case) -> None:
    result = validate(case.build(), catalog(), case.context)

    assert result.ok, result.errors
    located = [(p.code, p.pointer, p.node_id, p.edge_id) for p in result.warnings]
    assert (case.code, case.pointer, case.node_id, case.edge_id) in located


def test_corpus_covers_every_code() -> None:
    covered = {c.code for c in CASES} | {c.code for c in WARNINGS}

    assert covered == set(CODES)


def test_all_problems_are_reported_at_once() -> None:
    definition = base()
    node(definition, "adult")["config"]["expression"] = "nodes.fetch.output.height"
    node(definition, "mail")["component"]["name"] = "fax"
    definition["edges"].append(edge("e6", "mail", "ghost"))

    result = validate(definition, catalog())

    assert {p.code for p in result.errors} == {
        "unknown_output_field",
        "unknown_component",
        "dangling_edge",
    }


def test_a_component_with_an_invalid_config_schema_is_reported_on_the_node() -> None:
    broken = catalog()
    broken.add(
        component_from_dict({"name": "odd", "version": "1.0.0", "config_schema": {"type": 5}})
    )
    definition = base()
    node(definition, "mail")["component"] = {"name": "odd"}
    del node(definition, "mail")["input"]
    node(definition, "done")["config"]["output"] = "nodes.mail.output"

    result = validate(definition, broken)

    assert [(p.code, p.pointer) for p in result.errors] == [
        ("invalid_json_schema", "/nodes/3/component")
    ]
