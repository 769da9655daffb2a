"""Expression checks: parsing, what each expression may read, and component inputs."""

from __future__ import annotations

from collections.abc import Iterator

from workflow_builder.compiler.analysis import Analysis
from workflow_builder.compiler.catalog import ComponentSpec
from workflow_builder.compiler.definition import (
    ActivityNode,
    AgentNode,
    ChildWorkflowNode,
    ConditionNode,
    DelayNode,
    EndNode,
    ForEachNode,
    LoopNode,
    Node,
    SetVariableNode,
    SwitchNode,
    TriggerNode,
    WorkflowDefinition,
)
from workflow_builder.compiler.expressions import (
    ROOT_NAMES,
    ExpressionError,
    ParsedExpression,
    parse_expression,
)
from workflow_builder.compiler.problems import Problems, pointer, shorten
from workflow_builder.compiler.schemas import (
    MISSING,
    JsonSchema,
    incompatibilities,
    lookup,
    value_type,
)

Path = tuple[str | int, ...]
DATA_NODE_TYPES = frozenset({"trigger", "activity", "agent", "child_workflow"})


# -- expressions -----------------------------------------------------------------------------


def node_expressions(node: Node) -> Iterator[tuple[Path, str, bool]]:
    """Yield (path inside the node, source, evaluated-inside-the-body) for each expression."""
    if isinstance(node, ConditionNode):
        yield ("config", "expression"), node.config.expression, False
    elif isinstance(node, SwitchNode):
        for i, case in enumerate(node.config.cases):
            yield ("config", "cases", i, "expression"), case.expression, False
    elif isinstance(node, ForEachNode):
        yield ("config", "items"), node.config.items, False
        if node.config.result is not None:
            yield ("config", "result"), node.config.result, True
    elif isinstance(node, LoopNode):
        yield ("config", "until"), node.config.until, True
        if node.config.result is not None:
            yield ("config", "result"), node.config.result, True
    elif isinstance(node, DelayNode) and node.config.until is not None:
        yield ("config", "until"), node.config.until, False
    elif isinstance(node, SetVariableNode):
        yield ("config", "value"), node.config.value, False
    elif isinstance(node, EndNode) and node.config.output is not None:
        yield ("config", "output"), node.config.output, False
    elif isinstance(node, ActivityNode | AgentNode | ChildWorkflowNode) and node.input:
        for name, source in sorted(node.input.items()):
            yield ("input", name), source, False


def check_node_expressions(
    analysis: Analysis, definition: WorkflowDefinition, node_id: str, node: Node
) -> None:
    """Record problems of each expression of a node: syntax and what it reads."""
    for path, source, inside in node_expressions(node):
        where = analysis.node_pointer(node_id, *path)
        parsed = _parse_or_report(analysis.problems, source, where, node_id)
        if parsed is not None:
            for reference in parsed.references:
                _check_reference(analysis, definition, node_id, inside, reference, where)


def _parse_or_report(
    problems: Problems, source: str, where: str, node_id: str | None
) -> ParsedExpression | None:
    try:
        return parse_expression(source)
    except ExpressionError as exc:
        problems.error(
            "invalid_expression",
            f"Expression {shorten(source)!r} does not parse (JMESPath): {exc}",
            where,
            node_id=node_id,
        )
        return None


def _check_reference(
    analysis: Analysis,
    definition: WorkflowDefinition,
    node_id: str,
    inside: bool,
    reference: tuple[str, ...],
    where: str,
) -> None:
    problems = analysis.problems
    root = reference[0]
    loops = ([node_id] if inside else []) + analysis.enclosing_loops(node_id)
    loop_types = {analysis.nodes[loop].type for loop in loops}
    if root not in ROOT_NAMES:
        problems.error(
            "unknown_reference",
            f"{root!r} is not a name expressions can read; expected input, vars, nodes, "
            "item, index or iteration.",
            where,
            node_id=node_id,
        )
    elif root in ("item", "index") and "for_each" not in loop_types:
        _out_of_scope(problems, root, "a for_each body", where, node_id)
    elif root == "iteration" and "loop" not in loop_types:
        _out_of_scope(problems, root, "a loop body", where, node_id)
    elif root == "vars" and len(reference) > 1 and reference[1] not in definition.variables:
        problems.error(
            "unknown_variable",
            f"Variable {reference[1]!r} is not declared; expected one of: "
            f"{', '.join(sorted(definition.variables)) or '(none declared)'}.",
            where,
            node_id=node_id,
        )
    elif root == "input" and len(reference) > 1:
        _check_field(analysis, _input_schema(analysis), reference[1:], where, node_id, "input")
    elif root == "nodes" and len(reference) > 1:
        _check_node_reference(analysis, node_id, inside, reference[1:], where)


