"""`query_parent`: read a query of the run that started this one (see `parent`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow_builder.activities.contract import ActivityContext, ComponentSpec
from workflow_builder.activities.parent import NAME_SCHEMA, parent_of, runs

SPEC = ComponentSpec(
    name="query_parent",
    display_name="Query parent",
    description="Read a query of the run that started this one (when its workflow allows it).",
    component_type="activity",
    implementation_path="workflow_builder.activities.query_parent:run",
    config_schema={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"query": {**NAME_SCHEMA, "description": "The parent's query to read."}},
        "required": ["query"],
        "additionalProperties": False,
    },
    input_schema={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
    },
    output_schema={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"parent_execution_id": {"type": "string"}, "result": {}},
        "required": ["parent_execution_id", "result"],
    },
    tags=("core", "child-workflows"),
    capabilities=("query",),
)


def run(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Return the parent run's answer to `config.query`."""
    parent_id, owner = parent_of(context, "can_query_parent")
    result = runs(context).query(str(parent_id), str(owner), config["query"])
    return {"parent_execution_id": str(parent_id), "result": result}
