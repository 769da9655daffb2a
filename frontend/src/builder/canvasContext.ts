/** What nodes and edges show beyond their own data: problems, component names and icons.
 * Kept out of the node objects so React Flow keeps its measurements of unchanged nodes. */
import { createContext, useContext } from "react";
import type { Component, Problem } from "../api/types";

export interface CanvasInfo {
  nodeProblems: Map<string, Problem[]>;
  edgeProblems: Map<string, Problem[]>;
  components: Map<string, Component>;
  typeIcons: Map<string, string>;
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