def _out_of_scope(problems: Problems, name: str, place: str, where: str, node_id: str) -> None:
    problems.error(
        "reference_out_of_scope",
        f"{name!r} is only defined inside {place}.",
        where,
        node_id=node_id,
    )


def _check_node_reference(
    analysis: Analysis, node_id: str, inside: bool, reference: tuple[str, ...], where: str
) -> None:
    problems, target = analysis.problems, reference[0]
    if target not in analysis.nodes:
        problems.error(
            "unknown_node_reference",
            f"Expression reads nodes.{target}, but there is no node {target!r}.",
            where,
            node_id=node_id,
        )
        return
    if len(reference) > 1 and reference[1] not in ("output", "status"):
        problems.error(
            "invalid_node_reference",
            f"nodes.{target}.{reference[1]} is not readable; expected nodes.{target}.output or "
            f"nodes.{target}.status.",
            where,
            node_id=node_id,
        )
        return
    if analysis.acyclic and not _can_have_run(analysis, target, node_id, inside):
        problems.error(
            "reference_not_ancestor",
            f"Node {node_id!r} reads nodes.{target}, but {target!r} cannot have run before it "
            "(it is not on a path leading here).",
            where,
            node_id=node_id,
        )
        return
    if len(reference) > 2 and reference[1] == "output":
        schema = output_schema(analysis, target)
        _check_field(analysis, schema, reference[2:], where, node_id, f"nodes.{target}.output")


def _can_have_run(analysis: Analysis, target: str, node_id: str, inside: bool) -> bool:
    """Return True when target precedes node_id (or, inside a loop body, is directly in it)."""
    if inside and analysis.scopes.get(target) == node_id:
        return True
    if target in analysis.enclosing_loops(node_id) or target == node_id:
        return False
    return bool(analysis.ancestors[node_id] >> analysis.positions[target] & 1)


def _check_field(
    analysis: Analysis,
    schema: JsonSchema | None,
    path: tuple[str, ...],
    where: str,
    node_id: str,
    base: str,
) -> None:
    if lookup(schema, path) != MISSING:
        return
    code = "unknown_input_field" if base == "input" else "unknown_output_field"
    analysis.problems.error(
        code,
        f"{base}.{'.'.join(path)} is not in the schema of {base}; "
        f"expected one of its declared properties.",
        where,
        node_id=node_id,
    )


def _input_schema(analysis: Analysis) -> JsonSchema | None:
    for node in analysis.nodes.values():
        if isinstance(node, TriggerNode):
            return node.config.input_schema
    return None


def output_schema(analysis: Analysis, node_id: str) -> JsonSchema | None:
    """Return the schema of a node's output, as far as the definition tells."""
    node = analysis.nodes[node_id]
    if node_id in analysis.opaque_nodes:
        return None
    if isinstance(node, TriggerNode):
        return node.config.input_schema
    if isinstance(node, ActivityNode | AgentNode):
        spec = analysis.components.get(node_id)
        return spec.output_schema if spec else None
    return _BUILT_IN_OUTPUTS.get(node.type)


def _object(**properties: JsonSchema) -> JsonSchema:
    return {"type": "object", "properties": properties, "additionalProperties": False}


_BUILT_IN_OUTPUTS: dict[str, JsonSchema] = {
    "condition": _object(result={"type": "boolean"}),
    "switch": _object(case={"type": "string"}),
    "join": _object(),
    "for_each": _object(results={"type": "array"}, count={"type": "integer"}),
    "loop": _object(iterations={"type": "integer"}, result={}),
    "delay": _object(),
    "wait_for_signal": _object(received={"type": "boolean"}, payload={}),
    "set_variable": _object(value={}),
    "work_queue": _object(item={}),
    "child_workflow": _object(workflow_id={"type": "string"}, result={}),
}


