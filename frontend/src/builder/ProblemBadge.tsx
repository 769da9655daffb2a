/** A count of errors or warnings whose messages show on hover and focus. */
import type { Problem } from "../api/types";

export function ProblemBadge({ problems }: { problems: Problem[] }) {
  const errors = problems.filter((p) => p.severity !== "warning");
  const severity = errors.length ? "error" : "warning";
  const summary = problems
    .map((p) => `${p.severity === "warning" ? "Warning" : "Error"} (${p.code}): ${p.message}`)
    .join("\n");
  return (
    <span
      className={`problem-badge problem-${severity}`}
      data-testid="problem-badge"
      data-severity={severity}
      title={summary}
      role="img"
      aria-label={`${problems.length} ${severity === "error" ? "error" : "warning"}${problems.length > 1 ? "s" : ""}: ${summary}`}
    >
      {severity === "error" ? "✕" : "!"} {problems.length}
    </span>
  );
}
