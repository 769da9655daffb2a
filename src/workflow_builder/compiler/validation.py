"""Validation: every check a definition must pass, collected in one pass."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

from pydantic import ValidationError

from workflow_builder.compiler.analysis import Analysis, ValidationContext
from workflow_builder.compiler.catalog import ComponentCatalog
from workflow_builder.compiler.checks import check_declarations, check_node, check_warnings
from workflow_builder.compiler.definition import (
    NODE_MODELS,
    NODE_TYPES,
    Edge,
    Node,
    WorkflowDefinition,
)
from workflow_builder.compiler.problems import Problems, ValidationResult, pointer
from workflow_builder.compiler.references import (
    check_call_inputs,
    check_node_expressions,
    check_queries,
)
from workflow_builder.compiler.structure import (
    analyze_graph,
    check_edges,
    index_nodes,
)


def validate(
    definition: Mapping[str, Any] | str | bytes | WorkflowDefinition,
    catalog: ComponentCatalog,
    context: ValidationContext | None = None,
) -> ValidationResult:
    """Return every problem of a definition, errors and warnings apart."""
    return analyze(definition, catalog, context).problems.result()


def analyze(
    definition: Mapping[str, Any] | str | bytes | WorkflowDefinition,
    catalog: ComponentCatalog,
    context: ValidationContext | None = None,
) -> Analysis:
    """Return the analysis of a definition: its problems and the facts the plan needs."""
    with paused_gc():
        return _analyze(definition, catalog, context)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a block (re-enabling it only if it was on).

    Analysis allocates many small acyclic objects; with the collector on, its full passes over
    them made 10,000-node workflows take twice as long. Reference counting still frees them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _analyze(
    definition: Mapping[str, Any] | str | bytes | WorkflowDefinition,
    catalog: ComponentCatalog,
    context: ValidationContext | None,
) -> Analysis:
    analysis = Analysis(Problems())
    parsed = _parse(definition, analysis)
    if parsed is None:
        return analysis
    analysis.definition = parsed
    index_nodes(analysis, parsed)
    edges = check_edges(analysis, parsed)
    analyze_graph(analysis, parsed, edges)
    check_declarations(analysis, parsed)
    well_formed = [n for n in analysis.nodes.values() if n.id not in analysis.opaque_nodes]
    for node in well_formed:
        check_node(analysis, parsed, node, catalog, context or ValidationContext())
    for node in well_formed:
        check_node_expressions(analysis, parsed, node.id, node)
    check_queries(analysis, parsed)
    check_call_inputs(analysis)
    check_warnings(analysis, parsed)
    return analysis


# -- parsing ---------------------------------------------------------------------------------


def _parse(
    definition: Mapping[str, Any] | str | bytes | WorkflowDefinition, analysis: Analysis
) -> WorkflowDefinition | None:
    """Return the definition model (salvaged when only some nodes or edges are malformed).

    Returns None, after recording why, when the document cannot be checked further.
    """
    problems = analysis.problems
    if isinstance(definition, WorkflowDefinition):
        return definition
    if isinstance(definition, str | bytes):
        try:
            definition = json.loads(definition)
        except ValueError as exc:
            problems.error("invalid_json", f"The document is not JSON: {exc}", "")
            return None
    try:
        return WorkflowDefinition.model_validate(definition)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            location = _pointer_from_location(error["loc"])
            node_id = _node_id_at(definition, error["loc"])
            problems.error("invalid_document", _schema_message(error), location, node_id=node_id)
        return _salvage(definition, exc, analysis)


def _salvage(
    document: Any, error: ValidationError, analysis: Analysis
) -> WorkflowDefinition | None:
    """Return the definition with malformed nodes and edges replaced by opaque stand-ins.

    The stand-ins keep ids, types and positions in the lists, so graph and expression checks
    still run and report everything else at once; checks of the malformed items themselves are
    skipped (their schema errors are already recorded). Returns None when anything other than
    individual nodes or edges is malformed.
    """
    locations = [e["loc"] for e in error.errors()]
    if not isinstance(document, Mapping) or any(
        len(loc) < 2 or loc[0] not in ("nodes", "edges") or not isinstance(loc[1], int)
        for loc in locations
    ):
        return None
    bad = {(str(loc[0]), int(loc[1])) for loc in locations}
    nodes, edges = document["nodes"], document.get("edges", [])
    try:
        valid = WorkflowDefinition.model_validate(
            {
                **document,
                "nodes": [n for i, n in enumerate(nodes) if ("nodes", i) not in bad],
                "edges": [e for i, e in enumerate(edges) if ("edges", i) not in bad],
            }
        )
    except ValidationError:
        return None
    merged_nodes = _merge(
        valid.nodes, nodes, {i for kind, i in bad if kind == "nodes"}, _stand_in_node
    )
    merged_edges = _merge(
        valid.edges, edges, {i for kind, i in bad if kind == "edges"}, _stand_in_edge
    )
    if merged_nodes is None or merged_edges is None:
        return None
    analysis.opaque_nodes = {n.id for i, n in enumerate(merged_nodes) if ("nodes", i) in bad}
    analysis.opaque_edges = {e.id for i, e in enumerate(merged_edges) if ("edges", i) in bad}
    return valid.model_copy(update={"nodes": merged_nodes, "edges": merged_edges})


def _merge(valid: list[Any], raw: list[Any], bad: set[int], stand_in: Any) -> list[Any] | None:
    """Return the valid items with a stand-in at each bad index, or None if one is impossible."""
    merged: list[Any] = []
    remaining = iter(valid)
    for index, item in enumerate(raw):
        replacement = stand_in(item) if index in bad else next(remaining)
        if replacement is None:
            return None
        merged.append(replacement)
    return merged


def _stand_in_node(raw: Any) -> Node | None:
    """Return a stand-in of a malformed node that has a string id, else None."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
        return None
    node_type = str(raw.get("type"))
    if node_type not in NODE_MODELS:
        node_type = "join"
    # Only id and type are read from a stand-in; its other fields may be missing.
    return cast(Node, NODE_MODELS[node_type].model_construct(id=raw["id"], type=node_type))


