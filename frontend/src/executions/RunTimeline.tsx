/** A run's steps on one time axis (a Gantt chart): when each started, how long it took, and
 * which ran at the same time. */
import type { ExecutionStep } from "../api/types";
import { duration } from "../pages/ExecutionsPage";
import { STEP_LOOK } from "./runStatus";

export function RunTimeline({
  steps,
  now,
  onSelect,
}: {
  steps: ExecutionStep[];
  /** Where a step still running ends on the chart (ms since the epoch). */
  now: number;
  onSelect: (nodeId: string) => void;
}) {
  if (steps.length === 0) return null;
  const spans = steps.map((step) => {
    const start = new Date(step.started_at).getTime();
    const end = step.completed_at ? new Date(step.completed_at).getTime() : Math.max(now, start);
    return { step, start, end };
  });
  const first = Math.min(...spans.map((s) => s.start));
  const last = Math.max(...spans.map((s) => s.end));
  const total = Math.max(last - first, 1);
  return (
    <figure className="run-timeline" aria-label="Timeline of the steps">
      <ol>
        {spans
          .sort((a, b) => a.start - b.start)
          .map(({ step, start, end }) => {
            const left = ((start - first) / total) * 100;
            const width = Math.max(((end - start) / total) * 100, 0.5);
            const label = `${step.node_id}${step.iteration ? ` #${step.iteration}` : ""}`;
            return (
              <li key={`${step.node_id}-${step.iteration}`} data-testid="timeline-row">
                <button type="button" className="link-button timeline-label" onClick={() => onSelect(step.node_id)}>
                  <code>{label}</code>
                </button>
                <span className="timeline-track">
                  <span
                    className={`timeline-bar run-status-${step.status}`}
                    style={{ left: `${left}%`, width: `${width}%` }}
                    title={`${label}: ${STEP_LOOK[step.status]?.label ?? step.status}, ${duration(step.duration_ms ?? end - start)}`}
                  />
                </span>
                <span className="muted small timeline-duration">{duration(step.duration_ms ?? end - start)}</span>
              </li>
            );
          })}
      </ol>
      <figcaption className="muted small">
        {duration(total)} from the first step's start to the last one's end.
      </figcaption>
    </figure>
  );
}
