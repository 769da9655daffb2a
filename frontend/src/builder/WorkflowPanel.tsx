/** The side panel when no node is selected: the compiler's problems, and the workflow's
 * declarations (run settings, signals, queries, work queues, schedules, child workflows,
 * variables) as the definition format stores them. */
import Form from "@rjsf/core";
import type { RJSFSchema, UiSchema } from "@rjsf/utils";
import type { Problem } from "../api/types";
import { JsonField, mustBeObject } from "../ui/JsonField";
import { FORM_TEMPLATES } from "./formTemplates";
import { JsonObjectField } from "./JsonObjectField";
import { formValidator } from "./formValidator";

const NAME: RJSFSchema = { type: "string", title: "Name", pattern: "^[A-Za-z_][A-Za-z0-9_]*$" };
const DESCRIPTION: RJSFSchema = { type: "string", title: "Description" };

const DECLARATIONS_SCHEMA: RJSFSchema = {
  type: "object",
  properties: {
    settings: {
      type: "object",
      title: "Run settings",
      properties: {
        timeout_seconds: { type: "integer", title: "Run timeout (s)", minimum: 1, description: "Default 3600." },
        activity_timeout_seconds: {
          type: "integer",
          title: "Activity timeout (s)",
          minimum: 1,
          description: "Default 300.",
        },
        retry: {
          type: "object",
          title: "Default retry policy",
          properties: {
            maximum_attempts: { type: "integer", title: "Maximum attempts", minimum: 1 },
            initial_interval: { type: "number", title: "Initial interval (s)", exclusiveMinimum: 0 },
            backoff_coefficient: { type: "number", title: "Backoff coefficient", minimum: 1 },
            maximum_interval: { type: "number", title: "Maximum interval (s)", exclusiveMinimum: 0 },
          },
        },
      },
    },
    signals: {
      type: "array",
      title: "Signals",
      items: {
        type: "object",
        title: "Signal",
        required: ["name"],
        properties: {
          name: NAME,
          description: DESCRIPTION,
          parameters: {
            type: "object",
            title: "Payload schema (JSON Schema)",
            description: 'What senders must send, e.g. {"type": "object", "required": ["approved_by"]}.',
          },
        },
      },
    },
    queries: {
      type: "array",
      title: "Queries",
      items: {
        type: "object",
        title: "Query",
        required: ["name"],
        properties: {
          name: NAME,
          description: DESCRIPTION,
          expression: { type: "string", title: "Expression", description: "What the query answers; default: vars." },
        },
      },
    },
    work_queues: {
      type: "array",
      title: "Work queues",
      items: {
        type: "object",
        title: "Work queue",
        required: ["name"],
        properties: {
          name: NAME,
          description: DESCRIPTION,
          max_size: { type: "integer", title: "Max size", minimum: 1 },
          priority: { type: "string", title: "Order", enum: ["fifo", "lifo", "priority"] },
          deduplicate: { type: "boolean", title: "Deduplicate items" },
          work_item_schema: { type: "object", title: "Item schema (JSON Schema)" },
        },
      },
    },
    schedules: {
      type: "array",
      title: "Schedules",
      items: {
        type: "object",
        title: "Schedule",
        required: ["cron"],
        properties: {
          cron: { type: "string", title: "Cron", description: "e.g. 0 9 * * 1-5" },
          timezone: { type: "string", title: "Time zone", description: "IANA name; default UTC." },
          start_immediately: { type: "boolean", title: "Start immediately" },
          max_runs: { type: "integer", title: "Max runs", minimum: 1 },
          input: { type: "object", title: "Run input (JSON)", description: "The inputs each scheduled run gets." },
        },
      },
    },
    child_workflows: {
      type: "array",
      title: "Child workflows",
      items: {
        type: "object",
        title: "Child workflow",
        required: ["workflow"],
        properties: {
          workflow: { type: "string", title: "Workflow (kebab name)", pattern: "^[a-z0-9]+(-[a-z0-9]+)*$" },
          parent_close_policy: {
            type: "string",
            title: "When the parent closes",
            enum: ["terminate", "abandon", "request_cancel"],
          },
          can_signal_parent: { type: "boolean", title: "May signal the parent" },
          can_query_parent: { type: "boolean", title: "May query the parent" },
        },
      },
    },
  },
};
const JSON_FIELD = { "ui:field": "json" };
const UI: UiSchema = {
  "ui:submitButtonOptions": { norender: true },
  signals: { items: { parameters: JSON_FIELD } },
  work_queues: { items: { work_item_schema: JSON_FIELD } },
  schedules: { items: { input: JSON_FIELD } },
};
const FIELDS = { json: JsonObjectField };

