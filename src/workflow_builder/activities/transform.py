"""`transform`: reshape data with expressions, no side effects.

The runtime evaluates a node's `input` map before any call (JMESPath, the same language the
compiler checks), so this implementation only hands back what it was given: `config.output`
when the node sets one (a static value: config holds no expressions), otherwise the node's
evaluated `input` map, e.g. `"input": {"total": "sum(nodes.cart.output.items[].price)"}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow_builder.activities.contract import ActivityContext, ComponentSpec

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "output": {
            "description": "A static value to return. "
            "Omit it to return the node's evaluated input map."
        }
    },
    "additionalProperties": False,
}

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "description": "Whatever the node's input map produces.",
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "description": "config.output if set, else the input object.",
}

SPEC = ComponentSpec(
    name="transform",
    display_name="Transform",
    description="Build a value from earlier nodes' outputs with expressions.",
    component_type="activity",
    implementation_path="workflow_builder.activities.transform:run",
    config_schema=CONFIG_SCHEMA,
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    tags=("data", "core"),
    capabilities=("pure",),
)


def run(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Return `config.output` if the node sets it, else the input object."""
    if "output" in config:
        return config["output"]
    return dict(inputs)
