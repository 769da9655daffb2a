/** The side panel: the selected node's settings as forms generated from JSON Schema, its outgoing
 * connections (a keyboard way to wire outcomes), and its problems. */
import Form from "@rjsf/core";
import type { ErrorSchema, RJSFSchema, UiSchema } from "@rjsf/utils";
import { JsonObjectField } from "./JsonObjectField";
import { useMemo } from "react";
import type { Component, JsonSchema, Problem } from "../api/types";
import { Icon } from "../ui/Icon";
import { JsonField, mustBeObject } from "../ui/JsonField";
import { BACK, kindOf, nodeOutcomes, type DefinitionNode, type RetryPolicy } from "./definition";
import { componentOf } from "./canvasContext";
import { FORM_TEMPLATES } from "./formTemplates";
import { formValidator } from "./formValidator";
import type { WorkflowEdge, WorkflowNode } from "./graph";

const HIDE_SUBMIT: UiSchema = { "ui:submitButtonOptions": { norender: true } };
const FIELDS = { json: JsonObjectField };

/** The form layout of a config: free-form objects (a JSON Schema, say) as JSON text areas. */
function configUi(schema: RJSFSchema): UiSchema {
  const ui: UiSchema = { ...HIDE_SUBMIT };
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (
      typeof property === "object" &&
      property.type === "object" &&
      !property.properties &&
      !property.additionalProperties
    ) {
      ui[name] = { "ui:field": "json" };
    }
  }
  return ui;
}

const EXECUTION_SCHEMA: RJSFSchema = {
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

function withoutMeta(schema: JsonSchema): RJSFSchema {
  const { $schema: _schema, $id: _id, ...rest } = schema as Record<string, unknown>;
  return rest as RJSFSchema;
}

/** The input mapping form: one expression per property of the component's input schema. */
function inputSchema(component: Component | undefined): RJSFSchema | null {
  const properties = (component?.input_schema?.properties ?? null) as Record<
    string,
    { title?: string; description?: string }
  > | null;
  if (!properties || Object.keys(properties).length === 0) return null;
  const required = (component?.input_schema?.required as string[] | undefined) ?? [];
  return {
    type: "object",
    required,
    properties: Object.fromEntries(
      Object.entries(properties).map(([name, property]) => [
        name,
        {
          type: "string",
          title: property.title ?? name,
          description: property.description
            ? `${property.description} (an expression)`
            : "An expression, e.g. input.email",
        },
      ]),
    ),
  };
}

const MISSING_PROPERTY = /'([^']+)' is a required property/;

/** Compiler problems about this node's config, as rjsf's extra errors under their field: those
 * located at `/nodes/<index>/config/<field>`, and missing required properties of the config. */
function configErrors(problems: Problem[], index: number): ErrorSchema {
  const config = `/nodes/${index}/config`;
  const errors: Record<string, { __errors: string[] }> = {};
  for (const problem of problems) {
    let field: string | undefined;
    if (problem.pointer.startsWith(`${config}/`)) field = problem.pointer.slice(config.length + 1).split("/")[0];
    else if (problem.pointer === config) field = MISSING_PROPERTY.exec(problem.message)?.[1];
    if (field) (errors[field] ??= { __errors: [] }).__errors.push(problem.message);
  }
  return errors as ErrorSchema;
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
  /** This node's problems. */
  problems: Problem[];
  /** Every problem the compiler reported (the config form shows those under its fields). */
  serverProblems: Problem[];
  onChange: (def: DefinitionNode) => void;
  onConnect: (source: string, outcome: string, target: string | null) => void;
  onDelete: () => void;
}

