/** The builder: palette, canvas and side panel for one workflow, with autosave (If-Match),
 * compiler problems on nodes and edges, undo/redo, copy/paste and auto-layout. */
import {
  addEdge,
  applyEdgeChanges,
  applyNodeChanges,
  Background,
  Controls,
  MarkerType,
  MiniMap,
  Panel,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type NodeChange,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { memo, useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { api, ApiError, errorMessage, type Page } from "../api/client";
import { hasRoute } from "../api/capabilities";
import type {
  AgentPrompt,
  Component,
  ComponentType,
  Execution,
  ExecutionDetail,
  JsonSchema,
  Problem,
  ValidationReport,
  WorkflowStatus,
} from "../api/types";
import { nodeStatuses } from "../executions/runStatus";
import { isConflict, readWorkflow, saveDefinition, validateWorkflow, type Versioned } from "../api/workflows";
import { Link } from "../app/router";
import { useAsync } from "../app/useAsync";
import { useDocumentTitle } from "../app/useDocumentTitle";
import { StatusChip } from "../pages/WorkflowsPage";
import { StatusChipOf } from "../pages/ExecutionsPage";
import { Icon } from "../ui/Icon";
import { freshEdgeId, freshNodeId, NODE_KINDS, type Definition, type DefinitionNode } from "./definition";
import {
  CanvasContext,
  FarZoomClass,
  indexComponents,
  keepProblems,
  keepStatuses,
  problemsOf,
  type CanvasInfo,
} from "./canvasContext";
import { FlowEdge } from "./FlowEdge";
import { FlowNode } from "./FlowNode";
import { declarationsOf, readDefinition, toDefinition, toFlow, type WorkflowEdge, type WorkflowNode } from "./graph";
import { useHistory, type Snapshot } from "./history";
import { WorkflowPanel as WorkflowPanelView, type Declarations } from "./WorkflowPanel";
import { Inspector as InspectorView } from "./Inspector";
import type { Choice, ProjectSecret } from "../forms/SchemaForm";
import { RunDialog } from "./RunDialog";
import { VersionsPanel } from "./VersionsPanel";
import { NodeTrialPanel, type PinnedData } from "./NodeTrialPanel";
import { readDeploymentState, type DeploymentState } from "../api/deployments";
import { layoutGraph } from "./layout";
import { localProblems } from "./localChecks";
import { DRAG_TYPE, Palette as PaletteView, paletteGroups, type PaletteItem } from "./Palette";

const FLOW_NODE_TYPES = { workflow: FlowNode };
// The panels around the canvas redraw only when what they show changes, not on every frame of
// a node drag or a pan.
const Palette = memo(PaletteView);
const WorkflowPanel = memo(WorkflowPanelView);
const Inspector = memo(InspectorView);
const FIT_VIEW_OPTIONS = { padding: 0.3, maxZoom: 1 };
const PRO_OPTIONS = { hideAttribution: true };
const MINIMAP_STYLE = { width: 150, height: 100 };

const NO_PROBLEMS: Problem[] = [];

function addTo(map: Map<string, Problem[]>, key: string, problem: Problem): void {
  const list = map.get(key);
  if (list) list.push(problem);
  else map.set(key, [problem]);
}
const FLOW_EDGE_TYPES = { workflow: FlowEdge };
const DEFAULT_EDGE_OPTIONS = { type: "workflow", markerEnd: { type: MarkerType.ArrowClosed } };
const AUTOSAVE_DELAY_MS = 700;
const TEST_RUN_POLL_MS = 700;

/** Copied nodes outlive one workflow's canvas, so they can be pasted into another. */
const clipboard: { current: { nodes: WorkflowNode[]; edges: WorkflowEdge[] } | null } = { current: null };
const DELETE_KEYS = ["Delete", "Backspace"];
/** What a new workflow's first step most often is (palette names: components, then node types). */
const FIRST_STEPS = ["http_request", "transform", "python_code", "condition", "wait_for_signal", "llm_agent"];

type SaveState = "saved" | "dirty" | "saving" | "error" | "conflict";

interface Catalog {
  components: Component[];
  types: ComponentType[];
  statuses: WorkflowStatus[];
}

/** The input schema of the workflow's trigger, when it declares one. */
function triggerInputSchema(definition: Definition): JsonSchema | undefined {
  const schema = definition.nodes.find((node) => node.type === "trigger")?.config?.input_schema;
  return schema && typeof schema === "object" && !Array.isArray(schema) ? (schema as JsonSchema) : undefined;
}

export function BuilderPage({ workflowId }: { workflowId: string }) {
  const [loaded, setLoaded] = useState<Versioned | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  const catalog = useAsync<Catalog>(async () => {
    const [components, types, statuses] = await Promise.all([
      api<Page<Component>>("/components", { query: { limit: 200 } }),
      api<ComponentType[]>("/component-types"),
      api<WorkflowStatus[]>("/workflow-statuses"),
    ]);
    return { components: components.items, types, statuses };
  }, "catalog");

  useEffect(() => {
    let current = true;
    readWorkflow(workflowId)
      .then((value) => current && setLoaded(value))
      .catch((reason: unknown) => current && setLoadError(errorMessage(reason)));
    return () => {
      current = false;
    };
  }, [workflowId, generation]);

  if (loadError) {
    return (
      <div className="builder-message" role="alert">
        <p>Cannot open this workflow: {loadError}</p>
        <Link to="/workflows">Back to workflows</Link>
      </div>
    );
  }
  if (!loaded || !catalog.data) return <p className="builder-message">Loading the workflow…</p>;
  return (
    <ReactFlowProvider>
      <Canvas
        key={`${loaded.workflow.id}-${generation}`}
        initial={loaded}
        catalog={catalog.data}
        onReload={() => {
          setLoaded(null);
          setGeneration((g) => g + 1);
        }}
      />
    </ReactFlowProvider>
  );
}

/** The names and kinds of the project's secrets and connections, for the forms' secret
 * pickers; null when the workflow is in no project (or they cannot be read). */
function useProjectSecrets(projectId: string | null): ProjectSecret[] | null {
  const [secrets, setSecrets] = useState<ProjectSecret[] | null>(null);
  useEffect(() => {
    if (!projectId) return;
    let current = true;
    api<ProjectSecret[]>(`/projects/${projectId}/secrets`)
      .then((list) => current && setSecrets(list.map(({ name, kind }) => ({ name, kind }))))
      .catch(() => current && setSecrets(null));
    return () => {
      current = false;
    };
  }, [projectId]);
  return secrets;
}

/** The agent prompts the user can see, for an agent node's prompt choice. */
function useAgentPrompts(): Choice[] | undefined {
  const [prompts, setPrompts] = useState<Choice[]>();
  useEffect(() => {
    let current = true;
    api<Page<AgentPrompt>>("/agent-prompts", { query: { limit: 200 } })
      .then(
        (page) =>
          current &&
          setPrompts(page.items.map((p) => ({ value: p.id, label: `${p.display_name || p.name} (${p.version})` }))),
      )
      .catch(() => current && setPrompts(undefined));
    return () => {
      current = false;
    };
  }, []);
  return prompts;
}

function isEditingText(target: EventTarget | null): boolean {
  const element = target as HTMLElement | null;
  if (!element) return false;
  return element.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName);
}

function Canvas({ initial, catalog, onReload }: { initial: Versioned; catalog: Catalog; onReload: () => void }) {
  const workflow = initial.workflow;
  useDocumentTitle(`${workflow.display_name || workflow.name} · Builder`);
  const base = useMemo(() => readDefinition(workflow.definition), [workflow.definition]);
  const start = useMemo(() => toFlow(base), [base]);
  const [nodes, setNodes] = useState<WorkflowNode[]>(start.nodes);
  const [edges, setEdges] = useState<WorkflowEdge[]>(start.edges);
  const [declarations, setDeclarations] = useState<Declarations>(() => declarationsOf(base));
  const [saveState, setSaveState] = useState<SaveState>("saved");
  const [saveError, setSaveError] = useState<string | null>(null);
  const [report, setReport] = useState<ValidationReport | null | undefined>(undefined);
  const [showProblems, setShowProblems] = useState(false);
  const [status, setStatus] = useState(workflow.status);
  const [deployment, setDeployment] = useState<{ busy: boolean; message: string | null }>({
    busy: false,
    message: null,
  });
  const [canDeploy, setCanDeploy] = useState(false);
  const [running, setRunning] = useState(false);
  const [showVersions, setShowVersions] = useState(false);
  const [testing, setTesting] = useState(false);
  const [testRun, setTestRun] = useState<ExecutionDetail | null>(null);
  const [deployState, setDeployState] = useState<DeploymentState | null>(null);
  const { screenToFlowPosition, fitView } = useReactFlow();
  const wrapper = useRef<HTMLDivElement>(null);
  const etag = useRef(initial.etag);
  const savedJson = useRef(JSON.stringify(toDefinition(declarationsOf(base), start.nodes, start.edges)));
  const saving = useRef(false);
  const failedJson = useRef<string | null>(null);
  const pasteCount = useRef(0);
  const lastEdit = useRef<{ target: string; at: number } | null>(null);
  const state = useRef<Snapshot>({ nodes, edges, declarations });
  state.current = { nodes, edges, declarations };
  // A dragged node moves on every frame: what follows from the definition (problems, autosave,
  // the side panel) waits for the drop, and reads the nodes as they were before the drag.
  const dragging = nodes.some((n) => n.dragging);
  const settledNodes = useRef(nodes);
  if (!dragging) settledNodes.current = nodes;
  const settled = settledNodes.current;

  const components = useMemo(() => indexComponents(catalog.components), [catalog.components]);
  const secrets = useProjectSecrets(workflow.project_id);
  const agentPrompts = useAgentPrompts();
  const groups = useMemo(() => paletteGroups(catalog.components, catalog.types), [catalog]);
  const itemsByKey = useMemo(() => new Map(groups.flatMap((g) => g.items).map((i) => [i.key, i])), [groups]);

  const history = useHistory(
    useCallback(() => state.current, []),
    useCallback((snapshot: Snapshot) => {
      setNodes(snapshot.nodes);
      setEdges(snapshot.edges);
      setDeclarations(snapshot.declarations);
    }, []),
  );
  const { record } = history;

  const definition: Definition = useMemo(
    () => toDefinition(declarations, settled, edges),
    [declarations, settled, edges],
  );
  const definitionJson = useMemo(() => JSON.stringify(definition), [definition]);

  // -- problems: the compiler's when the server validates, else the browser's own checks --
  // The server's report changes only when it validates again; the browser's own checks follow
  // the definition.
  const reported: Problem[] | null = useMemo(
    () =>
      report
        ? [
            ...report.errors.map((p) => ({ ...p, severity: "error" as const })),
            ...report.warnings.map((p) => ({ ...p, severity: "warning" as const })),
          ]
        : null,
    [report],
  );
  const problems: Problem[] = useMemo(
    () => reported ?? (report === null ? localProblems(definition, components) : NO_PROBLEMS),
    [reported, report, definition, components],
  );

  const typeIcons = useMemo(() => {
    const icons = new Map<string, string>();
    for (const type of catalog.types)
      if (type.icon && (type.name === "activity" || type.name === "agent")) icons.set(type.name, type.icon);
    return icons;
  }, [catalog.types]);

  // Every node and edge reads this: it changes only when what one of them shows changes.
  const lastInfo = useRef<CanvasInfo | null>(null);
  const canvasInfo: CanvasInfo = useMemo(() => {
    const nodeProblems = new Map<string, Problem[]>();
    const edgeProblems = new Map<string, Problem[]>();
    for (const problem of problems) {
      // An edge problem that names a node shows on both: the edge may not be drawable
      // (a handle that no longer exists), and the node is where the user looks.
      if (problem.edge_id) addTo(edgeProblems, problem.edge_id, problem);
      if (problem.node_id) addTo(nodeProblems, problem.node_id, problem);
    }
    const before = lastInfo.current;
    const next: CanvasInfo = {
      nodeProblems: keepProblems(before?.nodeProblems, nodeProblems),
      edgeProblems: keepProblems(before?.edgeProblems, edgeProblems),
      components,
      typeIcons,
      runStatus: keepStatuses(before?.runStatus, testRun ? nodeStatuses(testRun.steps ?? []) : undefined),
    };
    const same =
      before !== null && (Object.keys(next) as (keyof CanvasInfo)[]).every((key) => next[key] === before[key]);
    if (same) return before;
    lastInfo.current = next;
    return next;
  }, [problems, components, typeIcons, testRun]);

  // A test run's live status is drawn on this canvas until it ends.
  const testRunId = testRun?.id;
  const testRunLive = testRun?.status === "pending" || testRun?.status === "running";
  useEffect(() => {
    if (!testRunId || !testRunLive) return;
    let current = true;
    const timer = window.setInterval(() => {
      api<ExecutionDetail>(`/executions/${testRunId}`)
        .then((detail) => current && setTestRun(detail))
        .catch(() => undefined);
    }, TEST_RUN_POLL_MS);
    return () => {
      current = false;
      window.clearInterval(timer);
    };
  }, [testRunId, testRunLive]);

  const startedTestRun = useCallback((execution: Execution) => {
    void api<ExecutionDetail>(`/executions/${execution.id}`).then(setTestRun);
  }, []);

  // -- autosave with optimistic concurrency --
  const validate = useCallback(async () => {
    try {
      setReport(await validateWorkflow(workflow.id));
    } catch {
      setReport(null);
    }
  }, [workflow.id]);

  const refreshDeployState = useCallback(async () => {
    try {
      setDeployState(await readDeploymentState(workflow.id));
    } catch {
      setDeployState(null);
    }
  }, [workflow.id]);

  useEffect(() => {
    void validate();
    void refreshDeployState();
  }, [validate, refreshDeployState]);

  const currentDefinition = () => toDefinition(state.current.declarations, state.current.nodes, state.current.edges);

  const save = useCallback(async () => {
    if (saving.current) return;
    const json = JSON.stringify(currentDefinition());
    if (json === savedJson.current) {
      setSaveState("saved");
      return;
    }
    saving.current = true;
    setSaveState("saving");
    try {
      const result = await saveDefinition(workflow.id, JSON.parse(json), etag.current);
      etag.current = result.etag;
      savedJson.current = json;
      const now = JSON.stringify(currentDefinition());
      setSaveState(now === json ? "saved" : "dirty");
      setSaveError(null);
      void validate();
      void refreshDeployState();
    } catch (reason) {
      if (isConflict(reason)) setSaveState("conflict");
      else {
        failedJson.current = json;
        setSaveState("error");
        setSaveError(errorMessage(reason));
      }
    } finally {
      saving.current = false;
    }
  }, [workflow.id, validate, refreshDeployState]);

  useEffect(() => {
    // A save in flight re-arms this when it ends; a conflict waits for the user; a failed
    // save is retried when the definition changes again (or from the Retry button).
    if (saveState === "conflict" || saveState === "saving") return;
    if (definitionJson === savedJson.current) return;
    if (saveState === "error" && definitionJson === failedJson.current) return;
    setSaveState("dirty");
    const timer = window.setTimeout(() => void save(), AUTOSAVE_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [definitionJson, save, saveState]);

  // Leaving the builder inside the app (a link, the back button) saves what is pending.
  const saveRef = useRef(save);
  saveRef.current = save;
  const conflicted = useRef(false);
  conflicted.current = saveState === "conflict";
  useEffect(
    () => () => {
      if (!conflicted.current && JSON.stringify(currentDefinition()) !== savedJson.current) void saveRef.current();
    },
    // Runs once, on unmount; everything it reads is a ref.
    [],
  );

  useEffect(() => {
    const warn = (event: BeforeUnloadEvent) => {
      if (JSON.stringify(currentDefinition()) !== savedJson.current) {
        event.preventDefault();
      }
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, []);

  // -- editing --
  const onNodesChange = useCallback((changes: NodeChange<WorkflowNode>[]) => {
    setNodes((current) => applyNodeChanges(changes, current));
  }, []);
  const onEdgesChange = useCallback((changes: EdgeChange<WorkflowEdge>[]) => {
    setEdges((current) => applyEdgeChanges(changes, current));
  }, []);

  const connect = useCallback(
    (connection: Connection) => {
      if (!connection.source || !connection.target || connection.source === connection.target) return;
      const duplicate = state.current.edges.some(
        (e) =>
          e.source === connection.source &&
          e.target === connection.target &&
          e.sourceHandle === connection.sourceHandle &&
          e.targetHandle === connection.targetHandle,
      );
      if (duplicate) return;
      record();
      const taken = new Set(state.current.edges.map((e) => e.id));
      const id = freshEdgeId(connection.source, connection.sourceHandle, connection.target, taken);
      setEdges((current) => addEdge<WorkflowEdge>({ ...connection, id, type: "workflow", data: {} }, current));
    },
    [record],
  );

  const connectFromPanel = useCallback(
    (source: string, outcome: string, target: string | null) => {
      record();
      const kept = state.current.edges.filter((e) => !(e.source === source && e.sourceHandle === outcome));
      if (!target) {
        setEdges(kept);
        return;
      }
      const id = freshEdgeId(source, outcome, target, new Set(kept.map((e) => e.id)));
      setEdges([
        ...kept,
        { id, type: "workflow", source, target, sourceHandle: outcome, targetHandle: "in", data: {} },
      ]);
    },
    [record],
  );

  const addNode = useCallback(
    (item: PaletteItem, position?: { x: number; y: number }) => {
      record();
      let at = position;
      if (!at) {
        const box = wrapper.current?.getBoundingClientRect();
        const center = screenToFlowPosition({
          x: (box?.left ?? 0) + (box?.width ?? 600) / 2,
          y: (box?.top ?? 0) + (box?.height ?? 400) / 3,
        });
        const offset = (state.current.nodes.length % 6) * 24;
        at = { x: center.x - 100 + offset, y: center.y + offset };
      }
      const id = freshNodeId(item.type, new Set(state.current.nodes.map((n) => n.id)));
      const def: DefinitionNode = {
        id,
        type: item.type,
        position: { x: Math.round(at.x), y: Math.round(at.y) },
        config: structuredClone(NODE_KINDS[item.type].initialConfig ?? {}),
      };
      if (item.component) {
        def.component = { name: item.component.name, version: item.component.version };
        // A component that takes no input gets an empty mapping, not the previous node's output.
        const input = item.component.input_schema;
        if (input && input.additionalProperties === false && !Object.keys(input.properties ?? {}).length)
          def.input = {};
      }
      setNodes((current) => [
        ...current.map((n) => (n.selected ? { ...n, selected: false } : n)),
        { id, type: "workflow", position: def.position, data: { def }, selected: true },
      ]);
    },
    [record, screenToFlowPosition],
  );

  const onDrop = useCallback(
    (event: DragEvent) => {
      const key = event.dataTransfer.getData(DRAG_TYPE);
      const item = itemsByKey.get(key);
      if (!item) return;
      event.preventDefault();
      const point = screenToFlowPosition({ x: event.clientX, y: event.clientY });
      addNode(item, { x: point.x - 100, y: point.y - 30 });
    },
    [addNode, itemsByKey, screenToFlowPosition],
  );

  /** Typing in a form records one undo step per pause, not one per keystroke. */
  const recordEdit = useCallback(
    (target: string) => {
      const now = Date.now();
      if (!lastEdit.current || lastEdit.current.target !== target || now - lastEdit.current.at > 1500) record();
      lastEdit.current = { target, at: now };
    },
    [record],
  );

  const updateNode = useCallback(
    (def: DefinitionNode) => {
      recordEdit(`node:${def.id}`);
      setNodes((current) => current.map((n) => (n.id === def.id ? { ...n, data: { ...n.data, def } } : n)));
    },
    [recordEdit],
  );

  const updateDeclarations = useCallback(
    (next: Declarations) => {
      if (JSON.stringify(next) === JSON.stringify(state.current.declarations)) return;
      recordEdit("workflow");
      setDeclarations(next);
    },
    [recordEdit],
  );

  const deleteNodes = useCallback(
    (ids: Set<string>) => {
      if (ids.size === 0) return;
      record();
      setNodes((current) => current.filter((n) => !ids.has(n.id)));
      setEdges((current) => current.filter((e) => !ids.has(e.source) && !ids.has(e.target)));
    },
    [record],
  );

  /** Copy the selected nodes and the edges between them; false when nothing is selected. */
  const copy = useCallback((): boolean => {
    const chosen = state.current.nodes.filter((n) => n.selected);
    if (chosen.length === 0) return false;
    const ids = new Set(chosen.map((n) => n.id));
    clipboard.current = {
      nodes: structuredClone(chosen),
      edges: structuredClone(state.current.edges.filter((e) => ids.has(e.source) && ids.has(e.target))),
    };
    pasteCount.current = 0;
    return true;
  }, []);

  const paste = useCallback((): boolean => {
    const copied = clipboard.current;
    if (!copied) return false;
    record();
    pasteCount.current += 1;
    const shift = 40 * pasteCount.current;
    const taken = new Set(state.current.nodes.map((n) => n.id));
    const renamed = new Map<string, string>();
    const pasted = copied.nodes.map((node) => {
      const id = freshNodeId(node.data.def.type, taken);
      taken.add(id);
      renamed.set(node.id, id);
      const position = { x: node.position.x + shift, y: node.position.y + shift };
      return { ...node, id, position, selected: true, data: { ...node.data, def: { ...node.data.def, id, position } } };
    });
    const edgeIds = new Set(state.current.edges.map((e) => e.id));
    const pastedEdges = copied.edges.map((edge) => {
      const source = renamed.get(edge.source)!;
      const target = renamed.get(edge.target)!;
      const id = freshEdgeId(source, edge.sourceHandle, target, edgeIds);
      edgeIds.add(id);
      return { ...edge, id, source, target, selected: false };
    });
    setNodes((current) => [...current.map((n) => ({ ...n, selected: false })), ...pasted]);
    setEdges((current) => [...current, ...pastedEdges]);
    return true;
  }, [record]);

  const autoLayout = useCallback(() => {
    record();
    setNodes((current) => layoutGraph(current, state.current.edges));
    window.setTimeout(() => void fitView({ padding: 0.2, duration: 200 }), 50);
  }, [record, fitView]);

  useEffect(() => {
    void hasRoute("/api/v1/workflows/{workflow_id}/deploy").then(setCanDeploy);
  }, []);

  // A link from elsewhere (a failed run's node) opens the builder on that node: ?node=<id>.
  useEffect(() => {
    const wanted = new URLSearchParams(window.location.search).get("node");
    if (!wanted || !state.current.nodes.some((n) => n.id === wanted)) return;
    setNodes((current) => current.map((n) => ({ ...n, selected: n.id === wanted })));
    window.setTimeout(() => void fitView({ nodes: [{ id: wanted }], duration: 200, maxZoom: 1.2 }), 100);
  }, [fitView]);

  /** Save what is on the canvas, then deploy it; the workflow's new ETag comes back with it. */
  const changeDeployment = useCallback(
    async (action: "deploy" | "undeploy") => {
      setDeployment({ busy: true, message: null });
      await save();
      if (JSON.stringify(currentDefinition()) !== savedJson.current) {
        setDeployment({ busy: false, message: "Save the workflow first." });
        return;
      }
      try {
        await api(`/workflows/${workflow.id}/${action}`, { method: "POST" });
        const fresh = await readWorkflow(workflow.id);
        etag.current = fresh.etag;
        setStatus(fresh.workflow.status);
        const redeploy = action === "deploy" && status === "active";
        setDeployment({
          busy: false,
          message: action === "deploy" ? (redeploy ? "Changes deployed." : "Deployed.") : "Back to draft.",
        });
        void refreshDeployState();
      } catch (reason) {
        const count = reason instanceof ApiError ? (reason.problem.errors?.length ?? 0) : 0;
        setDeployment({
          busy: false,
          message: count
            ? `Cannot deploy: ${count} error${count === 1 ? "" : "s"} to fix.`
            : `Cannot ${action}: ${errorMessage(reason)}`,
        });
        if (count) setShowProblems(true);
      }
    },
    // currentDefinition reads refs only.
    [save, workflow.id, status, refreshDeployState],
  );

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (isEditingText(event.target)) return;
      // Arrow keys move the selected nodes; a run of presses is one undo step.
      if (event.key.startsWith("Arrow") && (event.target as HTMLElement | null)?.closest?.(".react-flow__node")) {
        recordEdit("keyboard-move");
        return;
      }
      const mod = event.ctrlKey || event.metaKey;
      if (!mod) return;
      const key = event.key.toLowerCase();
      let handled = true;
      if (key === "z" && !event.shiftKey) history.undo();
      else if ((key === "z" && event.shiftKey) || key === "y") history.redo();
      else if (key === "c") handled = copy();
      else if (key === "v") handled = paste();
      else handled = false;
      // Leave the browser's own copy and paste alone when there are no nodes to copy or paste.
      if (handled) event.preventDefault();
    };
    // Capture: the snapshot for an arrow-key move must be taken before React Flow moves the node.
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, [history, copy, paste, recordEdit]);

  const variables = useMemo(() => {
    const declared = declarations.variables;
    return declared && typeof declared === "object" ? Object.keys(declared as object) : [];
  }, [declarations]);

  const pinnedData = useMemo(
    () => (declarations.pinned_data as PinnedData | undefined) ?? {},
    [declarations.pinned_data],
  );
  const pin = useCallback(
    (next: PinnedData) => {
      const { pinned_data: _old, ...rest } = state.current.declarations;
      updateDeclarations(Object.keys(next).length ? { ...rest, pinned_data: next } : rest);
    },
    [updateDeclarations],
  );
  const saveNow = useCallback(async (): Promise<boolean> => {
    await save();
    return JSON.stringify(currentDefinition()) === savedJson.current;
  }, [save]);
  const exportToFile = async () => {
    await save();
    try {
      const document = await api<unknown>(`/workflows/${workflow.id}/export`);
      const blob = new Blob([JSON.stringify(document, null, 2)], { type: "application/json" });
      const link = window.document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `${workflow.kebab_name}.workflow.json`;
      link.click();
      window.setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    } catch (reason) {
      setDeployment({ busy: false, message: `Cannot export: ${errorMessage(reason)}` });
    }
  };
  const trigger = settled.find((n) => n.data.def.type === "trigger");
  const firstStep = settled.length === 1 && trigger !== undefined;
  const addFirstStep = (item: PaletteItem) => {
    if (!trigger) return;
    const id = freshNodeId(item.type, new Set(state.current.nodes.map((n) => n.id)));
    addNode(item, { x: trigger.position.x, y: trigger.position.y + 130 });
    const edgeId = freshEdgeId(trigger.id, "next", id, new Set(state.current.edges.map((e) => e.id)));
    setEdges((current) => [
      ...current,
      {
        id: edgeId,
        type: "workflow",
        source: trigger.id,
        target: id,
        sourceHandle: "next",
        targetHandle: "in",
        data: {},
      },
    ]);
  };
  const deployed = status === "active";
  // Only trust a verdict about the draft that is saved: unsaved edits differ too.
  const draftChanged = deployed && (Boolean(deployState?.changed) || saveState !== "saved");
  const selected = settled.filter((n) => n.selected);
  const selectedNode = selected.length === 1 ? selected[0] : undefined;
  const selectedId = selectedNode?.id;
  const errorCount = problems.filter((p) => p.severity !== "warning").length;
  const warningCount = problems.length - errorCount;
  const edgeIds = useMemo(() => new Set(edges.map((e) => e.id)), [edges]);
  const serverProblems = report ? problems : NO_PROBLEMS;

  const selectNode = useCallback(
    (id: string) => {
      setNodes((current) => current.map((n) => ({ ...n, selected: n.id === id })));
      const node = state.current.nodes.find((n) => n.id === id);
      if (node) void fitView({ nodes: [{ id }], duration: 200, maxZoom: 1.2 });
    },
    [fitView],
  );
  const selectFromPanel = useCallback(
    (id: string) => {
      setShowProblems(false);
      selectNode(id);
    },
    [selectNode],
  );
  const removeEdge = useCallback(
    (id: string) => {
      record();
      setEdges((current) => current.filter((e) => e.id !== id));
    },
    [record],
  );
  const deleteSelected = useCallback(() => {
    if (selectedId) deleteNodes(new Set([selectedId]));
  }, [deleteNodes, selectedId]);
  const addFromPalette = useCallback((item: PaletteItem) => addNode(item), [addNode]);
  const recordBeforeDelete = useCallback(async () => {
    record();
    return true;
  }, [record]);
  const recordBeforeDrag = useCallback(() => record(), [record]);

  return (
    <div className="builder">
      <div className="builder-toolbar" role="toolbar" aria-label="Builder">
        <Link to="/workflows" className="back-link">
          ← Workflows
        </Link>
        <h1 className="builder-title">{workflow.display_name || workflow.name}</h1>
        <code className="muted builder-kebab" title={workflow.kebab_name}>
          {workflow.kebab_name}
        </code>
        <StatusChip name={status} statuses={catalog.statuses} />
        <div className="toolbar-spacer" />
        <button
          type="button"
          className="icon-button"
          onClick={history.undo}
          disabled={!history.canUndo}
          aria-label="Undo"
          title="Undo (Ctrl+Z)"
        >
          <Icon name="undo" />
        </button>
        <button
          type="button"
          className="icon-button"
          onClick={history.redo}
          disabled={!history.canRedo}
          aria-label="Redo"
          title="Redo (Ctrl+Shift+Z)"
        >
          <Icon name="redo" />
        </button>
        <button
          type="button"
          className="icon-button"
          onClick={autoLayout}
          aria-label="Auto-layout"
          title="Auto-layout: arrange the nodes top to bottom"
        >
          <Icon name="layout" />
        </button>
        <button
          type="button"
          className="icon-button"
          onClick={() => void fitView({ padding: 0.2, duration: 200 })}
          aria-label="Zoom to fit"
          title="Zoom to fit"
        >
          <Icon name="fit" />
        </button>
        <button
          type="button"
          className={`problems-toggle ${errorCount ? "has-errors" : warningCount ? "has-warnings" : ""}`}
          aria-expanded={showProblems}
          aria-controls="problems-panel"
          onClick={() => setShowProblems((v) => !v)}
          data-testid="problems-summary"
        >
          {errorCount} error{errorCount === 1 ? "" : "s"}, {warningCount} warning{warningCount === 1 ? "" : "s"}
        </button>
        {canDeploy && deployed && (
          <span
            className={`deploy-state ${draftChanged ? "deploy-state-changed" : ""}`}
            role="status"
            data-testid="deploy-state"
            title={
              draftChanged
                ? "Runs use the deployed version until you deploy the changes."
                : "The draft is the deployed version."
            }
          >
            {draftChanged
              ? deployState?.draft_compiles
                ? "Changed since deploy"
                : "Changed since deploy (does not compile)"
              : "Deployed version is current"}
          </span>
        )}
        {canDeploy && deployed && draftChanged && (
          <button
            type="button"
            className="primary"
            disabled={deployment.busy || saveState === "conflict"}
            onClick={() => void changeDeployment("deploy")}
          >
            Deploy changes
          </button>
        )}
        {canDeploy && (
          <button
            type="button"
            className={deployed ? "" : "primary"}
            disabled={deployment.busy || saveState === "conflict"}
            onClick={() => void changeDeployment(deployed ? "undeploy" : "deploy")}
          >
            {deployed ? "Undeploy" : "Deploy"}
          </button>
        )}
        {canDeploy && (
          <button type="button" onClick={() => setShowVersions(true)}>
            Versions
          </button>
        )}
        <button
          type="button"
          onClick={() => void exportToFile()}
          title="Download this workflow (definition and declarations) as a file that Import reads"
        >
          Export
        </button>
        {canDeploy && (
          <button
            type="button"
            disabled={saveState === "conflict"}
            title="Run the saved draft without deploying it; its progress shows on this canvas"
            onClick={() => {
              void save();
              setTesting(true);
            }}
          >
            Test draft
          </button>
        )}
        {canDeploy && deployed && (
          <button type="button" className={draftChanged ? "" : "primary"} onClick={() => setRunning(true)}>
            {draftChanged ? "Run deployed version" : "Run"}
          </button>
        )}
        <span className="deploy-message" role="status" data-testid="deploy-message">
          {deployment.message}
        </span>
        <span className={`save-state save-${saveState}`} role="status" data-testid="save-state">
          {saveState === "saved" && "All changes saved"}
          {saveState === "dirty" && "Unsaved changes"}
          {saveState === "saving" && "Saving…"}
          {saveState === "error" && (
            <>
              Save failed: {saveError}{" "}
              <button type="button" className="link-button" onClick={() => void save()}>
                Retry
              </button>
            </>
          )}
          {saveState === "conflict" && "Not saved: conflict"}
        </span>
      </div>
      {saveState === "conflict" && (
        <div className="notice notice-warning conflict" role="alert" data-testid="conflict-notice">
          <p>
            <strong>A newer version of this workflow was saved elsewhere</strong> (another tab, a teammate or a script).
            Your latest changes were not saved, so nothing was overwritten.
          </p>
          <button type="button" className="primary" onClick={onReload}>
            Reload the saved version
          </button>
        </div>
      )}
      {report === null && (
        <p className="notice builder-offline-note">
          The server cannot validate workflows yet; showing the checks the browser can make.
        </p>
      )}
      <VersionsPanel
        open={showVersions}
        workflowId={workflow.id}
        onClose={() => setShowVersions(false)}
        onActivated={() => void refreshDeployState()}
      />
      {testRun && (
        <div className="notice test-run-banner" role="status" data-testid="test-run-banner">
          <span>
            Test run of the draft: <StatusChipOf status={testRun.status} />
            {testRun.error && <span className="field-error multiline"> {testRun.error}</span>}
          </span>
          <Link to={`/executions/${testRun.id}`}>Open the run</Link>
          <button type="button" className="link-button" onClick={() => setTestRun(null)}>
            Clear
          </button>
        </div>
      )}
      {testing && (
        <RunDialog
          open
          workflowId={workflow.id}
          inputSchema={triggerInputSchema(definition)}
          onClose={() => setTesting(false)}
          test={{
            initialInputs: pinnedData[trigger?.id ?? ""] ?? {},
            onStarted: startedTestRun,
          }}
        />
      )}
      <RunDialog
        open={running}
        workflowId={workflow.id}
        inputSchema={triggerInputSchema(definition)}
        onClose={() => setRunning(false)}
      />
      <div className="builder-body">
        <Palette groups={groups} onAdd={addFromPalette} />
        <div
          className="canvas"
          ref={wrapper}
          onDrop={onDrop}
          onDragOver={(event) => {
            event.preventDefault();
            event.dataTransfer.dropEffect = "copy";
          }}
          aria-label="Canvas"
          role="region"
        >
          <CanvasContext.Provider value={canvasInfo}>
            <ReactFlow<WorkflowNode, WorkflowEdge>
              nodes={nodes}
              edges={edges}
              nodeTypes={FLOW_NODE_TYPES}
              edgeTypes={FLOW_EDGE_TYPES}
              defaultEdgeOptions={DEFAULT_EDGE_OPTIONS}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={connect}
              onBeforeDelete={recordBeforeDelete}
              onNodeDragStart={recordBeforeDrag}
              deleteKeyCode={DELETE_KEYS}
              fitView={start.nodes.length > 1}
              fitViewOptions={FIT_VIEW_OPTIONS}
              minZoom={0.2}
              proOptions={PRO_OPTIONS}
              colorMode="system"
            >
              <Background gap={16} />
              <FarZoomClass target={wrapper} />
              {firstStep && (
                <Panel position="bottom-center" className="first-step" data-testid="first-step">
                  <p>
                    <strong>Add the first step</strong> after the trigger:
                  </p>
                  <div className="first-step-choices">
                    {FIRST_STEPS.map((key) => {
                      const item = groups.flatMap((g) => g.items).find((i) => (i.component?.name ?? i.type) === key);
                      return (
                        item && (
                          <button key={key} type="button" onClick={() => addFirstStep(item)}>
                            {item.title}
                          </button>
                        )
                      );
                    })}
                  </div>
                  <p className="hint">or drag any step from the palette on the left and connect it.</p>
                </Panel>
              )}
              <MiniMap pannable zoomable ariaLabel="Minimap" style={MINIMAP_STYLE} />
              <Controls showInteractive={false} />
            </ReactFlow>
          </CanvasContext.Provider>
        </div>
        <div className="side-panel">
          {showProblems || !selectedNode ? (
            <WorkflowPanel
              problems={problems}
              validated={report !== undefined}
              declarations={declarations}
              onDeclarations={updateDeclarations}
              edgeIds={edgeIds}
              onRemoveEdge={removeEdge}
              onSelect={selectFromPanel}
            />
          ) : (
            <>
              <Inspector
                key={selectedNode.id}
                node={selectedNode}
                index={settled.findIndex((n) => n.id === selectedNode.id)}
                nodes={settled}
                edges={edges}
                components={components}
                variables={variables}
                secrets={secrets}
                agentPrompts={agentPrompts}
                problems={problemsOf(canvasInfo.nodeProblems, selectedNode.id)}
                serverProblems={serverProblems}
                onChange={updateNode}
                onConnect={connectFromPanel}
                onDelete={deleteSelected}
                workflowId={workflow.id}
                pinned={pinnedData}
                variableDeclarations={declarations.variables}
              />
              {(selectedNode.data.def.type === "activity" || selectedNode.data.def.type === "agent") && (
                <NodeTrialPanel
                  key={`trial-${selectedNode.id}`}
                  workflowId={workflow.id}
                  nodeId={selectedNode.id}
                  triggerId={trigger?.id}
                  pinned={pinnedData}
                  saveFirst={saveNow}
                  onPin={pin}
                />
              )}
            </>
          )}
        </div>
      </div>
    </div>
  );
}
