"""A stand-in for a third-party package declaring components through entry points."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow_builder.activities.contract import ActivityContext, ComponentSpec

_OBJECT = {"type": "object"}


def shout(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Return the input text in capitals."""
    return {"text": str(inputs.get("text", "")).upper()}


SHOUT = ComponentSpec(
    name="acme.shout",
    display_name="Shout",
    description="Upper-cases text.",
    component_type="activity",
    implementation_path="tests.activities.third_party:shout",
    config_schema=_OBJECT,
    input_schema=_OBJECT,
    output_schema=_OBJECT,
    tags=("acme",),
)
WHISPER = ComponentSpec(
    name="acme.whisper",
    display_name="Whisper",
    description="Declared but not implemented.",
    component_type="activity",
    implementation_path="tests.activities.third_party:missing_function",
    config_schema=_OBJECT,
    input_schema=_OBJECT,
    output_schema=_OBJECT,
)
BROKEN = ComponentSpec(
    name="acme.broken",
    display_name="Broken",
    description="Its config schema is not a JSON Schema.",
    component_type="activity",
    implementation_path="tests.activities.third_party:shout",
    config_schema={"type": 12},
    input_schema=_OBJECT,
    output_schema=_OBJECT,
)


def all_specs() -> list[ComponentSpec]:
    """What an entry point naming a function gives."""
    return [SHOUT, WHISPER]
