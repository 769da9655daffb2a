/** A workflow node on the canvas: icon, name, problems badge, and one labelled source handle per
 * outcome. Loop nodes take their body's back edge on a second target handle at their side.
 *
 * The outer component only looks up what the canvas knows about this node (its problems, run
 * status, component name, icon); the body is memoized on those values, so a change to the
 * canvas's information redraws only the nodes whose look changed, and moving a node (its
 * position is not a prop of the body) redraws no node's content. */
import { memo } from "react";
import { Handle, Position, type NodeProps } from "@xyflow/react";
import type { Problem, StepStatus } from "../api/types";
import { STEP_LOOK } from "../executions/runStatus";
import { Icon } from "../ui/Icon";
import { componentOf, problemsOf, useCanvasInfo } from "./canvasContext";
import { BACK, IN, isLoop, kindOf, nodeOutcomes, type DefinitionNode } from "./definition";
import type { WorkflowNode } from "./graph";
import { ProblemBadge } from "./ProblemBadge";

export function FlowNode({ data, selected }: NodeProps<WorkflowNode>) {
  const { def } = data;
  const info = useCanvasInfo();
  return (
    <NodeBody
      def={def}
      selected={Boolean(selected)}
      problems={problemsOf(info.nodeProblems, def.id)}
      componentName={componentOf(info.components, def.component)?.display_name}
      icon={info.typeIcons.get(def.type)}
      runStatus={info.runStatus ? (info.runStatus.get(def.id) ?? "not-run") : null}
    />
  );
}

interface BodyProps {
  def: DefinitionNode;
  selected: boolean;
  problems: Problem[];
  componentName: string | undefined;
  icon: string | undefined;
  runStatus: StepStatus | "not-run" | null;
}

const NodeBody = memo(function NodeBody({ def, selected, problems, componentName, icon, runStatus }: BodyProps) {
  const kind = kindOf(def.type);
  const outcomes = nodeOutcomes(def);
  const title = def.label || componentName || kind?.title || def.type;
  const errors = problems.filter((p) => p.severity !== "warning").length;
  const state = errors ? "has-errors" : problems.length ? "has-warnings" : "";
  const look = runStatus && runStatus !== "not-run" ? STEP_LOOK[runStatus] : null;
  return (
    <div
      className={`flow-node flow-node-${def.type} ${state} ${selected ? "selected" : ""} ${runStatus ? `run-${runStatus}` : ""}`}
      data-testid={`node-${def.id}`}
      data-run-status={runStatus ?? undefined}
    >
      {runStatus && (
        <span className={`run-status run-status-${runStatus}`} data-testid="run-status">
          <span aria-hidden="true">{look?.symbol ?? "○"}</span> {look?.label ?? "not run"}
        </span>
      )}
      {def.type !== "trigger" && <Handle type="target" position={Position.Top} id={IN} className="handle-in" />}
      {isLoop(def.type) && (
        <Handle
          type="target"
          position={Position.Left}
          id={BACK}
          className="handle-back"
          title="Back edge: the end of the loop body"
        />
      )}
      <div className="flow-node-head">
        <span className="flow-node-icon">
          <Icon name={icon ?? kind?.icon} />
        </span>
        <div className="flow-node-text">
          <div className="flow-node-title">{title}</div>
          <div className="flow-node-type">
            {kind?.title ?? def.type} · <code>{def.id}</code>
          </div>
        </div>
        {problems.length > 0 && <ProblemBadge problems={problems} />}
      </div>
      {outcomes.length > 0 && (
        <div className="flow-node-outcomes">
          {outcomes.map((outcome, index) => {
            const left = `${((index + 1) / (outcomes.length + 1)) * 100}%`;
            const labelled = outcomes.length > 1 || outcome !== "next";
            return (
              <div key={outcome}>
                {labelled && (
                  <span className={`outcome-label outcome-${outcome}`} style={{ left }}>
                    {outcome}
                  </span>
                )}
                <Handle
                  type="source"
                  position={Position.Bottom}
                  id={outcome}
                  style={{ left }}
                  className={`handle-out outcome-${outcome}`}
                  title={`Outcome: ${outcome}`}
                />
              </div>
            );
          })}
        </div>
      )}
    </div>
  );
});
