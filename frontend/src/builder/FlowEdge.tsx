/** An edge labelled with its outcome, with a badge when the compiler reports a problem on it.
 * The drawing is memoized on its coordinates and problems: a change to the canvas's
 * information redraws only the edges whose look changed. */
import { memo } from "react";
import { BaseEdge, EdgeLabelRenderer, getSmoothStepPath, Position, type EdgeProps } from "@xyflow/react";
import type { Problem } from "../api/types";
import { problemsOf, useCanvasInfo } from "./canvasContext";
import { BACK } from "./definition";
import type { WorkflowEdge } from "./graph";
import { ProblemBadge } from "./ProblemBadge";

export function FlowEdge(props: EdgeProps<WorkflowEdge>) {
  const info = useCanvasInfo();
  const { id, data, sourceHandleId } = props;
  return (
    <EdgeBody
      id={id}
      sourceX={props.sourceX}
      sourceY={props.sourceY}
      targetX={props.targetX}
      targetY={props.targetY}
      sourcePosition={props.sourcePosition}
      targetPosition={props.targetPosition}
      markerEnd={props.markerEnd}
      selected={Boolean(props.selected)}
      back={props.targetHandleId === BACK}
      label={data?.label || (sourceHandleId && sourceHandleId !== "next" ? sourceHandleId : null)}
      problems={problemsOf(info.edgeProblems, id)}
    />
  );
}

interface BodyProps {
  id: string;
  sourceX: number;
  sourceY: number;
  targetX: number;
  targetY: number;
  sourcePosition: Position;
  targetPosition: Position;
  markerEnd: string | undefined;
  selected: boolean;
  back: boolean;
  label: string | null;
  problems: Problem[];
}

const EdgeBody = memo(function EdgeBody({ id, markerEnd, selected, back, label, problems, ...ends }: BodyProps) {
  // A back edge leaves downwards and enters the loop from the side: give it room to turn.
  const [path, labelX, labelY] = getSmoothStepPath({ ...ends, borderRadius: 10, offset: back ? 40 : 20 });
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
});
