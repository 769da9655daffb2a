/** Statistics of the caller's runs: runs over time per status, success rate and durations per
 * workflow, calls and durations per component. Charts are plain SVG, each with a table of its
 * numbers for screen readers and keyboard users. */
import { useState } from "react";
import { api, type Page } from "../api/client";
import { hasRoute } from "../api/capabilities";
import type { Workflow } from "../api/types";
import { useAsync } from "../app/useAsync";
import { useWorkspace } from "../app/workspace";
import { ComingSoon } from "./ComingSoon";
import { duration } from "./ExecutionsPage";

interface StatusCounts {
  total: number;
  pending: number;
  running: number;
  completed: number;
  failed: number;
  canceled: number;
  /** Of the counted runs, the test runs of drafts. */
  test_runs: number;
}

interface RunStatistics {
  window: { since: string; until: string; bucket: "hour" | "day" };
  totals: StatusCounts & { success_rate: number | null };
  buckets: (StatusCounts & { start: string })[];
  /** The test runs `tests=exclude` left out of every number. */
  test_runs_left_out: number;
}

interface WorkflowStatistics {
  workflow_id: string;
  name: string;
  display_name: string | null;
  runs: number;
  completed: number;
  failed: number;
  canceled: number;
  test_runs: number;
  test_runs_left_out: number;
  success_rate: number | null;
  avg_duration_ms: number | null;
  p50_duration_ms: number | null;
  p95_duration_ms: number | null;
  p99_duration_ms: number | null;
}

