/** How a node's run status looks: a label and a symbol, so status never rests on colour alone. */
import type { ExecutionStep, StepStatus } from "../api/types";

export interface StatusLook {
  label: string;
  symbol: string;
}

export const STEP_LOOK: Record<StepStatus, StatusLook> = {
  running: { label: "running", symbol: "▶" },
  waiting: { label: "waiting", symbol: "‖" },
  completed: { label: "completed", symbol: "✓" },
  failed: { label: "failed", symbol: "✕" },
  skipped: { label: "skipped", symbol: "↷" },
  canceled: { label: "canceled", symbol: "⊘" },
};

// A node that ran several times (loop bodies) shows its most pressing status.
const PRECEDENCE: StepStatus[] = ["running", "waiting", "failed", "canceled", "completed", "skipped"];

/** The status each node shows on the canvas, from all its steps. */
export function nodeStatuses(steps: ExecutionStep[]): Map<string, StepStatus> {
  const byNode = new Map<string, Set<StepStatus>>();
  for (const step of steps) {
    const seen = byNode.get(step.node_id) ?? new Set<StepStatus>();
    seen.add(step.status);
    byNode.set(step.node_id, seen);
  }
  const result = new Map<string, StepStatus>();
  for (const [node, seen] of byNode) {
    const status = PRECEDENCE.find((candidate) => seen.has(candidate));
    if (status) result.set(node, status);
  }
  return result;
}
