"""Definitions and a component catalog the compiler tests share."""

from __future__ import annotations

import copy
from typing import Any

from workflow_builder.compiler import InMemoryCatalog, builtin_components
from workflow_builder.compiler.catalog import component_from_dict

Definition = dict[str, Any]

_STRING = {"type": "string"}
_COMPONENTS: list[dict[str, Any]] = [
    {
        "name": "fetch_user",
        "version": version,
        "type": "activity",
        "implementation_path": "tests.activities:fetch_user",
        "package": "users-client>=1.0",
        "config_schema": {
            "type": "object",
            "properties": {
                "base_url": _STRING,
                "timeout_seconds": {"type": "integer", "default": 10},
            },
            "required": ["base_url"],
            "additionalProperties": False,
        },
        "input_schema": {
            "type": "object",
            "properties": {"user_id": _STRING},
            "required": ["user_id"],
        },
        "output_schema": {
            "type": "object",
            "properties": {"name": _STRING, "email": _STRING, "age": {"type": "integer"}},
            "required": ["name", "email"],
            "additionalProperties": False,
        },
    }
    for version in ("1.0.0", "1.2.0")
] + [
    {
        "name": "send_email",
        "version": "1.0.0",
        "type": "activity",
        "implementation_path": "tests.activities:send_email",
        "input_schema": {
            "type": "object",
            "properties": {"to": _STRING, "subject": _STRING, "body": _STRING},
            "required": ["to", "subject"],
            "additionalProperties": False,
        },
        "output_schema": {
            "type": "object",
            "properties": {"message_id": _STRING},
            "additionalProperties": False,
        },
    },
    {
        "name": "summarize",
        "version": "1.0.0",
        "type": "agent",
        "implementation_path": "tests.agents:summarize",
        "input_schema": {
            "type": "object",
            "properties": {"text": _STRING},
            "required": ["text"],
        },
        "output_schema": {
            "type": "object",
            "properties": {"summary": _STRING},
            "additionalProperties": False,
        },
    },
    {
        "name": "old_fetch",
        "version": "0.9.0",
        "type": "activity",
        "deprecated": True,
        "implementation_path": "tests.activities:old_fetch",
    },
]


def catalog() -> InMemoryCatalog:
    """Return the built-in components plus the test ones."""
    return InMemoryCatalog([*builtin_components(), *map(component_from_dict, _COMPONENTS)])


def edge(
    edge_id: str,
    source: str,
    target: str,
    handle: str | None = None,
    target_handle: str | None = None,
) -> dict[str, Any]:
    """Return an edge dict."""
    found: dict[str, Any] = {"id": edge_id, "source": source, "target": target}
    if handle is not None:
        found["source_handle"] = handle
    if target_handle is not None:
        found["target_handle"] = target_handle
    return found


def transform(node_id: str, **input_map: str) -> dict[str, Any]:
    """Return a transform activity node mapping the given input fields."""
    return {
        "id": node_id,
        "type": "activity",
        "component": {"name": "transform", "version": "1.0.0"},
        "input": input_map,
    }


def base() -> Definition:
    """Return a small valid workflow.

    start -> fetch -> adult --true--> mail -> done
                            --false-> refuse
    Node indexes: start 0, fetch 1, adult 2, mail 3, refuse 4, done 5; edges e1..e5 at 0..4.
    """
    return copy.deepcopy(_BASE)


_BASE: Definition = {
    "format_version": 1,
    "variables": {"attempts": {"initial": 0, "schema": {"type": "integer"}}},
    "signals": [{"name": "approve"}],
    "nodes": [
        {
            "id": "start",
            "type": "trigger",
            "position": {"x": 0, "y": 0},
            "config": {
                "kind": "manual",
                "input_schema": {
                    "type": "object",
                    "properties": {"user_id": _STRING, "items": {"type": "array"}},
                    "required": ["user_id"],
                    "additionalProperties": False,
                },
            },
        },
        {
            "id": "fetch",
            "type": "activity",
            "label": "Fetch the user",
            "position": {"x": 200, "y": 0},
            "component": {"name": "fetch_user", "version": "1.0.0"},
            "config": {"base_url": "https://users.example"},
            "input": {"user_id": "input.user_id"},
        },
        {
            "id": "adult",
            "type": "condition",
            "config": {"expression": "nodes.fetch.output.age >= `18`"},
        },
        {
            "id": "mail",
            "type": "activity",
            "component": {"name": "send_email"},
            "input": {"to": "nodes.fetch.output.email", "subject": "'Welcome'"},
        },
        {
            "id": "refuse",
            "type": "end",
            "config": {"status": "failed", "output": "nodes.fetch.output.name"},
        },
        {"id": "done", "type": "end", "config": {"output": "nodes.mail.output"}},
    ],
    "edges": [
        edge("e1", "start", "fetch"),
        edge("e2", "fetch", "adult"),
        edge("e3", "adult", "mail", "true"),
        edge("e4", "adult", "refuse", "false"),
        edge("e5", "mail", "done"),
    ],
}


def splice(definition: Definition, node: dict[str, Any], after: str = "mail") -> Definition:
    """Insert a node between `after` and its successors; return the definition."""
    definition["nodes"].append(node)
    for existing in definition["edges"]:
        if existing["source"] == after:
            existing["source"] = node["id"]
    definition["edges"].append(edge(f"to_{node['id']}", after, node["id"]))
    return definition


def node(definition: Definition, node_id: str) -> dict[str, Any]:
    """Return the node dict with that id."""
    return next(n for n in definition["nodes"] if n["id"] == node_id)
