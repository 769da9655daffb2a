/** The data expression previews and completions read: the workflow's pinned data (n8n-style,
 * saved with the workflow) over the data of its last run (a test run of the draft counts), laid
 * out as the runtime evaluates expressions: input, vars, nodes.<id>.{status, output}. */
import { useEffect, useMemo, useState } from "react";
import { api, type Page } from "../api/client";
import type { Execution, ExecutionDetail } from "../api/types";
import type { ExpressionData, ExpressionSample } from "../editors/expressions";
import type { PinnedData } from "./NodeTrialPanel";

export interface LastRun {
  id: string;
  inputs: unknown;
  /** The latest completed output of each node. */
  outputs: Record<string, unknown>;
}

/** The workflow's most recent run with its steps' outputs; null when it has none (or while
 * loading, or when runs cannot be read). */
export function useLastRun(workflowId: string | undefined): LastRun | null {
  const [run, setRun] = useState<LastRun | null>(null);
  useEffect(() => {
    if (!workflowId) return;
    let current = true;
    (async () => {
      const page = await api<Page<Execution>>("/executions", { query: { workflow_id: workflowId, limit: 1 } });
      const latest = page.items[0];
      if (!latest) return null;
      const detail = await api<ExecutionDetail>(`/executions/${latest.id}`);
      const outputs: Record<string, unknown> = {};
      // Steps come in start order: a node run more than once (a loop) keeps its last output.
      for (const step of detail.steps ?? []) if (step.status === "completed") outputs[step.node_id] = step.outputs;
      return { id: detail.id, inputs: detail.inputs, outputs };
    })()
      .then((found) => current && setRun(found))
      // Previews are a help: without readable runs the fields simply show none.
      .catch(() => current && setRun(null));
    return () => {
      current = false;
    };
  }, [workflowId]);
  return run;
}

/** Pinned data wins over the last run's, node by node (the trigger's pin is the run input). */
export function expressionSample(
  pinned: PinnedData | undefined,
  lastRun: LastRun | null,
  triggerId: string | undefined,
  variables: unknown,
): ExpressionSample | null {
  const pins = Object.entries(pinned ?? {});
  if (!pins.length && !lastRun) return null;
  const nodes: ExpressionData["nodes"] = {};
  for (const [id, output] of Object.entries(lastRun?.outputs ?? {})) nodes[id] = { status: "completed", output };
  let input: unknown = lastRun?.inputs ?? {};
  for (const [id, value] of pins) {
    if (id === triggerId) input = value;
    else nodes[id] = { status: "completed", output: value };
  }
  // Variables start at their declared initial values.
  const vars: Record<string, unknown> = {};
  if (variables && typeof variables === "object")
    for (const [name, declaration] of Object.entries(variables as Record<string, { initial?: unknown }>))
      vars[name] = declaration?.initial ?? null;
  const source = pins.length ? (lastRun ? "pinned data and the last run" : "pinned data") : "the last run";
  return { data: { input, vars, nodes, item: null, index: null, iteration: null }, source };
}

export function useExpressionSample(
  workflowId: string | undefined,
  pinned: PinnedData | undefined,
  triggerId: string | undefined,
  variables: unknown,
): ExpressionSample | null {
  const lastRun = useLastRun(workflowId);
  return useMemo(
    () => expressionSample(pinned, lastRun, triggerId, variables),
    [pinned, lastRun, triggerId, variables],
  );
}
