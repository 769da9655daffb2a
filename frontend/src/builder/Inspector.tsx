/** The side panel: the selected node's settings as forms generated from JSON Schema, its outgoing
 * connections (a keyboard way to wire outcomes), and its problems. */
import { useMemo, useState } from "react";
import type { Component, JsonSchema, Problem } from "../api/types";
import { CodeEditor } from "../editors/CodeEditor";
import { ExpressionPreview } from "../editors/ExpressionPreview";
import { checkExpression, expressionCompletions, type ExpressionScope } from "../editors/expressions";
import { SchemaForm, type Choice, type FormContext, type ProjectSecret } from "../forms/SchemaForm";
import { humanize, validateForm, withoutMeta } from "../forms/schemaText";
import { Icon } from "../ui/Icon";
import { BACK, kindOf, nodeOutcomes, type DefinitionNode, type RetryPolicy } from "./definition";
import { componentOf } from "./canvasContext";
import { RunInputEditor } from "./RunInputEditor";
import { COMPONENT_FORMS, ordered } from "./componentForms";
import { useExpressionSample } from "./expressionSample";
import { ProblemItem, schemaAt } from "./ProblemItem";
import type { PinnedData } from "./NodeTrialPanel";
import type { WorkflowEdge, WorkflowNode } from "./graph";

const EXECUTION_SCHEMA: JsonSchema = {
  type: "object",
  properties: {
    timeout_seconds: {
      type: "integer",
      title: "Timeout (seconds)",
      minimum: 1,
      description: "Empty: the workflow's default.",
    },
    retry: {
      type: "object",
      title: "Retry policy",
      properties: {
        maximum_attempts: { type: "integer", title: "Maximum attempts", minimum: 1 },
        initial_interval: { type: "number", title: "Initial interval (s)", exclusiveMinimum: 0 },
        backoff_coefficient: { type: "number", title: "Backoff coefficient", minimum: 1 },
        maximum_interval: { type: "number", title: "Maximum interval (s)", exclusiveMinimum: 0 },
      },
    },
  },
};

/** Problems the compiler located under `prefix` (a node's config or input), by field pointer
 * relative to it. Schema mismatches are left out: the form finds those itself as you type. */
function serverErrors(problems: Problem[], prefix: string): Map<string, string[]> {
  const errors = new Map<string, string[]>();
  for (const problem of problems) {
    if (problem.code === "invalid_config") continue;
    if (problem.pointer !== prefix && !problem.pointer.startsWith(`${prefix}/`)) continue;
    const path = problem.pointer.slice(prefix.length);
    errors.set(path, [...(errors.get(path) ?? []), problem.message]);
  }
  return errors;
}

function merge(...maps: Map<string, string[]>[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const map of maps)
    for (const [path, messages] of map) out.set(path, [...new Set([...(out.get(path) ?? []), ...messages])]);
  return out;
}

/** The nodes that can have run before `nodeId`: every node with a path to it (back edges aside). */
function ancestors(nodeId: string, edges: WorkflowEdge[]): string[] {
  const incoming = new Map<string, string[]>();
  for (const edge of edges) {
    if (edge.targetHandle === BACK) continue;
    incoming.set(edge.target, [...(incoming.get(edge.target) ?? []), edge.source]);
  }
  const seen = new Set<string>();
  const queue = [...(incoming.get(nodeId) ?? [])];
  while (queue.length) {
    const next = queue.shift()!;
    if (seen.has(next) || next === nodeId) continue;
    seen.add(next);
    queue.push(...(incoming.get(next) ?? []));
  }
  return [...seen].sort();
}

interface InspectorProps {
  node: WorkflowNode;
  index: number;
  nodes: WorkflowNode[];
  edges: WorkflowEdge[];
  components: Map<string, Component>;
  /** The workflow's declared variables. */
  variables: string[];
  /** The project's secrets and connections (names and kinds); null outside a project. */
  secrets: ProjectSecret[] | null;
  /** Agent prompts an agent node may use. */
  agentPrompts?: Choice[];
  /** This node's problems. */
  problems: Problem[];
  /** Every problem the compiler reported (the forms show those under their fields). */
  serverProblems: Problem[];
  onChange: (def: DefinitionNode) => void;
  onConnect: (source: string, outcome: string, target: string | null) => void;
  onDelete: () => void;
  /** The workflow, whose last run expression previews read. */
  workflowId?: string;
  /** The workflow's pinned data (node id → output; the trigger's: the run input). */
  pinned?: PinnedData;
  /** The declared variables (name → {initial, schema}): previews read their initial values. */
  variableDeclarations?: unknown;
}

