/** What nodes and edges show beyond their own data: problems, component names and icons.
 * Kept out of the node objects so React Flow keeps its measurements of unchanged nodes. */
import { createContext, useContext, useEffect, type RefObject } from "react";
import { useStore } from "@xyflow/react";
import type { Component, Problem, StepStatus } from "../api/types";

export interface CanvasInfo {
  nodeProblems: Map<string, Problem[]>;
  edgeProblems: Map<string, Problem[]>;
  components: Map<string, Component>;
  typeIcons: Map<string, string>;
  /** On a run's canvas: each node's status in that run. */
  runStatus?: Map<string, StepStatus>;
}

const EMPTY: CanvasInfo = {
  nodeProblems: new Map(),
  edgeProblems: new Map(),
  components: new Map(),
  typeIcons: new Map(),
};

export const CanvasContext = createContext<CanvasInfo>(EMPTY);

export function useCanvasInfo(): CanvasInfo {
  return useContext(CanvasContext);
}

const NONE: Problem[] = [];

/** Below this zoom a node's text is too small to read (a 14 px title draws under 6.3 px). */
export const FAR_ZOOM = 0.45;

/** Puts the class `far` on `target` while the view is zoomed out below FAR_ZOOM: the canvas then
 * draws each node as its box, name, problem badge and run status, without the icon, type line,
 * outcome labels, handles, arrowheads and background dots (`.canvas.far` in styles.css). On a big workflow this
 * halves what the browser paints and composites on each frame of a pan or zoom. Renders
 * nothing; place it inside the ReactFlow element. */
export function FarZoomClass({ target }: { target: RefObject<HTMLElement | null> }) {
  const far = useStore((s) => s.transform[2] < FAR_ZOOM);
  useEffect(() => {
    target.current?.classList.toggle("far", far);
  }, [far, target]);
  return null;
}

export function problemsOf(map: Map<string, Problem[]>, id: string): Problem[] {
  return map.get(id) ?? NONE;
}

/** `next`, keeping the lists of `previous` that hold the same problems, and `previous` itself
 * when no list changed: what the canvas draws from them is then redrawn only where it changed
 * (a fresh validation report usually repeats the last one). */
export function keepProblems(
  previous: Map<string, Problem[]> | undefined,
  next: Map<string, Problem[]>,
): Map<string, Problem[]> {
  if (!previous) return next;
  let changed = previous.size !== next.size;
  const kept = new Map<string, Problem[]>();
  for (const [id, list] of next) {
    const old = previous.get(id);
    if (old && sameProblems(old, list)) kept.set(id, old);
    else {
      kept.set(id, list);
      changed = true;
    }
  }
  return changed ? kept : previous;
}

function sameProblems(a: Problem[], b: Problem[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => {
      const q = b[i];
      return (
        p.code === q.code &&
        p.message === q.message &&
        p.severity === q.severity &&
        p.pointer === q.pointer &&
        p.node_id === q.node_id &&
        p.edge_id === q.edge_id
      );
    })
  );
}

/** `previous` when `next` gives every node the same status, else `next`. */
export function keepStatuses(
  previous: Map<string, StepStatus> | undefined,
  next: Map<string, StepStatus> | undefined,
): Map<string, StepStatus> | undefined {
  if (!previous || !next || previous.size !== next.size) return next;
  for (const [id, status] of next) if (previous.get(id) !== status) return next;
  return previous;
}

/** Index components by name (the latest version listed wins) and by "name@version". */
export function indexComponents(list: Component[]): Map<string, Component> {
  const byKey = new Map<string, Component>();
  for (const component of list) {
    byKey.set(`${component.name}@${component.version}`, component);
    const current = byKey.get(component.name);
    if (!current || compareVersions(component.version, current.version) > 0) byKey.set(component.name, component);
  }
  return byKey;
}

/** The component a node refers to: its pinned version when given, else the latest. */
export function componentOf(
  components: Map<string, Component>,
  ref: { name: string; version?: string | null } | undefined,
): Component | undefined {
  if (!ref) return undefined;
  return ref.version ? components.get(`${ref.name}@${ref.version}`) : components.get(ref.name);
}

function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[.+-]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === y[i]) continue;
    if (x[i] === undefined) return -1;
    if (y[i] === undefined) return 1;
    return typeof x[i] === "number" && typeof y[i] === "number"
      ? (x[i] as number) - (y[i] as number)
      : String(x[i]).localeCompare(String(y[i]));
  }
  return 0;
}