def _stand_in_edge(raw: Any) -> Edge | None:
    """Return a stand-in of a malformed edge whose id, source and target are strings."""
    if not isinstance(raw, Mapping):
        return None
    values: dict[str, Any] = {k: raw.get(k) for k in ("id", "source", "target")}
    if not all(isinstance(v, str) for v in values.values()):
        return None
    for handle in ("source_handle", "target_handle"):
        if isinstance(raw.get(handle), str):
            values[handle] = raw[handle]
    return Edge.model_construct(None, **values)


def _pointer_from_location(location: tuple[int | str, ...]) -> str:
    """Return a JSON pointer from a Pydantic error location, dropping union tags it inserts."""
    parts: list[int | str] = []
    for i, part in enumerate(location):
        is_node_tag = i == 2 and location[0] == "nodes" and part in NODE_TYPES
        if is_node_tag or (isinstance(part, str) and "[" in part):
            continue
        parts.append(part)
    return pointer(*parts)


def _node_id_at(document: Any, location: tuple[int | str, ...]) -> str | None:
    if len(location) < 2 or location[0] != "nodes" or not isinstance(location[1], int):
        return None
    nodes = document.get("nodes") if isinstance(document, Mapping) else None
    index = location[1]
    if isinstance(nodes, list) and index < len(nodes) and isinstance(nodes[index], dict):
        node_id = nodes[index].get("id")
        return node_id if isinstance(node_id, str) else None
    return None


def _schema_message(error: Any) -> str:
    message = str(error["msg"])
    if error["type"] == "union_tag_invalid":
        return f"Unknown node type; expected one of: {', '.join(NODE_TYPES)}."
    if error["type"] == "missing":
        return f"Field {error['loc'][-1]!r} is required."
    return message[0].upper() + message[1:] + "."
