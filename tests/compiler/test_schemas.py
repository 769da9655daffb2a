"""Schema helpers: when a field is known to be absent, and when two schemas cannot match."""

from __future__ import annotations

from workflow_builder.compiler.schemas import MISSING, incompatibilities, lookup

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "address": {"type": "object"}},
    "required": ["name"],
}


def test_declared_properties_are_found() -> None:
    assert lookup(PERSON, ["name"]) == {"type": "string"}


def test_a_field_outside_the_declared_properties_is_missing() -> None:
    assert lookup(PERSON, ["age"]) == MISSING


def test_open_or_composite_schemas_say_nothing() -> None:
    assert lookup({**PERSON, "additionalProperties": True}, ["age"]) is None
    assert lookup({**PERSON, "patternProperties": {"^x-": {}}}, ["x-age"]) is None
    assert lookup({**PERSON, "allOf": [{"properties": {"age": {}}}]}, ["age"]) is None
    assert lookup({"type": "object"}, ["age"]) is None
    assert lookup(PERSON, ["address", "city"]) is None


def test_additional_properties_schema_applies_to_other_fields() -> None:
    assert lookup({"type": "object", "additionalProperties": {"type": "integer"}}, ["n"]) == {
        "type": "integer"
    }


def test_disjoint_types_are_incompatible() -> None:
    assert incompatibilities({"type": "integer"}, {"type": "string"}) == [
        "value is integer but string is expected"
    ]
    assert incompatibilities({"type": "integer"}, {"type": "number"}) == []


def test_a_required_property_must_exist_in_the_source() -> None:
    source = {"type": "object", "properties": {"title": {"type": "string"}}}

    assert incompatibilities(source, PERSON) == [
        "required property 'name' is not in the source schema"
    ]
    assert incompatibilities({"type": "object"}, PERSON) == []
