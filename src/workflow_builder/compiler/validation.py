"""Validation: every check a definition must pass, collected in one pass."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from workflow_builder.compiler.catalog import ComponentCatalog, ComponentSpec
from workflow_builder.compiler.definition import (
    BACK,
    BODY,
    DONE,
    NEXT,
    NODE_TYPES,
    ActivityNode,
    AgentNode,
    ChildWorkflowNode,
    ConditionNode,
    DelayNode,
    Edge,
    EndNode,
    ForEachNode,
    LoopNode,
    Node,
    SetVariableNode,
    SwitchNode,
    TriggerNode,
    WaitForSignalNode,
    WorkflowDefinition,
    WorkQueueNode,
    work_queue_query_name,
    work_queue_signal_name,
)
from workflow_builder.compiler.expressions import (
    ROOT_NAMES,
    ExpressionError,
    ParsedExpression,
    parse_expression,
)
from workflow_builder.compiler.graph import (
    Graph,
    ancestor_sets,
    cycles,
    innermost_scopes,
    loop_bodies,
    reachable,
    topological_order,
)
from workflow_builder.compiler.problems import Problems, ValidationResult, pointer
from workflow_builder.compiler.schemas import (
    MISSING,
    JsonSchema,
    incompatibilities,
    lookup,
    schema_problem,
    value_type,
)

Path = tuple[str | int, ...]
DATA_NODE_TYPES = frozenset({"trigger", "activity", "agent", "child_workflow"})
TARGET_HANDLES = frozenset({None, "in", BACK})
LOOP_TYPES = ("for_each", "loop")


@dataclass(frozen=True)
class ValidationContext:
    """What the caller knows beyond the definition (None: do not check against it)."""

    known_workflows: frozenset[str] | None = None
    workflow_name: str | None = None


@dataclass
class Analysis:
    """Everything validation learned; compilation builds the plan from it."""

    problems: Problems
    definition: WorkflowDefinition | None = None
    nodes: dict[str, Node] = field(default_factory=dict)
    node_index: dict[str, int] = field(default_factory=dict)
    graph: Graph | None = None
    order: list[str] = field(default_factory=list)
    bodies: dict[str, set[str]] = field(default_factory=dict)
    scopes: dict[str, str] = field(default_factory=dict)
    components: dict[str, ComponentSpec] = field(default_factory=dict)
    default_inputs: dict[str, str] = field(default_factory=dict)
    ancestors: dict[str, int] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    acyclic: bool = False

    def node_pointer(self, node_id: str, *parts: str | int) -> str:
        """Return the JSON pointer of a node (or a part of it)."""
        prefix = f"/nodes/{self.node_index[node_id]}"
        return prefix + pointer(*parts) if parts else prefix

    def enclosing_loops(self, node_id: str) -> list[str]:
        """Return the loops around a node, innermost first."""
        chain: list[str] = []
        current = self.scopes.get(node_id)
        while current is not None and current not in chain:
            chain.append(current)
            current = self.scopes.get(current)
        return chain


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
    parsed = _parse(definition, analysis.problems)
    if parsed is None:
        return analysis
    analysis.definition = parsed
    _index_nodes(analysis, parsed)
    edges = _check_edges(analysis, parsed)
    _analyze_graph(analysis, parsed, edges)
    _check_declarations(analysis, parsed)
    for node in analysis.nodes.values():
        _check_node(analysis, parsed, node, catalog, context or ValidationContext())
    for node_id, node in analysis.nodes.items():
        _check_node_expressions(analysis, parsed, node_id, node)
    _check_queries(analysis, parsed)
    _check_call_inputs(analysis)
    _check_warnings(analysis, parsed)
    return analysis


# -- parsing ---------------------------------------------------------------------------------


def _parse(
    definition: Mapping[str, Any] | str | bytes | WorkflowDefinition, problems: Problems
) -> WorkflowDefinition | None:
    """Return the definition model, or None after recording why it is malformed."""
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
        return None


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


# -- nodes and edges -------------------------------------------------------------------------


def _index_nodes(analysis: Analysis, definition: WorkflowDefinition) -> None:
    """Index nodes by id (first occurrence wins) and check ids and the trigger."""
    problems = analysis.problems
    triggers: list[str] = []
    for i, node in enumerate(definition.nodes):
        if node.id in analysis.nodes:
            problems.error(
                "duplicate_node_id",
                f"Node id {node.id!r} is already used by /nodes/{analysis.node_index[node.id]}; "
                "expected unique node ids.",
                pointer("nodes", i, "id"),
                node_id=node.id,
            )
            continue
        analysis.nodes[node.id] = node
        analysis.node_index[node.id] = i
        if isinstance(node, TriggerNode):
            triggers.append(node.id)
    if not triggers:
        problems.error("missing_trigger", "Expected one trigger node; found none.", "/nodes")
    for extra in triggers[1:]:
        problems.error(
            "multiple_triggers",
            f"Expected exactly one trigger node; {triggers[0]!r} is already the trigger.",
            analysis.node_pointer(extra),
            node_id=extra,
        )


def node_outcomes(node: Node) -> tuple[str, ...]:
    """Return the handles an edge may leave this node from."""
    if isinstance(node, ConditionNode):
        return ("true", "false")
    if isinstance(node, SwitchNode):
        return (*(case.name for case in node.config.cases), "default")
    if isinstance(node, ForEachNode | LoopNode):
        return (BODY, DONE)
    if isinstance(node, WaitForSignalNode):
        return ("received", "timed_out")
    if isinstance(node, WorkQueueNode):
        return ("received", "timed_out") if node.config.operation == "wait_for_item" else (NEXT,)
    if isinstance(node, ActivityNode | AgentNode | ChildWorkflowNode):
        return (NEXT, "error")
    if isinstance(node, EndNode):
        return ()
    return (NEXT,)


def default_outcome(node: Node) -> str | None:
    """Return the outcome an edge without source_handle stands for (None: it must name one)."""
    if isinstance(node, ConditionNode | SwitchNode):
        return None
    outcomes = node_outcomes(node)
    if isinstance(node, ForEachNode | LoopNode):
        return DONE
    return outcomes[0] if outcomes else None


def edge_outcome(edge: Edge, source: Node) -> str | None:
    """Return the outcome an edge stands for."""
    return edge.source_handle if edge.source_handle is not None else default_outcome(source)


def _check_edges(analysis: Analysis, definition: WorkflowDefinition) -> list[Edge]:
    """Return the edges usable for graph analysis, recording problems with the others."""
    problems, nodes = analysis.problems, analysis.nodes
    seen: set[str] = set()
    usable: list[Edge] = []
    for i, edge in enumerate(definition.edges):
        where = pointer("edges", i)
        if edge.id in seen:
            problems.error(
                "duplicate_edge_id",
                f"Edge id {edge.id!r} is used twice; expected unique edge ids.",
                pointer("edges", i, "id"),
                edge_id=edge.id,
            )
            continue
        seen.add(edge.id)
        if _edge_is_usable(analysis, edge, where):
            usable.append(edge)
        source = nodes.get(edge.source)
        if isinstance(source, EndNode):
            problems.error(
                "end_has_outgoing",
                f"End node {edge.source!r} cannot have outgoing edges.",
                where,
                edge_id=edge.id,
                node_id=edge.source,
            )
    return usable


def _edge_is_usable(analysis: Analysis, edge: Edge, where: str) -> bool:
    """Return False for edges the graph cannot hold (dangling, into the trigger).

    Edges with a wrong handle stay in the graph so that one typo does not also make the
    nodes behind it unreachable.
    """
    problems, nodes = analysis.problems, analysis.nodes
    usable = True
    for end in ("source", "target"):
        node_id = getattr(edge, end)
        if node_id not in nodes:
            problems.error(
                "dangling_edge",
                f"Edge {end} {node_id!r} is not a node id.",
                f"{where}/{end}",
                edge_id=edge.id,
            )
            usable = False
    if not usable:
        return False
    source, target = nodes[edge.source], nodes[edge.target]
    outcomes = node_outcomes(source)
    outcome = edge_outcome(edge, source)
    if outcomes and outcome not in outcomes:
        problems.error(
            "unknown_outcome",
            f"Node {source.id!r} ({source.type}) has no handle {edge.source_handle!r}; "
            f"expected one of: {', '.join(outcomes)}.",
            f"{where}/source_handle",
            edge_id=edge.id,
            node_id=source.id,
        )
    is_loop = isinstance(target, ForEachNode | LoopNode)
    if edge.target_handle not in TARGET_HANDLES or (edge.target_handle == BACK and not is_loop):
        problems.error(
            "invalid_target_handle",
            f"Node {target.id!r} ({target.type}) has no input handle {edge.target_handle!r}; "
            "expected none, or 'back' on a for_each or loop node.",
            f"{where}/target_handle",
            edge_id=edge.id,
            node_id=target.id,
        )
    if isinstance(target, TriggerNode):
        problems.error(
            "trigger_has_incoming",
            f"Trigger {target.id!r} cannot have incoming edges.",
            f"{where}/target",
            edge_id=edge.id,
            node_id=target.id,
        )
        usable = False
    return usable


# -- graph -----------------------------------------------------------------------------------


def _analyze_graph(analysis: Analysis, definition: WorkflowDefinition, edges: list[Edge]) -> None:
    """Order the graph, find cycles, unreachable nodes and loop bodies."""
    loop_ids = frozenset(n for n, node in analysis.nodes.items() if node.type in LOOP_TYPES)
    back = [e for e in edges if e.target_handle == BACK and e.target in loop_ids]
    forward = [e for e in edges if e not in back]
    graph = Graph(sorted(analysis.nodes), loop_ids, forward, back)
    analysis.graph = graph
    order, leftover = topological_order(graph)
    analysis.order = order
    analysis.acyclic = not leftover
    edge_index = {e.id: i for i, e in enumerate(definition.edges)}
    for cycle in cycles(graph, leftover):
        _report_cycle(analysis, graph, cycle, edge_index)
    _check_reachability(analysis, edges)
    analysis.bodies = loop_bodies(graph)
    analysis.scopes = innermost_scopes(analysis.bodies)
    _check_loops(analysis, graph, edge_index)
    if analysis.acyclic:
        analysis.ancestors = ancestor_sets(graph, order)
        analysis.positions = {n: i for i, n in enumerate(order)}


def _report_cycle(
    analysis: Analysis, graph: Graph, cycle: list[str], edge_index: dict[str, int]
) -> None:
    members = set(cycle)
    inside = sorted(
        (e for n in cycle for e in graph.out_edges[n] if e.target in members), key=lambda e: e.id
    )
    edge = inside[0]
    shown = ", ".join(cycle[:6]) + (", ..." if len(cycle) > 6 else "")
    analysis.problems.error(
        "undeclared_cycle",
        f"Nodes {shown} form a cycle; repeat work with a loop or for_each node whose body "
        "returns through an edge with target_handle 'back'.",
        pointer("edges", edge_index[edge.id]),
        edge_id=edge.id,
        node_id=edge.target,
    )


def _check_reachability(analysis: Analysis, edges: list[Edge]) -> None:
    triggers = [n for n, node in analysis.nodes.items() if isinstance(node, TriggerNode)]
    if not triggers:
        return
    seen = reachable(triggers[0], edges)
    for node_id in analysis.nodes:
        if node_id not in seen and not isinstance(analysis.nodes[node_id], TriggerNode):
            analysis.problems.error(
                "unreachable_node",
                f"Node {node_id!r} cannot be reached from the trigger {triggers[0]!r}; "
                "connect it or remove it.",
                analysis.node_pointer(node_id),
                node_id=node_id,
            )


def _check_loops(analysis: Analysis, graph: Graph, edge_index: dict[str, int]) -> None:
    problems = analysis.problems
    for loop, body in analysis.bodies.items():
        if not body:
            problems.error(
                "loop_missing_body",
                f"{analysis.nodes[loop].type} node {loop!r} has no edge from its 'body' handle.",
                analysis.node_pointer(loop),
                node_id=loop,
            )
            continue
        for member in sorted(body):
            for edge in graph.in_edges[member]:
                inside = edge.source in body or (edge.source == loop and edge.source_handle == BODY)
                if not inside:
                    problems.error(
                        "loop_body_entered_from_outside",
                        f"Edge from {edge.source!r} enters the body of {loop!r} at {member!r}; "
                        f"a body is entered only from {loop!r}'s 'body' handle.",
                        pointer("edges", edge_index[edge.id]),
                        edge_id=edge.id,
                        node_id=member,
                    )
    for edge in graph.back:
        if analysis.scopes.get(edge.source) != edge.target:
            problems.error(
                "back_edge_outside_body",
                f"Back edge from {edge.source!r} to {edge.target!r}: the source is not directly "
                f"inside the body of {edge.target!r}.",
                pointer("edges", edge_index[edge.id]),
                edge_id=edge.id,
                node_id=edge.target,
            )
    for loop, body in analysis.bodies.items():
        if body and not any(e.target == loop and e.source in body for e in graph.back):
            problems.error(
                "loop_missing_back_edge",
                f"The body of {loop!r} never returns: add an edge from its last node to "
                f"{loop!r} with target_handle 'back'.",
                analysis.node_pointer(loop),
                node_id=loop,
            )


# -- declarations ----------------------------------------------------------------------------


def _check_declarations(analysis: Analysis, definition: WorkflowDefinition) -> None:
    problems = analysis.problems
    _check_names(problems, definition)
    for i, schedule in enumerate(definition.schedules):
        _check_cron(problems, schedule.cron, pointer("schedules", i, "cron"), None)
        _check_timezone(problems, schedule.timezone, pointer("schedules", i, "timezone"), None)
    for name, variable in definition.variables.items():
        where = pointer("variables", name)
        if variable.schema_ is not None and _check_schema(
            problems, variable.schema_, f"{where}/schema", None
        ):
            errors = list(Draft202012Validator(variable.schema_).iter_errors(variable.initial))
            if errors:
                problems.error(
                    "invalid_variable_initial",
                    f"Initial value of {name!r} does not match its schema: {errors[0].message}.",
                    f"{where}/initial",
                )
    for i, signal in enumerate(definition.signals):
        if signal.parameters is not None:
            _check_schema(problems, signal.parameters, pointer("signals", i, "parameters"), None)
    for i, queue in enumerate(definition.work_queues):
        if queue.work_item_schema is not None:
            where = pointer("work_queues", i, "work_item_schema")
            _check_schema(problems, queue.work_item_schema, where, None)


def _check_names(problems: Problems, definition: WorkflowDefinition) -> None:
    """Check that signal, query and work-queue names (including generated ones) are unique."""
    signals: dict[str, str] = {}
    queries: dict[str, str] = {}
    queues: dict[str, str] = {}
    for i, queue in enumerate(definition.work_queues):
        where = pointer("work_queues", i, "name")
        _claim(problems, queues, queue.name, where, "work queue")
        _claim(problems, signals, work_queue_signal_name(queue.name), where, "signal")
        _claim(problems, queries, work_queue_query_name(queue.name), where, "query")
    for i, signal in enumerate(definition.signals):
        _claim(problems, signals, signal.name, pointer("signals", i, "name"), "signal")
    for i, query in enumerate(definition.queries):
        _claim(problems, queries, query.name, pointer("queries", i, "name"), "query")


def _claim(problems: Problems, taken: dict[str, str], name: str, where: str, kind: str) -> None:
    if name in taken:
        problems.error(
            "name_collision",
            f"The {kind} name {name!r} is already used at {taken[name]}; expected a unique name "
            "(work queue <q> also takes signal <q>_add and query <q>_items).",
            where,
        )
    else:
        taken[name] = where


def _check_cron(problems: Problems, cron: str, where: str, node_id: str | None) -> None:
    if not croniter.is_valid(cron):
        problems.error(
            "invalid_cron",
            f"{cron!r} is not a cron expression; expected five fields, e.g. '0 9 * * MON-FRI'.",
            where,
            node_id=node_id,
        )


def _check_timezone(problems: Problems, name: str, where: str, node_id: str | None) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.error(
            "invalid_timezone",
            f"{name!r} is not an IANA time zone; expected a name like 'Europe/Paris' or 'UTC'.",
            where,
            node_id=node_id,
        )


def _check_schema(problems: Problems, schema: Any, where: str, node_id: str | None) -> bool:
    """Record an error unless the value is a valid JSON Schema; return whether it is."""
    reason = schema_problem(schema)
    if reason is not None:
        problems.error(
            "invalid_json_schema",
            f"Not a valid JSON Schema (Draft 2020-12): {reason}.",
            where,
            node_id=node_id,
        )
    return reason is None


# -- per-node checks -------------------------------------------------------------------------


def _check_node(
    analysis: Analysis,
    definition: WorkflowDefinition,
    node: Node,
    catalog: ComponentCatalog,
    context: ValidationContext,
) -> None:
    problems = analysis.problems
    where = analysis.node_pointer(node.id)
    if isinstance(node, TriggerNode):
        _check_trigger(analysis, definition, node, where)
    elif isinstance(node, ActivityNode | AgentNode):
        _check_component(analysis, node, catalog, where)
    elif isinstance(node, SwitchNode):
        names = [case.name for case in node.config.cases]
        for i, name in enumerate(names):
            if name == "default" or name in names[:i]:
                problems.error(
                    "duplicate_case",
                    f"Case name {name!r} is taken; expected unique names other than 'default'.",
                    f"{where}/config/cases/{i}/name",
                    node_id=node.id,
                )
    elif isinstance(node, LoopNode) and node.config.max_iterations is None:
        problems.error(
            "loop_missing_max_iterations",
            f"Loop {node.id!r} needs config.max_iterations (a positive integer) to bound it.",
            f"{where}/config/max_iterations",
            node_id=node.id,
        )
    elif isinstance(node, DelayNode) and _delay_is_ambiguous(node):
        problems.error(
            "invalid_delay",
            f"Delay {node.id!r} needs exactly one of config.seconds and config.until.",
            f"{where}/config",
            node_id=node.id,
        )
    elif isinstance(node, WaitForSignalNode):
        _check_signal_declared(analysis, definition, node.config.signal, where, node.id)
    elif isinstance(node, WorkQueueNode):
        if node.config.queue not in {q.name for q in definition.work_queues}:
            problems.error(
                "unknown_work_queue",
                f"Work queue {node.config.queue!r} is not declared in work_queues.",
                f"{where}/config/queue",
                node_id=node.id,
            )
    elif isinstance(node, SetVariableNode):
        if node.config.variable not in definition.variables:
            problems.error(
                "unknown_variable",
                f"Variable {node.config.variable!r} is not declared in variables.",
                f"{where}/config/variable",
                node_id=node.id,
            )
    elif isinstance(node, ChildWorkflowNode):
        _check_child(analysis, definition, node, context, where)


def _delay_is_ambiguous(node: DelayNode) -> bool:
    return (node.config.seconds is None) == (node.config.until is None)


def _check_trigger(
    analysis: Analysis, definition: WorkflowDefinition, node: TriggerNode, where: str
) -> None:
    problems, config = analysis.problems, node.config
    _check_schema(problems, config.input_schema, f"{where}/config/input_schema", node.id)
    if config.kind == "schedule":
        if config.cron is None:
            problems.error(
                "incomplete_trigger",
                "A schedule trigger needs config.cron.",
                f"{where}/config/cron",
                node_id=node.id,
            )
        else:
            _check_cron(problems, config.cron, f"{where}/config/cron", node.id)
        _check_timezone(problems, config.timezone, f"{where}/config/timezone", node.id)
    if config.kind == "signal":
        if config.signal is None:
            problems.error(
                "incomplete_trigger",
                "A signal trigger needs config.signal.",
                f"{where}/config/signal",
                node_id=node.id,
            )
        else:
            _check_signal_declared(analysis, definition, config.signal, where, node.id)


def _check_signal_declared(
    analysis: Analysis, definition: WorkflowDefinition, signal: str, where: str, node_id: str
) -> None:
    declared = {s.name for s in definition.signals}
    if signal not in declared:
        analysis.problems.error(
            "undeclared_signal",
            f"Signal {signal!r} is not declared; expected one of: "
            f"{', '.join(sorted(declared)) or '(no signals declared)'}.",
            f"{where}/config/signal",
            node_id=node_id,
        )


def _check_child(
    analysis: Analysis,
    definition: WorkflowDefinition,
    node: ChildWorkflowNode,
    context: ValidationContext,
    where: str,
) -> None:
    name = node.config.workflow
    known = context.known_workflows
    if known is not None and name not in known:
        analysis.problems.error(
            "unknown_child_workflow",
            f"No workflow named {name!r} is available to start as a child.",
            f"{where}/config/workflow",
            node_id=node.id,
        )
    if name not in {c.workflow for c in definition.child_workflows}:
        analysis.problems.warning(
            "undeclared_child_workflow",
            f"Child workflow {name!r} is not declared in child_workflows.",
            f"{where}/config/workflow",
            node_id=node.id,
        )


def _check_component(
    analysis: Analysis, node: ActivityNode | AgentNode, catalog: ComponentCatalog, where: str
) -> None:
    problems, ref = analysis.problems, node.component
    spec = catalog.resolve(ref.name, ref.version)
    if spec is None:
        versions = list(catalog.versions(ref.name))
        if versions:
            problems.error(
                "unknown_component_version",
                f"Component {ref.name!r} has no version {ref.version!r}; "
                f"available: {', '.join(versions)}.",
                f"{where}/component/version",
                node_id=node.id,
            )
        else:
            problems.error(
                "unknown_component",
                f"No component named {ref.name!r} in the catalog.",
                f"{where}/component/name",
                node_id=node.id,
            )
        return
    analysis.components[node.id] = spec
    if spec.type != node.type:
        problems.error(
            "component_type_mismatch",
            f"Component {spec.ref} is an {spec.type}; a {node.type} node needs a {node.type}.",
            f"{where}/component",
            node_id=node.id,
        )
    if spec.deprecated:
        problems.warning(
            "deprecated_component",
            f"Component {spec.ref} is deprecated; move to a newer version.",
            f"{where}/component",
            node_id=node.id,
        )
    for error in _config_validator(spec).iter_errors(node.config):
        path = "".join(pointer(p) for p in error.absolute_path)
        problems.error(
            "invalid_config",
            f"Config of {node.id!r} does not match {spec.ref}'s config_schema: {error.message}.",
            f"{where}/config{path}",
            node_id=node.id,
        )


_validators: dict[tuple[str, str], Draft202012Validator] = {}


def _config_validator(spec: ComponentSpec) -> Draft202012Validator:
    """Return a (cached) validator for a component's config schema."""
    key = (spec.id, json.dumps(spec.config_schema, sort_keys=True))
    validator = _validators.get(key)
    if validator is None:
        validator = Draft202012Validator(spec.config_schema)
        _validators[key] = validator
    return validator


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


