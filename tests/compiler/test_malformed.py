"""Malformed documents: schema errors are located, and other problems still reported."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.compiler.support import base, catalog, edge, node
from tests.compiler.test_compile import every_node_type
from workflow_builder.compiler import validate


def located(definition: Any) -> set[tuple[str, str]]:
    """Return the (code, pointer) of every error."""
    return {(p.code, p.pointer) for p in validate(definition, catalog()).errors}


def test_a_malformed_node_does_not_hide_other_problems() -> None:
    definition = base()
    node(definition, "adult")["config"] = {}
    node(definition, "mail")["component"]["name"] = "fax"

    assert located(definition) == {
        ("invalid_document", "/nodes/2/config/expression"),
        ("unknown_component", "/nodes/3/component/name"),
    }


def test_a_malformed_edge_does_not_hide_other_problems() -> None:
    definition = base()
    definition["edges"][2]["source_handle"] = 5
    definition["edges"].append(edge("e6", "mail", "ghost"))

    assert located(definition) == {
        ("invalid_document", "/edges/2/source_handle"),
        ("dangling_edge", "/edges/5/target"),
    }


def test_handles_of_a_malformed_switch_are_not_second_guessed() -> None:
    definition = every_node_type()
    node(definition, "route")["config"] = {"cases": "big"}

    assert located(definition) == {("invalid_document", "/nodes/1/config/cases")}


def test_a_malformed_loop_keeps_its_body_and_back_edge() -> None:
    definition = every_node_type()
    del node(definition, "each")["config"]["items"]

    assert located(definition) == {("invalid_document", "/nodes/3/config/items")}


def test_malformed_declarations_stop_at_schema_errors() -> None:
    definition = base()
    definition["settings"] = {"timeout_seconds": "soon"}
    node(definition, "mail")["component"]["name"] = "fax"

    assert located(definition) == {("invalid_document", "/settings/timeout_seconds")}


JUNK = st.one_of(
    st.none(), st.integers(), st.text(max_size=4), st.lists(st.integers(), max_size=2), st.just({})
)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_corrupting_any_field_never_crashes_validation(data: st.DataObject) -> None:
    definition = data.draw(st.sampled_from([base, every_node_type]))()
    kind = data.draw(st.sampled_from(["nodes", "edges"]))
    item = data.draw(st.sampled_from(definition[kind]))
    key = data.draw(st.sampled_from([*item, "config", "type", "id"]))
    item[key] = data.draw(JUNK)

    result = validate(definition, catalog())

    assert all(p.pointer.startswith("/") or p.pointer == "" for p in result.errors)


def test_non_ascii_digits_in_locations_are_sorted_as_text() -> None:
    result = validate({"nodes": [], "²": 1, "10": 2}, catalog())

    assert {p.pointer for p in result.errors} >= {"/²", "/10"}
