"""`signal_parent`: send a signal to the run that started this one (see `parent`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow_builder.activities.contract import ActivityContext, ComponentSpec
from workflow_builder.activities.parent import NAME_SCHEMA, parent_of, runs

SPEC = ComponentSpec(
    name="signal_parent",
    display_name="Signal parent",
    description="Send a signal to the run that started this one (when its workflow allows it).",
    component_type="activity",
    implementation_path="workflow_builder.activities.signal_parent:run",
    config_schema={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"signal": {**NAME_SCHEMA, "description": "The parent's signal to send."}},
        "required": ["signal"],
        "additionalProperties": False,
    },
    input_schema={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"payload": {"description": "The signal's payload."}},
        "additionalProperties": False,
    },
    output_schema={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"parent_execution_id": {"type": "string"}, "signal": {"type": "string"}},
        "required": ["parent_execution_id", "signal"],
    },
    tags=("core", "child-workflows"),
    capabilities=("signal",),
)


def run(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Send `config.signal` with `inputs.payload` to the parent run."""
    parent_id, owner = parent_of(context, "can_signal_parent")
    runs(context).signal(str(parent_id), str(owner), config["signal"], inputs.get("payload"))
    return {"parent_execution_id": str(parent_id), "signal": config["signal"]}
