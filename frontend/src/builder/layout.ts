/** Auto-layout: top-to-bottom layers with dagre. */
import dagre from "@dagrejs/dagre";
import { BACK, nodeOutcomes } from "./definition";
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
  // Back edges close loops; leaving them out keeps a loop's body below its loop node.
  const forward = edges.filter((e) => e.targetHandle !== BACK);
  for (const edge of forward) graph.setEdge(edge.source, edge.target);
  dagre.layout(graph);
  keepOutcomeOrder(nodes, forward, (id) => graph.node(id));
  return nodes.map((node) => {
    const placed = graph.node(node.id);
    const width = node.measured?.width ?? NODE_WIDTH;
    const height = node.measured?.height ?? NODE_HEIGHT;
    return { ...node, position: { x: placed.x - width / 2, y: placed.y - height / 2 } };
  });
}

/** Dagre orders a layer to cut crossings but knows nothing of handles; put the children a node
 * alone leads to (same layer) left to right in the order of its outcomes: true before false,
 * body before done, cases before default. */
function keepOutcomeOrder(
  nodes: WorkflowNode[],
  edges: WorkflowEdge[],
  placed: (id: string) => { x: number; y: number },
) {
  const parents = new Map<string, Set<string>>();
  for (const edge of edges) parents.set(edge.target, (parents.get(edge.target) ?? new Set()).add(edge.source));
  for (const node of nodes) {
    const outcomes = nodeOutcomes(node.data.def);
    const children: string[] = [];
    for (const outcome of outcomes) {
      for (const edge of edges) {
        if (edge.source !== node.id || edge.sourceHandle !== outcome || children.includes(edge.target)) continue;
        if (parents.get(edge.target)?.size === 1) children.push(edge.target);
      }
    }
    const layer = children.filter((id) => placed(id).y === placed(children[0]).y);
    if (layer.length < 2) continue;
    const xs = layer.map((id) => placed(id).x).sort((a, b) => a - b);
    layer.forEach((id, i) => {
      const dx = xs[i] - placed(id).x;
      for (const member of subtree(id, edges, parents)) placed(member).x += dx;
    });
  }
}

/** `root` and the nodes only it leads to: they move with it. */
function subtree(root: string, edges: WorkflowEdge[], parents: Map<string, Set<string>>): Set<string> {
  const members = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const edge of edges) {
      if (members.has(edge.target) || !members.has(edge.source)) continue;
      if ([...(parents.get(edge.target) ?? [])].every((p) => members.has(p))) {
        members.add(edge.target);
        grew = true;
      }
    }
  }
  return members;
}
