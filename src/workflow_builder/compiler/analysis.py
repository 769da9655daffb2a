"""What validation learns about a definition, shared by the checks and the compiler."""

from __future__ import annotations

from dataclasses import dataclass, field

from workflow_builder.compiler.catalog import ComponentSpec
from workflow_builder.compiler.definition import (
    Node,
    WorkflowDefinition,
)
from workflow_builder.compiler.graph import (
    Graph,
)
from workflow_builder.compiler.problems import Problems, pointer


@dataclass(frozen=True)
class ValidationContext:
    """What the caller knows beyond the definition (None: do not check against it)."""

    known_workflows: frozenset[str] | None = None


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
    opaque_nodes: set[str] = field(default_factory=set)
    opaque_edges: set[str] = field(default_factory=set)
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
