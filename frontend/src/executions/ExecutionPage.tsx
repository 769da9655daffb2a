/** One run: its graph with each node's live status, the chosen node's steps, and what can be
 * done to the run (signal, query, add work-queue items, cancel, retry). Loaded lazily: it
 * brings the canvas library. */
import { Background, Controls, ReactFlow, ReactFlowProvider, useReactFlow, type NodeChange } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useCallback, useEffect, useMemo, useState } from "react";
import { api, type Page } from "../api/client";
import type { Component, ComponentType, ExecutionDetail, ExecutionStep, VersionDetail, Workflow } from "../api/types";
import { readDeploymentState } from "../api/deployments";
import { Link, navigate } from "../app/router";
import { RunTimeline } from "./RunTimeline";
import { useAsync } from "../app/useAsync";
import { useDocumentTitle } from "../app/useDocumentTitle";
import { CanvasContext, indexComponents, type CanvasInfo } from "../builder/canvasContext";
import { FlowEdge } from "../builder/FlowEdge";
import { FlowNode } from "../builder/FlowNode";
import { readDefinition, toFlow, type WorkflowNode } from "../builder/graph";
import { duration, StatusChipOf } from "../pages/ExecutionsPage";
import { formatDate } from "../ui/format";
import { ProblemAlert } from "../ui/ProblemAlert";
import { RunOperations, type Declared } from "./RunOperations";
import { nodeStatuses, STEP_LOOK } from "./runStatus";

const NODE_TYPES = { workflow: FlowNode };
const EDGE_TYPES = { workflow: FlowEdge };
const POLL_MS = 1000;

