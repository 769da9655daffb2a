/** Runs of the workflows the user can see, newest first, found by id and filtered by status,
 * workflow, trigger, test runs and date range. */
import { useEffect, useState } from "react";
import { api, type Page } from "../api/client";
import { hasRoute } from "../api/capabilities";
import { EXECUTION_STATUSES, type Execution, type Workflow } from "../api/types";
import { Link } from "../app/router";
import { useAsync } from "../app/useAsync";
import { useWorkspace } from "../app/workspace";
import { formatDate } from "../ui/format";
import { ComingSoon } from "./ComingSoon";
import { LoadingRow } from "../ui/LoadingRow";

const STATUS_COLORS: Record<string, string> = {
  pending: "#6B7280",
  running: "#2563EB",
  waiting: "#B45309",
  completed: "#16A34A",
  failed: "#DC2626",
  skipped: "#6B7280",
  canceled: "#475569",
};

export function StatusChipOf({ status }: { status: string }) {
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

const TRIGGER_KINDS = ["manual", "webhook", "schedule", "child", "retry"];

export function duration(ms: number | null): string {
  if (ms === null) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

export function ExecutionsPage() {
  const { projectId } = useWorkspace();
  const [available, setAvailable] = useState<boolean | null>(null);
  const [status, setStatus] = useState("");
  const [workflowId, setWorkflowId] = useState("");
  const [search, setSearch] = useState("");
  const [trigger, setTrigger] = useState("");
  const [kind, setKind] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const idPrefix = /^[0-9a-fA-F-]{1,36}$/.test(search.trim()) ? search.trim() : "";
  useEffect(() => {
    void hasRoute("/api/v1/executions").then(setAvailable);
  }, []);
  const executions = useAsync(
    () =>
      available
        ? api<Page<Execution>>("/executions", {
            query: {
              status,
              project_id: projectId,
              workflow_id: workflowId,
              q: idPrefix,
              trigger_kind: trigger,
              is_test: kind === "" ? undefined : kind === "test",
              // Dates are whole days in the browser's time zone; "to" includes its day.
              started_after: from ? new Date(`${from}T00:00:00`).toISOString() : undefined,
              started_before: to
                ? new Date(new Date(`${to}T00:00:00`).getTime() + 86_400_000).toISOString()
                : undefined,
              limit: 100,
            },
          })
        : Promise.resolve(null),
    `${available}|${status}|${projectId}|${workflowId}|${idPrefix}|${trigger}|${kind}|${from}|${to}`,
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
      <div className="filters" role="search">
        <label htmlFor="execution-search" className="visually-hidden">
          Find a run by id
        </label>
        <input
          id="execution-search"
          type="search"
          placeholder="Run id…"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
          aria-invalid={search.trim() !== "" && !idPrefix ? true : undefined}
        />
        <label htmlFor="execution-status-filter">Status</label>
        <select id="execution-status-filter" value={status} onChange={(event) => setStatus(event.target.value)}>
          <option value="">All</option>
          {EXECUTION_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <label htmlFor="execution-workflow-filter">Workflow</label>
        <select
          id="execution-workflow-filter"
          value={workflowId}
          onChange={(event) => setWorkflowId(event.target.value)}
        >
          <option value="">All</option>
          {workflows.data?.items.map((w) => (
            <option key={w.id} value={w.id}>
              {w.display_name || w.name}
            </option>
          ))}
        </select>
        <label htmlFor="execution-trigger-filter">Trigger</label>
        <select id="execution-trigger-filter" value={trigger} onChange={(event) => setTrigger(event.target.value)}>
          <option value="">All</option>
          {TRIGGER_KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <label htmlFor="execution-kind-filter">Runs</label>
        <select id="execution-kind-filter" value={kind} onChange={(event) => setKind(event.target.value)}>
          <option value="">All</option>
          <option value="deployed">Of deployed versions</option>
          <option value="test">Test runs of drafts</option>
        </select>
        <label htmlFor="execution-from">From</label>
        <input id="execution-from" type="date" value={from} onChange={(event) => setFrom(event.target.value)} />
        <label htmlFor="execution-to">To</label>
        <input id="execution-to" type="date" value={to} onChange={(event) => setTo(event.target.value)} />
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
              <td>
                {run.trigger_kind}
                {run.is_test && (
                  <span className="chip chip-test" title="A test run of the draft, started from the builder">
                    test
                  </span>
                )}
              </td>
              <td>{formatDate(run.started_at)}</td>
              <td>{duration(run.duration_ms)}</td>
              <td className="muted error-cell" title={run.error ?? undefined}>
                {run.error?.split("\n")[0] ?? ""}
              </td>
            </tr>
          ))}
          {executions.loading && !executions.data && <LoadingRow colSpan={6} what="runs" />}
          {executions.data && executions.data.items.length === 0 && (
            <tr>
              <td colSpan={6} className="empty">
                {status || workflowId || idPrefix || trigger || kind || from || to
                  ? "No runs match these filters."
                  : "No runs yet. Deploy a workflow and start it to see its runs here."}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