def _check_node_expressions(
    analysis: Analysis, definition: WorkflowDefinition, node_id: str, node: Node
) -> None:
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
            f"Expression {source!r} does not parse (JMESPath): {exc}",
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


def _check_queries(analysis: Analysis, definition: WorkflowDefinition) -> None:
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


def _check_call_inputs(analysis: Analysis) -> None:
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
            f"{spec.ref} requires input {', '.join(map(repr, missing))}; add it to input.",
            analysis.node_pointer(node.id, "input"),
            node_id=node.id,
        )
    for name, source in sorted(mapping.items()):
        where = analysis.node_pointer(node.id, "input", name)
        wanted = lookup(target, [name])
        if wanted == MISSING:
            problems.error(
                "unknown_input_property",
                f"{spec.ref} does not accept input {name!r}.",
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
                f"by {spec.ref}'s input schema; map its input explicitly.",
                analysis.node_pointer(node.id),
                node_id=node.id,
            )
        return
    analysis.default_inputs[node.id] = "`{}`"
    required = spec.input_schema.get("required", [])
    if required:
        analysis.problems.error(
            "missing_required_input",
            f"{spec.ref} requires input {', '.join(map(repr, required))}, and {node.id!r} "
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


# -- warnings --------------------------------------------------------------------------------


def _check_warnings(analysis: Analysis, definition: WorkflowDefinition) -> None:
    graph = analysis.graph
    if graph is None:
        return
    for node_id, node in analysis.nodes.items():
        wired = {edge_outcome(e, node) for e in graph.out_edges[node_id]}
        wired |= {edge_outcome(e, node) for e in graph.back if e.source == node_id}
        if isinstance(node, ConditionNode):
            for outcome in ("true", "false"):
                if outcome not in wired:
                    analysis.problems.warning(
                        "condition_outcome_unwired",
                        f"Condition {node_id!r} has no edge from its {outcome!r} handle; that "
                        "branch ends there.",
                        analysis.node_pointer(node_id),
                        node_id=node_id,
                    )
        elif isinstance(node, SwitchNode):
            for outcome in node_outcomes(node):
                if outcome not in wired:
                    analysis.problems.warning(
                        "switch_case_unwired",
                        f"Switch {node_id!r} has no edge from its {outcome!r} handle.",
                        analysis.node_pointer(node_id),
                        node_id=node_id,
                    )
    if analysis.nodes and not any(isinstance(n, EndNode) for n in analysis.nodes.values()):
        analysis.problems.warning(
            "no_end_node",
            "No end node: runs complete with a null output when every branch is done.",
            "/nodes",
        )