export type Declarations = Record<string, unknown>;

function withoutEmpty(value: Declarations): Declarations {
  const out: Declarations = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    if (Array.isArray(item) && item.length === 0) continue;
    if (item && typeof item === "object" && !Array.isArray(item) && Object.keys(item).length === 0) continue;
    out[key] = item;
  }
  return out;
}

export function WorkflowPanel({
  problems,
  validated,
  declarations,
  onDeclarations,
  onSelect,
  edgeIds,
  onRemoveEdge,
}: {
  edgeIds: Set<string>;
  onRemoveEdge: (edgeId: string) => void;
  problems: Problem[];
  validated: boolean;
  declarations: Declarations;
  onDeclarations: (next: Declarations) => void;
  onSelect: (nodeId: string) => void;
}) {
  // Pinned data has its own place (a node's "Try this node" section), not this form.
  const { variables, pinned_data, ...rest } = declarations;
  return (
    <aside className="inspector" id="problems-panel" aria-label="Workflow">
      <section aria-labelledby="problems-title">
        <h2 id="problems-title">Problems</h2>
        {!validated && <p className="muted">Checking…</p>}
        {validated && problems.length === 0 && <p className="muted">No problems found.</p>}
        <ul className="problem-list">
          {problems.map((problem, i) => (
            <li key={i} className={problem.severity === "warning" ? "warning" : "error"}>
              <strong>{problem.code}</strong> {problem.message}
              {problem.node_id && (
                <button type="button" className="link-button" onClick={() => onSelect(problem.node_id!)}>
                  Show {problem.node_id}
                </button>
              )}
              {problem.edge_id && edgeIds.has(problem.edge_id) && (
                <button type="button" className="link-button" onClick={() => onRemoveEdge(problem.edge_id!)}>
                  Remove edge {problem.edge_id}
                </button>
              )}
            </li>
          ))}
        </ul>
      </section>
      <section className="inspector-section" aria-labelledby="declarations-title">
        <h2 id="declarations-title">Workflow settings</h2>
        <p className="hint">
          Select a node to edit it. Ctrl+Z undo, Ctrl+Shift+Z redo, Ctrl+C / Ctrl+V copy and paste, Delete removes.
        </p>
        <Form
          idPrefix="workflow"
          schema={DECLARATIONS_SCHEMA}
          uiSchema={UI}
          formData={rest}
          validator={formValidator}
          liveValidate="onChange"
          showErrorList={false}
          noHtml5Validate
          templates={FORM_TEMPLATES}
          fields={FIELDS}
          onChange={(event) =>
            onDeclarations(withoutEmpty({ ...(event.formData as Declarations), variables, pinned_data }))
          }
        />
        <JsonField
          label="Variables (JSON)"
          hint={
            'Name → {"initial": value, "schema": {...}}, e.g. {"count": {"initial": 0}}. Applied when you leave the field.'
          }
          value={variables}
          check={mustBeObject}
          onChange={(next) => onDeclarations(withoutEmpty({ ...rest, variables: next, pinned_data }))}
        />
      </section>
    </aside>
  );
}
