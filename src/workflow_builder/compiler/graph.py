"""Graph analysis of a definition: order, cycles, reachability, ancestors and loop bodies."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from workflow_builder.compiler.definition import BODY, Edge


@dataclass
class Graph:
    """Nodes and edges by id; `forward` excludes declared back edges."""

    node_ids: list[str]
    loop_ids: frozenset[str]
    forward: list[Edge]
    back: list[Edge]
    out_edges: dict[str, list[Edge]] = field(default_factory=dict)
    in_edges: dict[str, list[Edge]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out_edges = {n: [] for n in self.node_ids}
        self.in_edges = {n: [] for n in self.node_ids}
        for edge in sorted(self.forward, key=lambda e: e.id):
            self.out_edges[edge.source].append(edge)
            self.in_edges[edge.target].append(edge)


def topological_order(graph: Graph) -> tuple[list[str], set[str]]:
    """Return the nodes in topological order (ties by id) and the nodes left over in cycles."""
    indegree = {n: len(graph.in_edges[n]) for n in graph.node_ids}
    ready = [n for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for edge in graph.out_edges[node]:
            indegree[edge.target] -= 1
            if indegree[edge.target] == 0:
                heapq.heappush(ready, edge.target)
    return order, {n for n, d in indegree.items() if d > 0}


def cycles(graph: Graph, candidates: set[str]) -> list[list[str]]:
    """Return the strongly connected components among candidates that contain a cycle."""
    successors = {
        n: [e.target for e in graph.out_edges[n] if e.target in candidates] for n in candidates
    }
    components = _strongly_connected(sorted(candidates), successors)
    found = [c for c in components if _is_cycle(c, successors)]
    return sorted((sorted(c) for c in found), key=lambda c: c[0])


def _is_cycle(component: list[str], successors: dict[str, list[str]]) -> bool:
    return len(component) > 1 or component[0] in successors[component[0]]


def _strongly_connected(nodes: list[str], successors: dict[str, list[str]]) -> list[list[str]]:
    """Return Tarjan's strongly connected components, iteratively (graphs can be deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if child < len(successors[node]):
                work.append((node, child + 1))
                target = successors[node][child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def reachable(start: str, edges: Iterable[Edge]) -> set[str]:
    """Return the nodes reachable from start over the given edges (start included)."""
    successors: dict[str, list[str]] = {}
    for edge in edges:
        successors.setdefault(edge.source, []).append(edge.target)
    seen = {start}
    queue = deque([start])
    while queue:
        for target in successors.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def ancestor_sets(graph: Graph, order: list[str]) -> dict[str, int]:
    """Return, per node, a bitset (bit i = order[i]) of the nodes that precede it on some path."""
    position = {n: i for i, n in enumerate(order)}
    ancestors: dict[str, int] = {}
    for node in order:
        bits = 0
        for edge in graph.in_edges[node]:
            bits |= ancestors[edge.source] | (1 << position[edge.source])
        ancestors[node] = bits
    return ancestors


def loop_bodies(graph: Graph) -> dict[str, set[str]]:
    """Return, per loop node, the nodes reachable from its body handle without passing it."""
    bodies: dict[str, set[str]] = {}
    for loop in sorted(graph.loop_ids):
        entries = [e.target for e in graph.out_edges[loop] if e.source_handle == BODY]
        seen: set[str] = set()
        queue = deque(t for t in entries if t != loop)
        seen.update(queue)
        while queue:
            for edge in graph.out_edges[queue.popleft()]:
                if edge.target != loop and edge.target not in seen:
                    seen.add(edge.target)
                    queue.append(edge.target)
        bodies[loop] = seen
    return bodies


def innermost_scopes(bodies: dict[str, set[str]]) -> dict[str, str]:
    """Return, per node inside some loop body, the innermost loop containing it."""
    scope: dict[str, str] = {}
    for loop in sorted(bodies, key=lambda name: (-len(bodies[name]), name)):
        for node in bodies[loop]:
            scope[node] = loop
    return scope
