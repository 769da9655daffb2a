"""Structural checks: node ids, the trigger, edges and handles, cycles, reachability, loops."""

from __future__ import annotations

from workflow_builder.compiler.analysis import Analysis
from workflow_builder.compiler.definition import (
    BACK,
    BODY,
    DONE,
    NEXT,
    ActivityNode,
    AgentNode,
    ChildWorkflowNode,
    ConditionNode,
    Edge,
    EndNode,
    ForEachNode,
    LoopNode,
    Node,
    SwitchNode,
    TriggerNode,
    WaitForSignalNode,
    WorkflowDefinition,
    WorkQueueNode,
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
from workflow_builder.compiler.problems import pointer

TARGET_HANDLES = frozenset({None, "in", BACK})
LOOP_TYPES = ("for_each", "loop")


# -- nodes and edges -------------------------------------------------------------------------


def index_nodes(analysis: Analysis, definition: WorkflowDefinition) -> None:
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


def check_edges(analysis: Analysis, definition: WorkflowDefinition) -> list[Edge]:
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


def _outcome_message(source: Node, handle: str | None, outcomes: tuple[str, ...]) -> str:
    expected = f"expected one of: {', '.join(outcomes)}."
    if handle is None:
        return f"An edge from {source.type} {source.id!r} needs a source_handle; {expected}"
    return f"{source.type.capitalize()} {source.id!r} has no handle {handle!r}; {expected}"


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
    _check_handles(analysis, edge, where)
    target = nodes[edge.target]
    if isinstance(target, TriggerNode):
        problems.error(
            "trigger_has_incoming",
            f"Trigger {target.id!r} cannot have incoming edges.",
            f"{where}/target",
            edge_id=edge.id,
            node_id=target.id,
        )
        return False
    return True


def _check_handles(analysis: Analysis, edge: Edge, where: str) -> None:
    """Record an edge leaving from a handle its source lacks, or entering one its target lacks."""
    problems = analysis.problems
    source, target = analysis.nodes[edge.source], analysis.nodes[edge.target]
    # Malformed nodes and edges already have schema errors: do not guess at their handles.
    opaque = edge.id in analysis.opaque_edges
    outcomes = () if opaque or source.id in analysis.opaque_nodes else node_outcomes(source)
    if outcomes and edge_outcome(edge, source) not in outcomes:
        problems.error(
            "unknown_outcome",
            _outcome_message(source, edge.source_handle, outcomes),
            f"{where}/source_handle",
            edge_id=edge.id,
            node_id=source.id,
        )
    is_loop = isinstance(target, ForEachNode | LoopNode)
    wrong_handle = edge.target_handle not in TARGET_HANDLES or (
        edge.target_handle == BACK and not is_loop
    )
    if wrong_handle and not opaque and target.id not in analysis.opaque_nodes:
        problems.error(
            "invalid_target_handle",
            f"Node {target.id!r} ({target.type}) has no input handle {edge.target_handle!r}; "
            "expected none, or 'back' on a for_each or loop node.",
            f"{where}/target_handle",
            edge_id=edge.id,
            node_id=target.id,
        )


# -- graph -----------------------------------------------------------------------------------


def analyze_graph(analysis: Analysis, definition: WorkflowDefinition, edges: list[Edge]) -> None:
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
