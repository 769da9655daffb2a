/** An edge labelled with its outcome, with a badge when the compiler reports a problem on it. */
import { BaseEdge, EdgeLabelRenderer, getSmoothStepPath, type EdgeProps } from "@xyflow/react";
import { problemsOf, useCanvasInfo } from "./canvasContext";
import { BACK } from "./definition";
import type { WorkflowEdge } from "./graph";
import { ProblemBadge } from "./ProblemBadge";

export function FlowEdge(props: EdgeProps<WorkflowEdge>) {
  const {
    id,
    sourceX,
    sourceY,
    targetX,
    targetY,
    sourcePosition,
    targetPosition,
    data,
    markerEnd,
    selected,
    sourceHandleId,
  } = props;
  const info = useCanvasInfo();
  // A back edge leaves downwards and enters the loop from the side: give it room to turn.
  const [path, labelX, labelY] = getSmoothStepPath({
    sourceX,
    sourceY,
    targetX,
    targetY,
    sourcePosition,
    targetPosition,
    borderRadius: 10,
    offset: props.targetHandleId === BACK ? 40 : 20,
  });
  const problems = problemsOf(info.edgeProblems, id);
  const label = data?.label || (sourceHandleId && sourceHandleId !== "next" ? sourceHandleId : null);
  const className = problems.some((p) => p.severity !== "warning")
    ? "edge-error"
    : problems.length
      ? "edge-warning"
      : "";
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
        markerEnd={markerEnd}
        className={`${className} ${selected ? "edge-selected" : ""}`}
      />
      {(label || problems.length > 0) && (
        <EdgeLabelRenderer>
          <div
            className="edge-label"
            style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
            data-testid={`edge-${id}`}
          >
            {label && <span>{label}</span>}
            {problems.length > 0 && <ProblemBadge problems={problems} />}
          </div>
        </EdgeLabelRenderer>
      )}
    </>
  );
}