interface ComponentStatistics {
  component_id: string;
  name: string | null;
  display_name: string | null;
  type: string | null;
  execution_count: number;
  success_count: number;
  failure_count: number;
  avg_duration_ms: number | null;
  min_duration_ms: number | null;
  max_duration_ms: number | null;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

const WINDOWS = {
  "24h": { label: "Last 24 hours", hours: 24, bucket: "hour" },
  "7d": { label: "Last 7 days", hours: 24 * 7, bucket: "day" },
  "30d": { label: "Last 30 days", hours: 24 * 30, bucket: "day" },
} as const;
type WindowKey = keyof typeof WINDOWS;

/** Test runs of drafts (started from the builder) are counted apart: left out by default, so the
 * numbers are those of deployed versions. */
const TEST_RUNS = {
  exclude: "Left out",
  include: "Counted with the others",
  only: "Only test runs",
} as const;
type TestRunsKey = keyof typeof TEST_RUNS;

/** How a test run count reads: "3", or "3 left out" when they were not counted. */
function testRunsText(counted: number, leftOut: number, tests: TestRunsKey): string {
  return tests === "exclude" ? `${leftOut} left out` : String(counted);
}

const SERIES = [
  { key: "completed", label: "completed", color: "#16A34A" },
  { key: "failed", label: "failed", color: "#DC2626" },
  { key: "canceled", label: "canceled", color: "#475569" },
  { key: "running", label: "running", color: "#2563EB" },
  { key: "pending", label: "pending", color: "#9CA3AF" },
] as const;

function percent(rate: number | null): string {
  return rate === null ? "—" : `${Math.round(rate * 1000) / 10}%`;
}

function ms(value: number | null): string {
  return value === null ? "—" : duration(Math.round(value));
}

function bucketLabel(iso: string, bucket: "hour" | "day"): string {
  const date = new Date(iso);
  return bucket === "hour"
    ? date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

function RunsOverTime({ stats }: { stats: RunStatistics }) {
  const { buckets, window } = stats;
  const width = 960;
  const height = 180;
  const left = 32;
  const bottom = 22;
  const max = Math.max(1, ...buckets.map((b) => b.total));
  const slot = (width - left) / Math.max(1, buckets.length);
  const bar = Math.max(2, slot * 0.7);
  const scale = (value: number) => (value / max) * (height - bottom - 8);
  const labelEvery = Math.ceil(buckets.length / 8);
  return (
    <figure className="chart" aria-labelledby="runs-over-time-title">
      <figcaption id="runs-over-time-title">
        <h2>Runs over time</h2>
      </figcaption>
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`Runs per ${window.bucket}: ${stats.totals.total} in all`}
        data-testid="runs-chart"
      >
        <line x1={left} y1={height - bottom} x2={width} y2={height - bottom} className="chart-axis" />
        <text x={left - 6} y={12} className="chart-tick" textAnchor="end">
          {max}
        </text>
        <text x={left - 6} y={height - bottom} className="chart-tick" textAnchor="end">
          0
        </text>
        {buckets.map((b, index) => {
          const x = left + index * slot + (slot - bar) / 2;
          let y = height - bottom;
          return (
            <g key={b.start} data-testid="runs-bucket" data-total={b.total}>
              <title>
                {`${bucketLabel(b.start, window.bucket)}: ${b.total} runs (${SERIES.map((s) => `${b[s.key]} ${s.label}`).join(", ")})`}
              </title>
              {SERIES.map((s) => {
                const h = scale(b[s.key]);
                if (!h) return null;
                y -= h;
                return <rect key={s.key} x={x} y={y} width={bar} height={h} fill={s.color} />;
              })}
              {index % labelEvery === 0 && (
                <text x={x + bar / 2} y={height - 6} className="chart-tick" textAnchor="middle">
                  {bucketLabel(b.start, window.bucket)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <ul className="chart-legend">
        {SERIES.map((s) => (
          <li key={s.key}>
            <span className="swatch" style={{ background: s.color }} aria-hidden="true" /> {s.label}
          </li>
        ))}
      </ul>
      <details>
        <summary>Runs over time as a table</summary>
        <table className="table">
          <thead>
            <tr>
              <th scope="col">{window.bucket === "hour" ? "Hour" : "Day"}</th>
              <th scope="col">Runs</th>
              {SERIES.map((s) => (
                <th scope="col" key={s.key}>
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {buckets
              .filter((b) => b.total > 0)
              .map((b) => (
                <tr key={b.start}>
                  <td>{new Date(b.start).toLocaleString()}</td>
                  <td>{b.total}</td>
                  {SERIES.map((s) => (
                    <td key={s.key}>{b[s.key]}</td>
                  ))}
                </tr>
              ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

/** Horizontal bars: one row per item, the value's share of the largest (or of 1 for rates). */
function BarList({
  title,
  id,
  note,
  rows,
}: {
  title: string;
  id: string;
  note?: string;
  rows: { key: string; label: string; value: number | null; text: string; color: string; detail?: string }[];
}) {
  const max = Math.max(1e-9, ...rows.map((r) => r.value ?? 0));
  return (
    <figure className="chart" aria-labelledby={`${id}-title`}>
      <figcaption id={`${id}-title`}>
        <h2>{title}</h2>
        {note && <p className="muted small">{note}</p>}
      </figcaption>
      {rows.length === 0 ? (
        <p className="muted">No data in this window.</p>
      ) : (
        <ul className="bar-list" data-testid={id}>
          {rows.map((row) => (
            <li key={row.key}>
              <span className="bar-label" title={row.label}>
                {row.label}
              </span>
              <svg className="bar-track" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
                <rect x="0" y="0" width={((row.value ?? 0) / max) * 100} height="10" fill={row.color} />
              </svg>
              <span className="bar-value">
                {row.text}
                {row.detail && <span className="muted small"> {row.detail}</span>}
              </span>
            </li>
          ))}
        </ul>
      )}
    </figure>
  );
}

export function StatisticsPage() {
  const { projectId } = useWorkspace();
  const [windowKey, setWindowKey] = useState<WindowKey>("7d");
  const [workflowId, setWorkflowId] = useState("");
  const [tests, setTests] = useState<TestRunsKey>("exclude");
  const available = useAsync(() => hasRoute("/api/v1/statistics/runs"), "statistics");
  const choice = WINDOWS[windowKey];
  // The window is fixed when the filters change, so every chart covers the same span.
  const key = `${available.data}|${projectId}|${workflowId}|${windowKey}|${tests}`;
  const stats = useAsync(async () => {
    if (!available.data) return null;
    const until = new Date();
    const since = new Date(until.getTime() - choice.hours * 3600_000);
    const scope = { project_id: projectId, workflow_id: workflowId };
    const window = { since: since.toISOString(), until: until.toISOString() };
    const [runs, workflows, components] = await Promise.all([
      api<RunStatistics>("/statistics/runs", { query: { ...scope, ...window, bucket: choice.bucket, tests } }),
      api<{ items: WorkflowStatistics[] }>("/statistics/workflows", { query: { ...scope, ...window, tests } }),
      api<ComponentStatistics[]>("/statistics/components", { query: scope }),
    ]);
    return { runs, workflows: workflows.items, components };
  }, key);
  const workflows = useAsync(
    () => api<Page<Workflow>>("/workflows", { query: { limit: 200, project_id: projectId } }),
    `${projectId}`,
  );
  if (available.data === false) return <ComingSoon title="Statistics" />;
  const data = stats.data;
  return (
    <section aria-labelledby="statistics-title" className="statistics">
      <div className="page-header">
        <h1 id="statistics-title">Statistics</h1>
        <button type="button" onClick={stats.reload}>
          Refresh
        </button>
      </div>
      <p className="lead">
        Runs of the workflows you can see, in the project chosen at the top. Test runs of drafts are left out unless you
        choose otherwise.
      </p>
      <div className="filters">
        <label htmlFor="statistics-window">Window</label>
        <select
          id="statistics-window"
          value={windowKey}
          onChange={(event) => setWindowKey(event.target.value as WindowKey)}
        >
          {Object.entries(WINDOWS).map(([value, w]) => (
            <option key={value} value={value}>
              {w.label}
            </option>
          ))}
        </select>
        <label htmlFor="statistics-workflow">Workflow</label>
        <select id="statistics-workflow" value={workflowId} onChange={(event) => setWorkflowId(event.target.value)}>
          <option value="">All workflows</option>
          {workflows.data?.items.map((w) => (
            <option key={w.id} value={w.id}>
              {w.display_name || w.name}
            </option>
          ))}
        </select>
        <label htmlFor="statistics-tests">Test runs</label>
        <select id="statistics-tests" value={tests} onChange={(event) => setTests(event.target.value as TestRunsKey)}>
          {Object.entries(TEST_RUNS).map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </div>
      {stats.error && (
        <p role="alert" className="form-error">
          {stats.error}
        </p>
      )}
      {stats.loading && !data && (
        <p className="loading-row" role="status">
          <span className="spinner" aria-hidden="true" /> Loading statistics…
        </p>
      )}
      {data && (
        <>
          <dl className="stat-tiles">
            <div>
              <dt>Runs</dt>
              <dd data-testid="total-runs">{data.runs.totals.total}</dd>
            </div>
            <div>
              <dt>Success rate</dt>
              <dd data-testid="success-rate">{percent(data.runs.totals.success_rate)}</dd>
            </div>
            <div>
              <dt>Completed</dt>
              <dd>{data.runs.totals.completed}</dd>
            </div>
            <div>
              <dt>Failed</dt>
              <dd>{data.runs.totals.failed}</dd>
            </div>
            <div>
              <dt>In progress</dt>
              <dd data-testid="in-progress">{data.runs.totals.running + data.runs.totals.pending}</dd>
            </div>
            <div title="Runs of a draft started with Test draft in the builder">
              <dt>Test runs</dt>
              <dd data-testid="test-runs">
                {testRunsText(data.runs.totals.test_runs, data.runs.test_runs_left_out, tests)}
              </dd>
            </div>
          </dl>
          <RunsOverTime stats={data.runs} />
          <div className="two-columns">
            <BarList
              title="Success rate per workflow"
              id="success-chart"
              note="Completed ÷ (completed + failed) among the runs started in the window."
              rows={data.workflows.map((w) => ({
                key: w.workflow_id,
                label: w.display_name || w.name,
                value: w.success_rate,
                text: percent(w.success_rate),
                detail: `of ${w.completed + w.failed} finished`,
                color: "#16A34A",
              }))}
            />
            <BarList
              title="Duration per component"
              id="component-chart"
              note="Average per call since the first run of the selected workflows; calls of test runs never count here, and the window does not apply."
              rows={data.components.map((c) => ({
                key: c.component_id,
                label: c.display_name || c.name || c.component_id,
                value: c.avg_duration_ms,
                text: ms(c.avg_duration_ms),
                detail: `avg of ${c.execution_count}`,
                color: "#2454D6",
              }))}
            />
          </div>
          <h2>Per workflow</h2>
          <table className="table">
            <caption className="visually-hidden">Runs and durations per workflow</caption>
            <thead>
              <tr>
                <th scope="col">Workflow</th>
                <th scope="col">Runs</th>
                <th scope="col">Completed</th>
                <th scope="col">Failed</th>
                <th scope="col">Test runs</th>
                <th scope="col">Success</th>
                <th scope="col">Average</th>
                <th scope="col">p50</th>
                <th scope="col">p95</th>
                <th scope="col">p99</th>
              </tr>
            </thead>
            <tbody>
              {data.workflows.map((w) => (
                <tr key={w.workflow_id}>
                  <td>{w.display_name || w.name}</td>
                  <td>{w.runs}</td>
                  <td>{w.completed}</td>
                  <td>{w.failed}</td>
                  <td>{testRunsText(w.test_runs, w.test_runs_left_out, tests)}</td>
                  <td>{percent(w.success_rate)}</td>
                  <td>{ms(w.avg_duration_ms)}</td>
                  <td>{ms(w.p50_duration_ms)}</td>
                  <td>{ms(w.p95_duration_ms)}</td>
                  <td>{ms(w.p99_duration_ms)}</td>
                </tr>
              ))}
              {data.workflows.length === 0 && (
                <tr>
                  <td colSpan={10} className="empty">
                    No runs in this window.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <h2>Per component</h2>
          <table className="table">
            <caption className="visually-hidden">Calls, durations, tokens and cost per component</caption>
            <thead>
              <tr>
                <th scope="col">Component</th>
                <th scope="col">Calls</th>
                <th scope="col">Failures</th>
                <th scope="col">Average</th>
                <th scope="col">Min</th>
                <th scope="col">Max</th>
                <th scope="col">Tokens in / out</th>
                <th scope="col">Cost</th>
              </tr>
            </thead>
            <tbody>
              {data.components.map((c) => (
                <tr key={c.component_id}>
                  <td>
                    {c.display_name || c.name}
                    <div className="muted small">{c.type}</div>
                  </td>
                  <td>{c.execution_count}</td>
                  <td>{c.failure_count}</td>
                  <td>{ms(c.avg_duration_ms)}</td>
                  <td>{ms(c.min_duration_ms)}</td>
                  <td>{ms(c.max_duration_ms)}</td>
                  <td>
                    {c.input_tokens} / {c.output_tokens}
                  </td>
                  <td>${c.cost_usd.toFixed(4)}</td>
                </tr>
              ))}
              {data.components.length === 0 && (
                <tr>
                  <td colSpan={8} className="empty">
                    No component calls yet (all time).
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
