/** Undo/redo over snapshots of the canvas. */
import { useCallback, useRef, useState } from "react";
import type { WorkflowEdge, WorkflowNode } from "./graph";

export interface Snapshot {
  nodes: WorkflowNode[];
  edges: WorkflowEdge[];
  declarations: Record<string, unknown>;
}

const LIMIT = 100;

export function useHistory(current: () => Snapshot, restore: (snapshot: Snapshot) => void) {
  const past = useRef<Snapshot[]>([]);
  const future = useRef<Snapshot[]>([]);
  const [, setVersion] = useState(0);
  const bump = () => setVersion((v) => v + 1);

  /** Remember the state before a change. */
  const record = useCallback(() => {
    past.current.push(current());
    if (past.current.length > LIMIT) past.current.shift();
    future.current = [];
    bump();
  }, [current]);

  const undo = useCallback(() => {
    const previous = past.current.pop();
    if (!previous) return;
    future.current.push(current());
    restore(previous);
    bump();
  }, [current, restore]);

  const redo = useCallback(() => {
    const next = future.current.pop();
    if (!next) return;
    past.current.push(current());
    restore(next);
    bump();
  }, [current, restore]);

  const clear = useCallback(() => {
    past.current = [];
    future.current = [];
    bump();
  }, []);

  return { record, undo, redo, clear, canUndo: past.current.length > 0, canRedo: future.current.length > 0 };
}
