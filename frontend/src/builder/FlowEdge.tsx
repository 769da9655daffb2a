/** An edge labelled with its outcome, with a badge when the compiler reports a problem on it. */
import { BaseEdge, EdgeLabelRenderer, getSmoothStepPath, type EdgeProps } from "@xyflow/react";
import type { WorkflowEdge } from "./graph";
import { ProblemBadge } from "./ProblemBadge";

export function FlowEdge(props: EdgeProps<WorkflowEdge>) {
  const { id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data, markerEnd, selected } = props;
  const [path, labelX, labelY] = getSmoothStepPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, borderRadius: 10 });
  const problems = data?.problems ?? [];
  const label = data?.label || (data?.outcome && data.outcome !== "next" ? data.outcome : null);
  const className = problems.some((p) => p.severity !== "warning") ? "edge-error" : problems.length ? "edge-warning" : "";
  return (
    <>
      <BaseEdge id={id} path={path} markerEnd={markerEnd} className={`${className} ${selected ? "edge-selected" : ""}`} />
      {(label || problems.length > 0) && (
        <EdgeLabelRenderer>
          <div className="edge-label" style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }} data-testid={`edge-${id}`}>
            {label && <span>{label}</span>}
            {problems.length > 0 && <ProblemBadge problems={problems} />}
          </div>
        </EdgeLabelRenderer>
      )}
    </>
  );
}
