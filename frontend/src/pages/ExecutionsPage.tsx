/** Runs of the workflows the user can see, newest first, filtered by status and project. */
import { useEffect, useState } from "react";
import { api, errorMessage, type Page } from "../api/client";
import { hasRoute } from "../api/capabilities";
import { EXECUTION_STATUSES, type Execution, type ExecutionDetail, type Workflow } from "../api/types";
import { Link } from "../app/router";
import { useAsync } from "../app/useAsync";
import { useWorkspace } from "../app/workspace";
import { formatDate } from "../ui/format";
import { ComingSoon } from "./ComingSoon";

const STATUS_COLORS: Record<string, string> = {
  pending: "#6B7280",
  running: "#2563EB",
  completed: "#16A34A",
  failed: "#DC2626",
  canceled: "#475569",
};

function StatusChipOf({ status }: { status: string }) {
  return (
    <span
      className="chip"
      data-status={status}
      style={{ ["--chip-color" as string]: STATUS_COLORS[status] ?? "#6B7280" }}
    >
      {status}
    </span>
  );
}

function duration(ms: number | null): string {
  if (ms === null) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

export function ExecutionsPage() {
  const { projectId } = useWorkspace();
  const [available, setAvailable] = useState<boolean | null>(null);
  const [status, setStatus] = useState("");
  useEffect(() => {
    void hasRoute("/api/v1/executions").then(setAvailable);
  }, []);
  const executions = useAsync(
    () =>
      available
        ? api<Page<Execution>>("/executions", { query: { status, project_id: projectId, limit: 100 } })
        : Promise.resolve(null),
    `${available}|${status}|${projectId}`,
  );
  const workflows = useAsync(
    () => (available ? api<Page<Workflow>>("/workflows", { query: { limit: 200 } }) : Promise.resolve(null)),
    `${available}`,
  );
  if (available === false) return <ComingSoon title="Executions" />;
  const names = new Map((workflows.data?.items ?? []).map((w) => [w.id, w.display_name || w.name]));

  return (
    <section aria-labelledby="executions-title">
      <div className="page-header">
        <h1 id="executions-title">Executions</h1>
        <button type="button" onClick={executions.reload}>
          Refresh
        </button>
      </div>
      <p className="lead">Runs of your workflows, newest first.</p>
      <div className="filters">
        <label htmlFor="execution-status-filter">Status</label>
        <select id="execution-status-filter" value={status} onChange={(event) => setStatus(event.target.value)}>
          <option value="">All</option>
          {EXECUTION_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      {executions.error && (
        <p role="alert" className="form-error">
          {executions.error}
        </p>
      )}
      <table className="table">
        <caption className="visually-hidden">Executions</caption>
        <thead>
          <tr>
            <th scope="col">Workflow</th>
            <th scope="col">Status</th>
            <th scope="col">Trigger</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody>
          {executions.data?.items.map((run) => (
            <tr key={run.id}>
              <td>
                <Link to={`/executions/${run.id}`}>{names.get(run.workflow_id) ?? run.workflow_id}</Link>
                <div className="muted small">
                  <code>{run.id}</code>
                </div>
              </td>
              <td>
                <StatusChipOf status={run.status} />
              </td>
              <td>{run.trigger_kind}</td>
              <td>{formatDate(run.started_at)}</td>
              <td>{duration(run.duration_ms)}</td>
              <td className="muted">{run.error ?? ""}</td>
            </tr>
          ))}
          {executions.data && executions.data.items.length === 0 && (
            <tr>
              <td colSpan={6} className="empty">
                No runs yet. Deploy a workflow and start it to see its runs here.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

function Json({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <span className="muted">—</span>;
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}

/** One run: its inputs, outputs, error and every node's step; cancel or retry it. */
export function ExecutionPage({ executionId }: { executionId: string }) {
  const run = useAsync(() => api<ExecutionDetail>(`/executions/${executionId}`), executionId);
  const [actionError, setActionError] = useState<string | null>(null);
  const act = async (action: "cancel" | "retry") => {
    setActionError(null);
    try {
      await api(`/executions/${executionId}/${action}`, { method: "POST" });
      run.reload();
    } catch (reason) {
      setActionError(errorMessage(reason));
    }
  };
  const detail = run.data;
  const live = detail?.status === "pending" || detail?.status === "running";
  const { reload } = run;
  useEffect(() => {
    if (!live) return;
    const timer = window.setInterval(reload, 3000);
    return () => window.clearInterval(timer);
  }, [live, reload]);
  return (
    <section aria-labelledby="execution-title">
      <div className="page-header">
        <h1 id="execution-title">Run {detail && <StatusChipOf status={detail.status} />}</h1>
        <div className="actions-row">
          <Link to="/executions">All executions</Link>
          <button type="button" onClick={run.reload}>
            Refresh
          </button>
          {detail && (detail.status === "pending" || detail.status === "running") && (
            <button type="button" className="danger" onClick={() => void act("cancel")}>
              Cancel run
            </button>
          )}
          {detail?.status === "failed" && (
            <button type="button" onClick={() => void act("retry")}>
              Retry from the failed node
            </button>
          )}
        </div>
      </div>
      {(run.error || actionError) && (
        <p role="alert" className="form-error">
          {run.error ?? actionError}
        </p>
      )}
      {detail && (
        <>
          <dl className="facts">
            <dt>Run id</dt>
            <dd>
              <code>{detail.id}</code>
            </dd>
            <dt>Workflow</dt>
            <dd>
              <Link to={`/workflows/${detail.workflow_id}`}>Open in the builder</Link>
            </dd>
            <dt>Trigger</dt>
            <dd>{detail.trigger_kind}</dd>
            <dt>Started</dt>
            <dd>{formatDate(detail.started_at)}</dd>
            <dt>Duration</dt>
            <dd>{duration(detail.duration_ms)}</dd>
            {detail.error && (
              <>
                <dt>Error</dt>
                <dd className="field-error">{detail.error}</dd>
              </>
            )}
          </dl>
          <div className="two-columns">
            <div>
              <h2>Inputs</h2>
              <Json value={detail.inputs} />
            </div>
            <div>
              <h2>Outputs</h2>
              <Json value={detail.outputs} />
            </div>
          </div>
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
              {detail.steps.map((step) => (
                <tr key={`${step.node_id}-${step.iteration}`}>
                  <td>
                    <code>{step.node_id}</code>
                    {step.iteration && <span className="muted small"> #{step.iteration}</span>}
                    <div className="muted small">{step.node_type}</div>
                  </td>
                  <td>
                    <StatusChipOf status={step.status} />
                  </td>
                  <td>{step.attempts}</td>
                  <td>{formatDate(step.started_at)}</td>
                  <td>{duration(step.duration_ms)}</td>
                  <td className="muted">{step.error ?? ""}</td>
                </tr>
              ))}
              {detail.steps.length === 0 && (
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
