"""Property tests over random graphs: no crashes, determinism, valid means compilable."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.compiler.support import Definition, catalog, edge
from workflow_builder.compiler import CompilationError, compile_definition, validate

CATALOG = catalog()
HANDLES = {
    "condition": ["true", "false"],
    "switch": ["a", "default"],
    "wait_for_signal": ["received", "timed_out"],
    "for_each": ["done"],
    "loop": ["done"],
}
BROKEN_EXPRESSIONS = ["nodes..x", "input.", "nodes.ghost.output", "vars.nope", "item", "a ^ b"]
SIMPLE_TYPES = (
    "activity",
    "condition",
    "switch",
    "join",
    "end",
    "delay",
    "set_variable",
    "wait_for_signal",
)
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _expression(draw: st.DrawFn, ancestor: str) -> str:
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.sampled_from(BROKEN_EXPRESSIONS))
    if choice < 4:
        return "input.user_id"
    return f"nodes.{ancestor}.output"


def _simple_node(draw: st.DrawFn, node_id: str, ancestor: str) -> dict[str, Any]:
    kind = draw(st.sampled_from([*SIMPLE_TYPES]))
    if kind == "activity":
        return {
            "id": node_id,
            "type": "activity",
            "component": {"name": "transform"},
            "input": {"value": _expression(draw, ancestor)},
        }
    if kind == "condition":
        return {
            "id": node_id,
            "type": "condition",
            "config": {"expression": _expression(draw, ancestor)},
        }
    if kind == "switch":
        case = {"name": "a", "expression": _expression(draw, ancestor)}
        return {"id": node_id, "type": "switch", "config": {"cases": [case]}}
    if kind == "wait_for_signal":
        return {"id": node_id, "type": "wait_for_signal", "config": {"signal": "go"}}
    if kind == "delay":
        return {"id": node_id, "type": "delay", "config": {"seconds": draw(st.integers(0, 9))}}
    if kind == "set_variable":
        value = _expression(draw, ancestor)
        return {"id": node_id, "type": "set_variable", "config": {"variable": "v", "value": value}}
    return {"id": node_id, "type": kind}


@st.composite
def definitions(draw: st.DrawFn) -> Definition:
    """Return a random workflow: mostly well formed, sometimes broken in one of many ways."""
    nodes: list[dict[str, Any]] = [
        {
            "id": "n0",
            "type": "trigger",
            "config": {"input_schema": {"type": "object", "properties": {"user_id": {}}}},
        }
    ]
    edges: list[dict[str, Any]] = []
    sources = ["n0"]
    for index in range(1, draw(st.integers(1, 18))):
        node_id = f"n{index}"
        parents = draw(st.lists(st.sampled_from(sources), min_size=1, max_size=2, unique=True))
        if draw(st.integers(0, 5)) == 0:
            kind = draw(st.sampled_from(["for_each", "loop"]))
            config: dict[str, Any] = {"items": "input.user_id"}
            if kind == "loop":
                config = {"until": "iteration > `2`", "max_iterations": 3}
            nodes.append({"id": node_id, "type": kind, "config": config})
            body = f"{node_id}b"
            nodes.append(
                {"id": body, "type": "activity", "component": {"name": "transform"}, "input": {}}
            )
            edges.append(edge(f"{node_id}-body", node_id, body, "body"))
            edges.append(edge(f"{node_id}-back", body, node_id, target_handle="back"))
        else:
            nodes.append(_simple_node(draw, node_id, parents[0]))
        for parent in parents:
            parent_type = next(n["type"] for n in nodes if n["id"] == parent)
            handle = draw(st.sampled_from(HANDLES.get(parent_type, [None])))
            edges.append(edge(f"{parent}-{node_id}", parent, node_id, handle))
        if nodes[-1]["type"] != "end" and not nodes[-1]["id"].endswith("b"):
            sources.append(node_id)
        if nodes[-1]["type"] in ("for_each", "loop"):
            sources.append(node_id)
    for _ in range(draw(st.integers(0, 2))):
        source = draw(st.sampled_from([n["id"] for n in nodes] + ["ghost"]))
        target = draw(st.sampled_from([n["id"] for n in nodes]))
        edges.append(edge(f"extra-{len(edges)}", source, target))
    return {
        "format_version": 1,
        "nodes": nodes,
        "edges": edges,
        "variables": {"v": {"initial": None}},
        "signals": [{"name": "go"}],
    }


def _shuffled(definition: Definition, seed: int) -> Definition:
    moved = copy.deepcopy(definition)
    shuffler = random.Random(seed)
    shuffler.shuffle(moved["nodes"])
    shuffler.shuffle(moved["edges"])
    for found in moved["nodes"]:
        found["position"] = {"x": shuffler.randint(-500, 500), "y": shuffler.randint(-500, 500)}
        found["label"] = "moved"
    return moved


@PROPERTY_SETTINGS
@given(definitions())
def test_validation_never_crashes_and_valid_graphs_compile(definition: Definition) -> None:
    result = validate(definition, CATALOG)

    if result.ok:
        plan = compile_definition(definition, CATALOG)
        assert {n["id"] for n in plan.data["nodes"]} == {n["id"] for n in definition["nodes"]}
    else:
        try:
            compile_definition(definition, CATALOG)
        except CompilationError as exc:
            assert exc.result.errors == result.errors
        else:
            raise AssertionError("an invalid definition compiled")


@PROPERTY_SETTINGS
@given(definitions(), st.integers(0, 1000))
def test_compilation_is_deterministic_and_layout_blind(definition: Definition, seed: int) -> None:
    result = validate(definition, CATALOG)
    moved = _shuffled(definition, seed)

    assert validate(moved, CATALOG).ok == result.ok
    if result.ok:
        first = compile_definition(definition, CATALOG)
        assert compile_definition(definition, CATALOG).content_hash == first.content_hash
        assert compile_definition(moved, CATALOG).content_hash == first.content_hash


@PROPERTY_SETTINGS
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=10,
    )
)
def test_arbitrary_json_is_rejected_not_crashed_on(document: Any) -> None:
    result = validate({"nodes": document} if isinstance(document, list) else document, CATALOG)

    assert isinstance(result.ok, bool)