def check_queries(analysis: Analysis, definition: WorkflowDefinition) -> None:
    """Record problems of query expressions, which read the run state at any time."""
    for i, query in enumerate(definition.queries):
        if query.expression is None:
            continue
        where = pointer("queries", i, "expression")
        parsed = _parse_or_report(analysis.problems, query.expression, where, None)
        for reference in parsed.references if parsed else ():
            if reference[0] not in ("input", "vars", "nodes"):
                analysis.problems.error(
                    "unknown_reference",
                    f"A query reads the run's state; {reference[0]!r} is not part of it "
                    "(expected input, vars or nodes).",
                    where,
                )
            elif (
                reference[:1] == ("vars",)
                and reference[1:2]
                and reference[1] not in definition.variables
            ):
                analysis.problems.error(
                    "unknown_variable", f"Variable {reference[1]!r} is not declared.", where
                )


# -- component inputs ------------------------------------------------------------------------


def check_call_inputs(analysis: Analysis) -> None:
    """Check each component call's input (mapping or default) against its input schema."""
    for node_id, spec in analysis.components.items():
        node = analysis.nodes[node_id]
        assert isinstance(node, ActivityNode | AgentNode)
        if node.input is not None:
            _check_input_mapping(analysis, node, spec)
        else:
            _check_default_input(analysis, node, spec)


def _check_input_mapping(
    analysis: Analysis, node: ActivityNode | AgentNode, spec: ComponentSpec
) -> None:
    problems, target = analysis.problems, spec.input_schema
    mapping = node.input or {}
    required = target.get("required", []) if isinstance(target, dict) else []
    missing = [name for name in required if name not in mapping]
    if missing:
        problems.error(
            "missing_required_input",
            f"{spec.name} requires the input {', '.join(map(repr, missing))}; map it.",
            analysis.node_pointer(node.id, "input"),
            node_id=node.id,
        )
    for name, source in sorted(mapping.items()):
        where = analysis.node_pointer(node.id, "input", name)
        wanted = lookup(target, [name])
        if wanted == MISSING:
            problems.error(
                "unknown_input_property",
                f"{spec.name} does not take an input {name!r}.",
                where,
                node_id=node.id,
            )
            continue
        given = _expression_schema(analysis, source)
        for reason in incompatibilities(given, wanted if isinstance(wanted, dict) else None):
            problems.error(
                "incompatible_schemas",
                f"Input {name!r} of {node.id!r}: {reason}.",
                where,
                node_id=node.id,
            )


def _check_default_input(
    analysis: Analysis, node: ActivityNode | AgentNode, spec: ComponentSpec
) -> None:
    """Without a mapping, a call takes its single data predecessor's output (else {})."""
    graph = analysis.graph
    incoming = graph.in_edges[node.id] if graph else []
    source = incoming[0].source if len(incoming) == 1 else None
    if source is not None and analysis.nodes[source].type in DATA_NODE_TYPES:
        analysis.default_inputs[node.id] = f'nodes."{source}".output'
        for reason in incompatibilities(output_schema(analysis, source), spec.input_schema):
            analysis.problems.error(
                "incompatible_schemas",
                f"{node.id!r} takes the output of {source!r} as input, but {reason} "
                f"by the input of {spec.name}; map its input explicitly.",
                analysis.node_pointer(node.id),
                node_id=node.id,
            )
        return
    analysis.default_inputs[node.id] = "`{}`"
    required = spec.input_schema.get("required", [])
    if required:
        analysis.problems.error(
            "missing_required_input",
            f"{spec.name} requires the input {', '.join(map(repr, required))}, and {node.id!r} "
            "has no input mapping nor a single data predecessor to take it from.",
            analysis.node_pointer(node.id, "input"),
            node_id=node.id,
        )


def _expression_schema(analysis: Analysis, source: str) -> JsonSchema | None:
    """Return what is known of the schema of an expression's value."""
    try:
        parsed = parse_expression(source)
    except ExpressionError:
        return None
    is_literal, value = parsed.literal
    if is_literal:
        return {"type": value_type(value)}
    if parsed.path is None or len(parsed.path) < 2:
        return None
    root, rest = parsed.path[0], parsed.path[1:]
    if root == "input":
        found = lookup(_input_schema(analysis), rest)
    elif root == "nodes" and len(rest) >= 2 and rest[0] in analysis.nodes and rest[1] == "output":
        found = lookup(output_schema(analysis, rest[0]), rest[2:])
    else:
        return None
    return found if isinstance(found, dict) else None
