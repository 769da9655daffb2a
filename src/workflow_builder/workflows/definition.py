"""The nodes and edges of a definition, as the workflow_nodes and workflow_edges rows need them.

Only the shape the rows depend on is checked here (ids, types, references between nodes and
edges); the full definition format and its validation belong to `workflow_builder.compiler`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from workflow_builder.api.errors import ProblemFieldError, field_error, validation_problem
from workflow_builder.compiler.schemas import schema_issues

MAX_NODES = 2000
# Declarations that carry a JSON Schema: (list in the definition, the schema's field).
SCHEMA_DECLARATIONS = (
    ("signals", "parameters"),
    ("queries", "return_type"),
    ("work_queues", "work_item_schema"),
)
MAX_EDGES = 5000
_EDGE_KEYS = {"id", "source", "target", "label"}


@dataclass(frozen=True)
class NodeSpec:
    """A node as its row stores it."""

    node_id: str
    node_type: str
    component_name: str | None
    component_version: str | None
    config: dict[str, Any]
    position: dict[str, Any] | None
    index: int


@dataclass(frozen=True)
class EdgeSpec:
    """An edge as its row stores it (handles and other extras go in `config`)."""

    edge_id: str
    source: str
    target: str
    label: str | None
    config: dict[str, Any]


@dataclass
class _Errors:
    items: list[ProblemFieldError] = field(default_factory=list)

    def add(self, *path: str | int, message: str) -> None:
        self.items.append(field_error(["body", "definition", *path], message))


def _identifier(value: Any, errors: _Errors, *path: str | int, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.add(*path, message="must be a non-empty string")
        return None
    if len(value) > limit:
        errors.add(*path, message=f"must be at most {limit} characters")
        return None
    return value


def _object(value: Any, errors: _Errors, *path: str | int) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add(*path, message="must be an object")
        return None
    return value


def _node(raw: Any, index: int, errors: _Errors) -> NodeSpec | None:
    if not isinstance(raw, dict):
        errors.add("nodes", index, message="must be an object")
        return None
    node_id = _identifier(raw.get("id"), errors, "nodes", index, "id", limit=255)
    node_type = _identifier(raw.get("type"), errors, "nodes", index, "type", limit=50)
    config = _object(raw.get("config"), errors, "nodes", index, "config")
    position = _object(raw.get("position"), errors, "nodes", index, "position")
    component = _object(raw.get("component"), errors, "nodes", index, "component")
    name = version = None
    if component is not None:
        name = _identifier(
            component.get("name"), errors, "nodes", index, "component", "name", limit=255
        )
        if component.get("version") is not None:
            version = _identifier(
                component.get("version"), errors, "nodes", index, "component", "version", limit=50
            )
    if node_id is None or node_type is None:
        return None
    return NodeSpec(node_id, node_type, name, version, config or {}, position, index)


def _edge(raw: Any, index: int, errors: _Errors) -> EdgeSpec | None:
    if not isinstance(raw, dict):
        errors.add("edges", index, message="must be an object")
        return None
    edge_id = _identifier(raw.get("id"), errors, "edges", index, "id", limit=255)
    source = _identifier(raw.get("source"), errors, "edges", index, "source", limit=255)
    target = _identifier(raw.get("target"), errors, "edges", index, "target", limit=255)
    label = raw.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 255):
        errors.add("edges", index, "label", message="must be a string of at most 255 characters")
        label = None
    if edge_id is None or source is None or target is None:
        return None
    extras = {key: value for key, value in raw.items() if key not in _EDGE_KEYS}
    config = extras.pop("config", None)
    merged = {**(config if isinstance(config, dict) else {}), **extras}
    return EdgeSpec(edge_id, source, target, label, merged)


def _items(definition: dict[str, Any], key: str, limit: int, errors: _Errors) -> list[Any]:
    value = definition.get(key, [])
    if not isinstance(value, list):
        errors.add(key, message="must be an array")
        return []
    if len(value) > limit:
        errors.add(key, message=f"at most {limit} are allowed")
        return []
    return value


def _declared_schemas(definition: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Yield (path, value) of every place the definition declares a JSON Schema."""
    for index, node in enumerate(_list(definition.get("nodes"))):
        if isinstance(node, dict) and node.get("type") == "trigger":
            config = node.get("config")
            if isinstance(config, dict) and "input_schema" in config:
                yield ("nodes", index, "config", "input_schema"), config["input_schema"]
    for key, name in SCHEMA_DECLARATIONS:
        for index, item in enumerate(_list(definition.get(key))):
            if isinstance(item, dict) and item.get(name) is not None:
                yield (key, index, name), item[name]
    variables = definition.get("variables")
    for name, variable in variables.items() if isinstance(variables, dict) else ():
        if isinstance(variable, dict) and variable.get("schema") is not None:
            yield ("variables", name, "schema"), variable["schema"]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _check_schemas(definition: dict[str, Any], errors: _Errors) -> None:
    """Refuse what would make a declared schema unsafe to evaluate: references that resolve
    nowhere (nothing is fetched), patterns RE2 cannot run, excessive nesting. Whether each is
    otherwise valid JSON Schema is the compiler's to report, so a draft still saves."""
    for path, schema in _declared_schemas(definition):
        for issue in schema_issues(schema, meta=False):
            errors.add(*path, *issue.path, message=issue.message)


def extract(definition: dict[str, Any]) -> tuple[list[NodeSpec], list[EdgeSpec]]:
    """Return the definition's nodes and edges, or raise a 422 listing every shape error and
    every declared schema that cannot be evaluated safely."""
    errors = _Errors()
    _check_schemas(definition, errors)
    nodes = [
        spec
        for index, raw in enumerate(_items(definition, "nodes", MAX_NODES, errors))
        if (spec := _node(raw, index, errors)) is not None
    ]
    edges_raw = _items(definition, "edges", MAX_EDGES, errors)
    seen: set[str] = set()
    for node in nodes:
        if node.node_id in seen:
            errors.add("nodes", node.index, "id", message=f"duplicate node id {node.node_id!r}")
        seen.add(node.node_id)
    edges: list[EdgeSpec] = []
    edge_ids: set[str] = set()
    for index, raw in enumerate(edges_raw):
        edge = _edge(raw, index, errors)
        if edge is None:
            continue
        if edge.edge_id in edge_ids:
            errors.add("edges", index, "id", message=f"duplicate edge id {edge.edge_id!r}")
        edge_ids.add(edge.edge_id)
        for end in ("source", "target"):
            node_id = getattr(edge, end)
            if node_id not in seen:
                errors.add("edges", index, end, message=f"no node has the id {node_id!r}")
        edges.append(edge)
    if errors.items:
        raise validation_problem(errors.items)
    return nodes, edges