function Json({ value, label }: { value: unknown; label?: string }) {
  if (value === null || value === undefined) return <span className="muted">—</span>;
  return (
    <pre className="json" aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

function formatMetric(name: string, value: unknown): string {
  if (typeof value !== "number") return JSON.stringify(value);
  if (name === "cost_usd") return `$${value.toFixed(6).replace(/0{1,4}$/, "")}`;
  return value.toLocaleString(undefined, { maximumFractionDigits: 2 });
}

function isLive(status: string | undefined): boolean {
  return status === "pending" || status === "running";
}

/** What the run's pinned version declares; the workflow's current definition when the version
 * cannot be read. */
function useDeclarations(detail: ExecutionDetail | undefined, workflow: Workflow | undefined): Declared {
  const versionKey = detail?.compiled_code_id ? `${detail.workflow_id}/${detail.compiled_code_id}` : "";
  const version = useAsync(
    () =>
      versionKey
        ? api<VersionDetail>(`/workflows/${versionKey.replace("/", "/versions/")}`)
        : Promise.resolve(undefined),
    versionKey,
  );
  return useMemo(() => {
    const plan = version.data?.plan;
    if (plan) return { signals: plan.signals ?? [], queries: plan.queries ?? [], workQueues: plan.work_queues ?? [] };
    const definition = (workflow?.definition ?? {}) as Record<string, unknown>;
    const list = <T,>(key: string) => (Array.isArray(definition[key]) ? (definition[key] as T[]) : []);
    return { signals: list("signals"), queries: list("queries"), workQueues: list("work_queues") };
  }, [version.data, workflow]);
}

function StepDetail({ nodeId, steps, onClose }: { nodeId: string; steps: ExecutionStep[]; onClose: () => void }) {
  return (
    <section className="run-node" aria-label={`Steps of ${nodeId}`}>
      <div className="inspector-header">
        <h2>
          <code>{nodeId}</code>
        </h2>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      {steps.length === 0 && <p className="muted">This node has not run in this run.</p>}
      {steps.map((step) => (
        <section
          key={step.iteration}
          className="run-step"
          aria-label={`Step ${step.node_id}${step.iteration ? ` #${step.iteration}` : ""}`}
        >
          <p>
            <StatusChipOf status={step.status} /> <span className="muted">{step.node_type}</span>
            {step.iteration && <span className="muted"> · iteration {step.iteration}</span>}
          </p>
          <dl className="facts">
            <dt>Attempts</dt>
            <dd>{step.attempts}</dd>
            <dt>Started</dt>
            <dd>{formatDate(step.started_at)}</dd>
            <dt>Finished</dt>
            <dd>{step.completed_at ? formatDate(step.completed_at) : "—"}</dd>
            <dt>Duration</dt>
            <dd>{duration(step.duration_ms)}</dd>
            {step.error && (
              <>
                <dt>Error</dt>
                <dd className="field-error multiline">{step.error}</dd>
              </>
            )}
          </dl>
          <h3>Inputs</h3>
          <Json value={step.inputs} label="Step inputs" />
          <h3>Outputs</h3>
          <Json value={step.outputs} label="Step outputs" />
          {step.metrics && Object.keys(step.metrics).length > 0 && (
            <>
              <h3>Metrics</h3>
              <dl className="facts" aria-label="Step metrics">
                {Object.entries(step.metrics).map(([key, value]) => (
                  <div key={key} className="fact-pair">
                    <dt>{key.replace(/_/g, " ")}</dt>
                    <dd>{formatMetric(key, value)}</dd>
                  </div>
                ))}
              </dl>
            </>
          )}
        </section>
      ))}
    </section>
  );
}

/** Keep the node that is running (or waiting) in view while the run goes on. */
function FollowRunning({ steps }: { steps: ExecutionStep[] }) {
  const { fitView } = useReactFlow();
  const active = steps
    .filter((step) => step.status === "running" || step.status === "waiting")
    .map((step) => step.node_id)
    .sort()
    .join(",");
  useEffect(() => {
    if (!active) return;
    void fitView({ nodes: active.split(",").map((id) => ({ id })), duration: 300, maxZoom: 1, padding: 0.6 });
  }, [active, fitView]);
  return null;
}

function RunCanvas({
  workflow,
  steps,
  selected,
  onSelect,
  info,
  follow,
}: {
  workflow: Workflow;
  steps: ExecutionStep[];
  selected: string | null;
  onSelect: (nodeId: string | null) => void;
  info: Omit<CanvasInfo, "runStatus">;
  follow: boolean;
}) {
  const flow = useMemo(() => toFlow(readDefinition(workflow.definition)), [workflow]);
  const nodes = useMemo(
    () => flow.nodes.map((node) => ({ ...node, selected: node.id === selected })),
    [flow, selected],
  );
  const canvasInfo = useMemo(() => ({ ...info, runStatus: nodeStatuses(steps) }), [info, steps]);
  // Nodes are controlled: a click, or Enter on a focused node, arrives as a selection change.
  const onNodesChange = useCallback(
    (changes: NodeChange<WorkflowNode>[]) => {
      const chosen = changes.find((change) => change.type === "select" && change.selected);
      if (chosen && "id" in chosen) onSelect(chosen.id);
    },
    [onSelect],
  );
  return (
    <div className="canvas run-canvas" aria-label="The run's graph">
      <CanvasContext.Provider value={canvasInfo}>
        <ReactFlow
          nodes={nodes}
          edges={flow.edges}
          nodeTypes={NODE_TYPES}
          edgeTypes={EDGE_TYPES}
          nodesDraggable={false}
          nodesConnectable={false}
          edgesFocusable={false}
          deleteKeyCode={null}
          onNodesChange={onNodesChange}
          fitView
          fitViewOptions={{ padding: 0.2, maxZoom: 1 }}
          // A long workflow still fits whole (React Flow stops zooming out at 0.5 by default).
          minZoom={0.1}
          proOptions={{ hideAttribution: true }}
          colorMode="system"
        >
          <Background gap={16} />
          <Controls showInteractive={false} />
          {follow && <FollowRunning steps={steps} />}
        </ReactFlow>
      </CanvasContext.Provider>
    </div>
  );
}

function Legend() {
  return (
    <ul className="run-legend" aria-label="Node status legend">
      {Object.entries(STEP_LOOK).map(([status, look]) => (
        <li key={status} className={`run-status run-status-${status}`}>
          <span aria-hidden="true">{look.symbol}</span> {look.label}
        </li>
      ))}
    </ul>
  );
}

export function ExecutionPage({ executionId }: { executionId: string }) {
  const run = useAsync(() => api<ExecutionDetail>(`/executions/${executionId}`), executionId);
  const detail = run.data;
  const workflow = useAsync(
    () => (detail ? api<Workflow>(`/workflows/${detail.workflow_id}`) : Promise.resolve(undefined)),
    detail?.workflow_id ?? "",
  );
  const deployedState = useAsync(
    () => (detail?.status === "failed" ? readDeploymentState(detail.workflow_id) : Promise.resolve(undefined)),
    `${detail?.workflow_id ?? ""}:${detail?.status ?? ""}`,
  );
  const deployedVersion = deployedState.data?.deployed_version;
  const newerDeployed = Boolean(deployedVersion && detail && deployedVersion.id !== detail.compiled_code_id);
  const components = useAsync(() => api<Page<Component>>("/components", { query: { limit: 200 } }), "components");
  const types = useAsync(() => api<ComponentType[]>("/component-types"), "types");
  const declared = useDeclarations(detail, workflow.data);
  const [selected, setSelected] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [follow, setFollow] = useState(true);

  const { reload } = run;
  const live = isLive(detail?.status);
  useEffect(() => {
    if (!live) return;
    const timer = window.setInterval(reload, POLL_MS);
    return () => window.clearInterval(timer);
  }, [live, reload]);

  const info = useMemo(
    () => ({
      nodeProblems: new Map(),
      edgeProblems: new Map(),
      components: indexComponents(components.data?.items ?? []),
      typeIcons: new Map((types.data ?? []).filter((t) => t.icon).map((t) => [t.name, t.icon as string])),
    }),
    [components.data, types.data],
  );

  const act = async (action: "cancel" | "retry", version?: "deployed") => {
    setActionError(null);
    setBusy(true);
    try {
      await api(`/executions/${executionId}/${action}`, { method: "POST", query: { version } });
      reload();
    } catch (reason) {
      setActionError(reason);
    } finally {
      setBusy(false);
    }
  };

  useDocumentTitle(
    detail
      ? `Run ${detail.status} · ${workflow.data ? workflow.data.display_name || workflow.data.name : detail.id.slice(0, 8)}`
      : "Run",
  );
  const steps = detail?.steps ?? [];
  const failedNodes = [...new Set(steps.filter((step) => step.status === "failed").map((step) => step.node_id))];

  /** A new run of the same workflow with this run's inputs (a test run again for a test run). */
  const runAgain = async () => {
    if (!detail) return;
    setActionError(null);
    setBusy(true);
    try {
      const path = detail.is_test ? "test-runs" : "executions";
      const started = await api<{ id: string }>(`/workflows/${detail.workflow_id}/${path}`, {
        method: "POST",
        body: { inputs: detail.inputs },
      });
      navigate(`/executions/${started.id}`);
    } catch (reason) {
      setActionError(reason);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="execution-title" className="run-page">
      <div className="page-header">
        <h1 id="execution-title">
          Run {detail && <StatusChipOf status={detail.status} />}
          {live && (
            <span className="muted small live-note" role="status">
              {" "}
              live
            </span>
          )}
        </h1>
        <div className="actions-row">
          <Link to="/executions">All executions</Link>
          <button type="button" onClick={reload}>
            Refresh
          </button>
          {detail && live && (
            <button type="button" className="danger" disabled={busy} onClick={() => void act("cancel")}>
              Cancel run
            </button>
          )}
          {detail && !live && (
            <button type="button" disabled={busy} onClick={() => void runAgain()}>
              Run again with these inputs
            </button>
          )}
          {detail?.status === "failed" && (
            <button type="button" disabled={busy} onClick={() => void act("retry")}>
              Retry from the failed node
            </button>
          )}
          {detail?.status === "failed" && newerDeployed && (
            <button
              type="button"
              disabled={busy}
              onClick={() => void act("retry", "deployed")}
              title="Continue on the version deployed since this run started; steps both versions share keep their results."
            >
              Retry with the deployed version
            </button>
          )}
        </div>
      </div>
      {run.error && (
        <p role="alert" className="form-error">
          {run.error}
        </p>
      )}
      <ProblemAlert error={actionError} />
      {detail && (
        <>
          <dl className="facts facts-inline">
            <dt>Workflow</dt>
            <dd>
              <Link to={`/workflows/${detail.workflow_id}`}>
                {workflow.data ? workflow.data.display_name || workflow.data.name : "Open in the builder"}
              </Link>
            </dd>
            <dt>Run id</dt>
            <dd>
              <code>{detail.id}</code>
              {detail.engine_url && (
                <>
                  {" "}
                  <a href={detail.engine_url} target="_blank" rel="noreferrer">
                    Open in the Temporal Web UI
                  </a>
                </>
              )}
            </dd>
            <dt>Trigger</dt>
            <dd>
              {detail.trigger_kind}
              {detail.is_test && <span className="chip chip-test">test run of a draft</span>}
            </dd>
            <dt>Started</dt>
            <dd>{formatDate(detail.started_at)}</dd>
            <dt>Duration</dt>
            <dd>{duration(detail.duration_ms)}</dd>
            {detail.error && (
              <>
                <dt>Error</dt>
                <dd>
                  <pre className="field-error multiline run-error">{detail.error}</pre>
                  {failedNodes.map((nodeId) => (
                    <span key={nodeId} className="failed-node-links">
                      Failed at <code>{nodeId}</code>:{" "}
                      <button type="button" className="link-button" onClick={() => setSelected(nodeId)}>
                        show its steps
                      </button>{" "}
                      ·{" "}
                      <Link to={`/workflows/${detail.workflow_id}?node=${encodeURIComponent(nodeId)}`}>
                        open it in the builder
                      </Link>
                    </span>
                  ))}
                </dd>
              </>
            )}
          </dl>
          <div className="legend-row">
            <Legend />
            <label className="follow-toggle">
              <input type="checkbox" checked={follow} onChange={(event) => setFollow(event.target.checked)} /> Follow
              the running node
            </label>
          </div>
          <div className="run-body">
            {workflow.data ? (
              <ReactFlowProvider>
                <RunCanvas
                  workflow={workflow.data}
                  steps={steps}
                  selected={selected}
                  onSelect={setSelected}
                  info={info}
                  follow={follow}
                />
              </ReactFlowProvider>
            ) : (
              <div className="canvas run-canvas">
                <p className="builder-message">{workflow.error ?? "Loading the graph…"}</p>
              </div>
            )}
            <aside className="run-side-panel" aria-label="Node details and run operations">
              {selected ? (
                <StepDetail
                  nodeId={selected}
                  steps={steps.filter((step) => step.node_id === selected)}
                  onClose={() => setSelected(null)}
                />
              ) : (
                <p className="muted">Select a node to see its inputs, outputs, error, attempts and times.</p>
              )}
              <RunOperations executionId={executionId} declared={declared} live={live} onDone={reload} />
            </aside>
          </div>
          <div className="two-columns">
            <div>
              <h2>Inputs</h2>
              <Json value={detail.inputs} label="Run inputs" />
            </div>
            <div>
              <h2>Outputs</h2>
              <Json value={detail.outputs} label="Run outputs" />
            </div>
          </div>
          <h2>Timeline</h2>
          <RunTimeline steps={steps} now={Date.now()} onSelect={setSelected} />
          <h2>Steps</h2>
          <table className="table">
            <caption className="visually-hidden">Steps of this run</caption>
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Started</th>
                <th scope="col">Duration</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {steps.map((step) => (
                <tr key={`${step.node_id}-${step.iteration}`}>
                  <td>
                    <button type="button" className="link-button" onClick={() => setSelected(step.node_id)}>
                      <code>{step.node_id}</code>
                    </button>
                    {step.iteration && <span className="muted small"> #{step.iteration}</span>}
                    <div className="muted small">{step.node_type}</div>
                  </td>
                  <td>
                    <StatusChipOf status={step.status} />
                  </td>
                  <td>{step.attempts}</td>
                  <td>{formatDate(step.started_at)}</td>
                  <td>{duration(step.duration_ms)}</td>
                  <td className="muted multiline">{step.error ?? ""}</td>
                </tr>
              ))}
              {steps.length === 0 && (
                <tr>
                  <td colSpan={6} className="empty">
                    No step has run yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