/** What a node's expressions can read: the run's input, variables and upstream outputs. */
function scopeOf(
  nodeId: string,
  nodes: WorkflowNode[],
  upstream: string[],
  components: Map<string, Component>,
  variables: string[],
): ExpressionScope {
  const byId = new Map(nodes.map((n) => [n.id, n.data.def]));
  const trigger = nodes.find((n) => n.data.def.type === "trigger")?.data.def;
  const triggerInput = trigger?.config?.input_schema as JsonSchema | undefined;
  return {
    input: triggerInput,
    variables,
    allNodeIds: new Set(nodes.map((n) => n.id).filter((id) => id !== nodeId)),
    inLoop: nodes.some((n) => n.data.def.type === "for_each" || n.data.def.type === "loop"),
    nodes: upstream.map((id) => {
      const def = byId.get(id)!;
      const component = componentOf(components, def.component);
      return {
        id,
        title: def.label || component?.display_name || kindOf(def.type).title,
        output: def.type === "trigger" ? triggerInput : (component?.output_schema ?? null),
      };
    }),
  };
}

export function Inspector({
  node,
  index,
  nodes,
  edges,
  components,
  variables,
  secrets,
  agentPrompts,
  problems,
  serverProblems,
  onChange,
  onConnect,
  onDelete,
  workflowId,
  pinned,
  variableDeclarations,
}: InspectorProps) {
  const def = node.data.def;
  const kind = kindOf(def.type);
  const component = componentOf(components, def.component);
  const nameOf = (n: WorkflowNode) =>
    n.data.def.label || componentOf(components, n.data.def.component)?.display_name || kindOf(n.data.def.type).title;
  const isCall = def.type === "activity" || def.type === "agent";
  const rawSchema = isCall ? component?.config_schema : kind.configSchema;
  const schema = useMemo(() => (rawSchema ? withoutMeta(rawSchema) : undefined), [rawSchema]);
  const config = def.config ?? {};
  const outcomes = nodeOutcomes(def);
  const upstream = useMemo(() => ancestors(def.id, edges), [def.id, edges]);
  const triggerId = nodes.find((n) => n.data.def.type === "trigger")?.id;
  const sample = useExpressionSample(workflowId, pinned, triggerId, variableDeclarations);
  const scope = useMemo(
    () => ({ ...scopeOf(def.id, nodes, upstream, components, variables), sample }),
    [def.id, nodes, upstream, components, variables, sample],
  );
  const scopeRef = useMemo(() => ({ current: scope }), []);
  scopeRef.current = scope;
  const componentChoices = useMemo(() => {
    const names = [...new Set([...components.values()].map((c) => c.name))].sort();
    return names.map((name) => ({ value: name, label: components.get(name)?.display_name ?? name }));
  }, [components]);
  const context: FormContext = useMemo(
    () => ({
      secrets,
      scope,
      completions: expressionCompletions(() => scopeRef.current),
      choices: { "agent-prompt": agentPrompts, component: componentChoices },
    }),
    [secrets, scope, scopeRef, agentPrompts, componentChoices],
  );
  const configErrors = useMemo(
    () =>
      merge(schema ? validateForm(schema, config) : new Map(), serverErrors(serverProblems, `/nodes/${index}/config`)),
    [schema, config, serverProblems, index],
  );
  const inputErrors = useMemo(() => serverErrors(serverProblems, `/nodes/${index}/input`), [serverProblems, index]);
  const layout = (def.component && COMPONENT_FORMS[def.component.name]) || {};
  /** The schema of the setting a problem points at (a config field below the whole config). */
  const settingSchema = (pointer: string): JsonSchema | undefined => {
    const prefix = `/nodes/${index}/config/`;
    if (!pointer.startsWith(prefix)) return undefined;
    const path = pointer
      .slice(prefix.length)
      .split("/")
      .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    return schemaAt(schema, path);
  };
  const update = (patch: Partial<DefinitionNode>) => {
    const next: DefinitionNode = { ...def, ...patch };
    for (const key of Object.keys(patch) as (keyof DefinitionNode)[]) {
      if (next[key] === undefined) delete next[key];
    }
    if (JSON.stringify(next) !== JSON.stringify(def)) onChange(next);
  };

  return (
    <aside className="inspector" aria-label={`Settings of ${def.id}`}>
      <header className="inspector-header">
        <Icon name={kind.icon} size={20} />
        <div>
          <h2>{nameOf(node)}</h2>
          <p className="muted small">
            {kind.title} · <code>{def.id}</code>
            {def.component && (
              <>
                {" "}
                · <code>{def.component.name}</code>
              </>
            )}
          </p>
        </div>
      </header>
      {problems.length > 0 && (
        <ul className="problem-list" aria-label="Problems of this node">
          {problems.map((p, i) => (
            <ProblemItem key={i} problem={p} schema={settingSchema(p.pointer)} />
          ))}
        </ul>
      )}
      <div className="field">
        <label htmlFor="node-label">Label</label>
        <input
          id="node-label"
          value={def.label ?? ""}
          placeholder={component?.display_name ?? kind.title}
          onChange={(event) => update({ label: event.target.value || undefined })}
        />
      </div>
      {def.type !== "trigger" && (
        <p className="hint readable" data-testid="readable-references">
          Expressions here can read <code>input</code>, <code>vars</code>
          {upstream.length > 0 && (
            <>
              {" "}
              and the output of{" "}
              {upstream.map((id, i) => (
                <span key={id}>
                  {i > 0 && ", "}
                  <code>nodes.{id}.output</code>
                </span>
              ))}
            </>
          )}
          . Type to get suggestions.{" "}
          {sample ? (
            <span data-testid="preview-source">Values are previewed against {sample.source}.</span>
          ) : (
            <span data-testid="preview-source">
              Pin sample data or test-run the draft to preview each expression's value.
            </span>
          )}
        </p>
      )}
      <section className="inspector-section" aria-labelledby="config-title">
        <h3 id="config-title">Configuration</h3>
        {schema ? (
          <SchemaForm
            key={`config-${def.id}`}
            idPrefix={`config-${def.id}`}
            label="Configuration"
            schema={schema}
            value={config}
            context={context}
            errors={configErrors}
            hints={layout.hints}
            order={layout.config}
            onChange={(next) => update({ config: next })}
          />
        ) : (
          <p className="muted">
            {isCall ? `The component "${def.component?.name}" is not in the catalog.` : "Nothing to configure."}
          </p>
        )}
      </section>
      {def.type === "trigger" && (
        <RunInputEditor
          key={`run-input-${def.id}`}
          value={config.input_schema as JsonSchema | undefined}
          onChange={(inputSchema) => {
            const next = { ...config };
            if (inputSchema && Object.keys(inputSchema).length) next.input_schema = inputSchema;
            else delete next.input_schema;
            update({ config: next });
          }}
        />
      )}
      {isCall && component && (
        <InputMapping
          nodeId={def.id}
          schema={component.input_schema}
          order={layout.input}
          value={def.input ?? {}}
          context={context}
          errors={inputErrors}
          onChange={(input) => update({ input: Object.keys(input).length ? input : undefined })}
        />
      )}
      {def.type !== "trigger" && def.type !== "end" && (
        <section className="inspector-section" aria-labelledby="execution-title">
          <h3 id="execution-title">Timeout and retries</h3>
          <SchemaForm
            key={`execution-${def.id}`}
            idPrefix={`execution-${def.id}`}
            label="Timeout and retries"
            schema={EXECUTION_SCHEMA}
            value={{ timeout_seconds: def.timeout_seconds, retry: def.retry }}
            context={context}
            errors={validateForm(EXECUTION_SCHEMA, {
              ...(def.timeout_seconds !== undefined ? { timeout_seconds: def.timeout_seconds } : {}),
              ...(def.retry ? { retry: def.retry } : {}),
            })}
            onChange={(data) => {
              const retry = (data.retry ?? {}) as RetryPolicy;
              update({
                timeout_seconds: data.timeout_seconds as number | undefined,
                retry: Object.keys(retry).length ? retry : undefined,
              });
            }}
          />
        </section>
      )}
      {outcomes.length > 0 && (
        <section className="inspector-section" aria-labelledby="connections-title">
          <h3 id="connections-title">Connections</h3>
          {outcomes.map((outcome) => {
            const current = edges.find((e) => e.source === def.id && e.sourceHandle === outcome);
            const id = `connect-${def.id}-${outcome}`;
            return (
              <div className="field field-row" key={outcome}>
                <label htmlFor={id}>{outcome === "next" ? "Then" : `On ${outcome}`}</label>
                <select
                  id={id}
                  value={current?.target ?? ""}
                  onChange={(event) => onConnect(def.id, outcome, event.target.value || null)}
                >
                  <option value="">Not connected</option>
                  {nodes
                    .filter((n) => n.id !== def.id && n.data.def.type !== "trigger")
                    .map((n) => (
                      <option key={n.id} value={n.id}>
                        {nameOf(n)} ({n.id})
                      </option>
                    ))}
                </select>
              </div>
            );
          })}
        </section>
      )}
      <button type="button" className="danger" onClick={onDelete}>
        <Icon name="trash" /> Delete node
      </button>
    </aside>
  );
}