export function Inspector({
  node,
  index,
  nodes,
  edges,
  components,
  problems,
  serverProblems,
  onChange,
  onConnect,
  onDelete,
}: InspectorProps) {
  const def = node.data.def;
  const kind = kindOf(def.type);
  const component = componentOf(components, def.component);
  const nameOf = (n: WorkflowNode) =>
    n.data.def.label || componentOf(components, n.data.def.component)?.display_name || kindOf(n.data.def.type).title;
  const schema = def.type === "activity" || def.type === "agent" ? component?.config_schema : kind.configSchema;
  const input = useMemo(() => inputSchema(component), [component]);
  const extraErrors = useMemo(() => configErrors(serverProblems, index), [serverProblems, index]);
  const outcomes = nodeOutcomes(def);
  const upstream = useMemo(() => ancestors(def.id, edges), [def.id, edges]);
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
            <li key={i} className={p.severity === "warning" ? "warning" : "error"}>
              <strong>{p.code}</strong> {p.message}
            </li>
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
          .
        </p>
      )}
      <section className="inspector-section" aria-labelledby="config-title">
        <h3 id="config-title">Configuration</h3>
        {schema ? (
          <Form
            key={`config-${def.id}`}
            idPrefix={`config-${def.id}`}
            schema={withoutMeta(schema)}
            uiSchema={configUi(withoutMeta(schema))}
            fields={FIELDS}
            formData={def.config ?? {}}
            validator={formValidator}
            liveValidate="onChange"
            showErrorList={false}
            extraErrors={extraErrors}
            noHtml5Validate
            templates={FORM_TEMPLATES}
            onChange={(event) => update({ config: (event.formData ?? {}) as Record<string, unknown> })}
          />
        ) : (
          <p className="muted">
            {def.type === "activity" || def.type === "agent"
              ? `The component "${def.component?.name}" is not in the catalog.`
              : "Nothing to configure."}
          </p>
        )}
      </section>
      {def.type === "trigger" && (
        <JsonField
          key={`input-schema-${def.id}`}
          label="Input schema (JSON Schema)"
          hint='What a run takes as input, e.g. {"type": "object", "properties": {"amount": {"type": "number"}}}. Applied when you leave the field.'
          value={(def.config ?? {}).input_schema}
          check={mustBeObject}
          onChange={(schema) => {
            const config = { ...(def.config ?? {}) };
            if (Object.keys(schema as object).length) config.input_schema = schema;
            else delete config.input_schema;
            update({ config });
          }}
        />
      )}
      {input && (
        <section className="inspector-section" aria-labelledby="input-title">
          <h3 id="input-title">Input</h3>
          <Form
            key={`input-${def.id}`}
            idPrefix={`input-${def.id}`}
            schema={input}
            uiSchema={HIDE_SUBMIT}
            formData={def.input ?? {}}
            validator={formValidator}
            liveValidate="onChange"
            showErrorList={false}
            noHtml5Validate
            templates={FORM_TEMPLATES}
            onChange={(event) => {
              const data = (event.formData ?? {}) as Record<string, string>;
              update({ input: Object.keys(data).length ? data : undefined });
            }}
          />
        </section>
      )}
      {def.type !== "trigger" && def.type !== "end" && (
        <section className="inspector-section" aria-labelledby="execution-title">
          <h3 id="execution-title">Timeout and retries</h3>
          <Form
            key={`execution-${def.id}`}
            idPrefix={`execution-${def.id}`}
            schema={EXECUTION_SCHEMA}
            uiSchema={HIDE_SUBMIT}
            formData={{ timeout_seconds: def.timeout_seconds, retry: def.retry ?? {} }}
            validator={formValidator}
            liveValidate="onChange"
            showErrorList={false}
            noHtml5Validate
            templates={FORM_TEMPLATES}
            onChange={(event) => {
              const data = (event.formData ?? {}) as { timeout_seconds?: number; retry?: RetryPolicy };
              const retry = Object.fromEntries(Object.entries(data.retry ?? {}).filter(([, v]) => v !== undefined));
              update({
                timeout_seconds: data.timeout_seconds,
                retry: Object.keys(retry).length ? (retry as RetryPolicy) : undefined,
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
