/** What nodes and edges show beyond their own data: problems, component names and icons.
 * Kept out of the node objects so React Flow keeps its measurements of unchanged nodes. */
import { createContext, useContext } from "react";
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

export function problemsOf(map: Map<string, Problem[]>, id: string): Problem[] {
  return map.get(id) ?? NONE;
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