interface InputMappingProps {
  nodeId: string;
  schema: JsonSchema | null;
  order?: string[];
  value: Record<string, string>;
  context: FormContext;
  errors: Map<string, string[]>;
  onChange: (input: Record<string, string>) => void;
}

/** The node's input: one expression per property of the component's input schema, or named
 * entries when the component takes any object (a transform, Python code, an agent's variables). */
function InputMapping({ nodeId, schema, order, value, context, errors, onChange }: InputMappingProps) {
  const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>;
  const requiredNames = (schema?.required as string[] | undefined) ?? [];
  const named = ordered(Object.keys(properties), order, requiredNames);
  const required = new Set(requiredNames);
  const open = named.length === 0 && schema?.additionalProperties !== false;
  const [extra, setExtra] = useState<{ key: string; expression: string }[]>(() =>
    open ? Object.entries(value).map(([key, expression]) => ({ key, expression })) : [],
  );
  const set = (key: string, expression: string | undefined) => {
    const next = { ...value };
    if (expression === undefined || expression === "") delete next[key];
    else next[key] = expression;
    onChange(next);
  };
  const updateExtra = (rows: { key: string; expression: string }[]) => {
    setExtra(rows);
    onChange(
      Object.fromEntries(rows.filter((r) => r.key.trim() && r.expression).map((r) => [r.key.trim(), r.expression])),
    );
  };
  if (!open && named.length === 0) return null;
  return (
    <section className="inspector-section" aria-labelledby="input-title">
      <h3 id="input-title">Input</h3>
      <p className="hint">
        {open
          ? "Name each value the component receives and give an expression for it."
          : "An expression for each input, e.g. nodes.fetch.output.body or input.email."}
      </p>
      {named.map((name) => (
        <ExpressionField
          key={name}
          id={`input-${nodeId}-${name}`}
          label={typeof properties[name]?.title === "string" ? (properties[name].title as string) : humanize(name)}
          required={required.has(name)}
          description={properties[name]?.description as string | undefined}
          value={value[name] ?? ""}
          context={context}
          errors={errors.get(`/${name}`) ?? []}
          onChange={(expression) => set(name, expression)}
        />
      ))}
      {open && (
        <div className="form-list" role="group" aria-label="Inputs">
          {extra.map((row, i) => (
            <div className="map-row" key={i} role="group" aria-label={`Input ${i + 1}`}>
              <div className="form-field">
                <label htmlFor={`input-${nodeId}-${i}-name`} className="form-label">
                  Name
                </label>
                <input
                  id={`input-${nodeId}-${i}-name`}
                  value={row.key}
                  onChange={(event) =>
                    updateExtra(extra.map((r, j) => (j === i ? { ...r, key: event.target.value } : r)))
                  }
                />
              </div>
              <ExpressionField
                id={`input-${nodeId}-${i}-expression`}
                label="Expression"
                required={false}
                value={row.expression}
                context={context}
                errors={errors.get(`/${row.key}`) ?? []}
                onChange={(expression) =>
                  updateExtra(extra.map((r, j) => (j === i ? { ...r, expression: expression ?? "" } : r)))
                }
              />
              <button
                type="button"
                className="form-array-button danger"
                onClick={() => updateExtra(extra.filter((_, j) => j !== i))}
              >
                Remove
              </button>
            </div>
          ))}
          <button
            type="button"
            className="form-array-button"
            onClick={() => setExtra([...extra, { key: "", expression: "" }])}
          >
            + Add input
          </button>
        </div>
      )}
    </section>
  );
}

function ExpressionField({
  id,
  label,
  required,
  description,
  value,
  context,
  errors,
  onChange,
}: {
  id: string;
  label: string;
  required: boolean;
  description?: string;
  value: string;
  context: FormContext;
  errors: string[];
  onChange: (expression: string | undefined) => void;
}) {
  const typed = checkExpression(value, context.scope);
  const shown = [...(typed ? [typed] : []), ...errors];
  return (
    <div className="form-field" data-field={id}>
      <label id={`${id}-label`} className="form-label">
        {label}
        {required && <span aria-hidden="true"> *</span>}
      </label>
      <CodeEditor
        id={id}
        language="expression"
        value={value}
        labelledBy={`${id}-label`}
        describedBy={`${id}-hint ${id}-error`}
        invalid={shown.length > 0}
        completions={context.completions}
        placeholder="an expression, e.g. input.name"
        onChange={(next) => onChange(next || undefined)}
      />
      <ExpressionPreview id={id} source={value} scope={context.scope} />
      {description && (
        <p className="field-description" id={`${id}-hint`}>
          {description}
        </p>
      )}
      <p className="field-error" id={`${id}-error`} role={shown.length ? "alert" : undefined}>
        {shown.join(" ")}
      </p>
    </div>
  );
}
