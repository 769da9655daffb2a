/** Converting between the saved definition and React Flow's nodes and edges. */
import type { Edge, Node } from "@xyflow/react";
import { BACK, defaultOutcome, IN, type Definition, type DefinitionEdge, type DefinitionNode } from "./definition";

export interface WorkflowNodeData extends Record<string, unknown> {
  def: DefinitionNode;
}

export interface WorkflowEdgeData extends Record<string, unknown> {
  label?: string | null;
}

export type WorkflowNode = Node<WorkflowNodeData, "workflow">;
export type WorkflowEdge = Edge<WorkflowEdgeData, "workflow">;

export function toFlow(definition: Definition): { nodes: WorkflowNode[]; edges: WorkflowEdge[] } {
  const byId = new Map(definition.nodes.map((n) => [n.id, n]));
  const nodes: WorkflowNode[] = definition.nodes.map((def) => ({
    id: def.id,
    type: "workflow",
    position: { x: def.position?.x ?? 0, y: def.position?.y ?? 0 },
    data: { def },
  }));
  const edges: WorkflowEdge[] = definition.edges.map((edge) => {
    const source = byId.get(edge.source);
    const outcome = edge.source_handle ?? (source ? defaultOutcome(source) : null);
    return {
      id: edge.id,
      type: "workflow",
      source: edge.source,
      target: edge.target,
      sourceHandle: outcome,
      targetHandle: edge.target_handle === BACK ? BACK : IN,
      data: { label: edge.label },
    };
  });
  return { nodes, edges };
}

/** The definition the canvas shows: its nodes and edges plus the workflow's declarations. */
export function toDefinition(
  declarations: Record<string, unknown>,
  nodes: WorkflowNode[],
  edges: WorkflowEdge[],
): Definition {
  const defNodes: DefinitionNode[] = nodes.map((node) => ({
    ...node.data.def,
    position: { x: Math.round(node.position.x), y: Math.round(node.position.y) },
  }));
  const defEdges: DefinitionEdge[] = edges.map((edge) => {
    const out: DefinitionEdge = { id: edge.id, source: edge.source, target: edge.target };
    if (edge.sourceHandle) out.source_handle = edge.sourceHandle;
    if (edge.targetHandle === BACK) out.target_handle = BACK;
    if (edge.data?.label) out.label = edge.data.label;
    return out;
  });
  return { format_version: 1, ...declarations, nodes: defNodes, edges: defEdges };
}

/** Everything at the top level of a definition except its graph. */
export function declarationsOf(definition: Definition): Record<string, unknown> {
  const { nodes: _nodes, edges: _edges, format_version: _version, ...declarations } = definition;
  return declarations;
}

/** Normalize whatever the server stored into a definition the canvas can show. */
export function readDefinition(raw: Record<string, unknown> | null | undefined): Definition {
  const value = raw ?? {};
  return {
    ...value,
    format_version: 1,
    nodes: Array.isArray(value.nodes) ? (value.nodes as DefinitionNode[]) : [],
    edges: Array.isArray(value.edges) ? (value.edges as DefinitionEdge[]) : [],
  };
}
