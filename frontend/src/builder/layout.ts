/** Auto-layout: top-to-bottom layers with dagre. */
import dagre from "@dagrejs/dagre";
import type { WorkflowEdge, WorkflowNode } from "./graph";

const NODE_WIDTH = 220;
const NODE_HEIGHT = 80;

export function layoutGraph(nodes: WorkflowNode[], edges: WorkflowEdge[]): WorkflowNode[] {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "TB", nodesep: 60, ranksep: 80 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    graph.setNode(node.id, {
      width: node.measured?.width ?? NODE_WIDTH,
      height: node.measured?.height ?? NODE_HEIGHT,
    });
  }
  // Back edges close loops; leaving them out keeps the loop body below its loop node.
  for (const edge of edges) if (edge.targetHandle !== "back") graph.setEdge(edge.source, edge.target);
  dagre.layout(graph);
  return nodes.map((node) => {
    const placed = graph.node(node.id);
    const width = node.measured?.width ?? NODE_WIDTH;
    const height = node.measured?.height ?? NODE_HEIGHT;
    return { ...node, position: { x: placed.x - width / 2, y: placed.y - height / 2 } };
  });
}
