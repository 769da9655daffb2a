/** The workflow definition format (src/workflow_builder/compiler/definition.py) and what each
 * node type looks like on the canvas: its outcomes (source handles), icon and config schema. */
import type { JsonSchema } from "../api/types";

export interface Position {
  x: number;
  y: number;
}

export interface RetryPolicy {
  initial_interval?: number;
  backoff_coefficient?: number;
  maximum_interval?: number;
  maximum_attempts?: number;
  non_retryable_error_types?: string[];
}

export interface DefinitionNode {
  id: string;
  type: NodeType;
  position: Position;
  label?: string;
  timeout_seconds?: number;
  retry?: RetryPolicy;
  component?: { name: string; version?: string | null };
  config?: Record<string, unknown>;
  input?: Record<string, string>;
}

export interface DefinitionEdge {
  id: string;
  source: string;
  target: string;
  source_handle?: string | null;
  target_handle?: string | null;
  label?: string | null;
}

export interface Definition {
  format_version?: 1;
  nodes: DefinitionNode[];
  edges: DefinitionEdge[];
  [declaration: string]: unknown;
}

export const NODE_TYPES = [
  "trigger",
  "activity",
  "agent",
  "condition",
  "switch",
  "join",
  "for_each",
  "loop",
  "delay",
  "wait_for_signal",
  "set_variable",
  "work_queue",
  "child_workflow",
  "end",
] as const;
export type NodeType = (typeof NODE_TYPES)[number];

/** The target handle that closes a loop: the body's last edge enters the loop node here. */
export const BACK = "back";
export const IN = "in";

const expression = (title: string, description = "A JMESPath expression, e.g. input.amount > `100`.") => ({
  type: "string",
  title,
  minLength: 1,
  description,
  "x-editor": "expression",
});
const optionalExpression = (title: string, description: string) => ({
  type: "string",
  title,
  description,
  "x-editor": "expression",
});
const NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$";

interface NodeKind {
  title: string;
  icon: string;
  /** What the palette says about it. */
  description: string;
  /** JSON Schema of `config` for built-in node types; activity/agent use the component's. */
  configSchema?: JsonSchema;
  initialConfig?: Record<string, unknown>;
}

export const NODE_KINDS: Record<NodeType, NodeKind> = {
  trigger: {
    title: "Trigger",
    icon: "play",
    description: "Where a run starts: manually, by webhook, on a schedule or on a signal.",
    initialConfig: { kind: "manual" },
    configSchema: {
      type: "object",
      properties: {
        kind: {
          type: "string",
          title: "Starts",
          enum: ["manual", "webhook", "schedule", "signal"],
          "x-enum-titles": {
            manual: "Manually (Run button or API)",
            webhook: "By webhook (HTTP POST)",
            schedule: "On a schedule (cron)",
            signal: "On a signal",
          },
          default: "manual",
        },
        cron: {
          type: "string",
          title: "Cron",
          description: "Minute, hour, day of month, month, day of week; e.g. 0 9 * * 1-5 (9:00 on weekdays).",
          "x-show-when": { kind: ["schedule"] },
        },
        timezone: { type: "string", title: "Time zone", default: "UTC", "x-show-when": { kind: ["schedule"] } },
        signal: {
          type: "string",
          title: "Signal",
          description: "The signal that starts a run.",
          pattern: NAME_PATTERN,
          "x-show-when": { kind: ["signal"] },
        },
        path: {
          type: "string",
          title: "Webhook path",
          description: "Served at /hooks/<path>; leave empty for the workflow's kebab name.",
          maxLength: 255,
          pattern: "^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$",
          "x-show-when": { kind: ["webhook"] },
        },
        auth: {
          type: "string",
          title: "Callers authenticate with",
          enum: ["api_key", "hmac"],
          "x-enum-titles": {
            api_key: "An API key (X-API-Key or Bearer)",
            hmac: "An HMAC signature (a project secret)",
          },
          default: "api_key",
          "x-show-when": { kind: ["webhook"] },
        },
        secret: {
          type: "string",
          title: "Signing secret",
          description: "The project secret the signature is made with.",
          "x-editor": "secret-name",
          "x-show-when": { kind: ["webhook"], auth: ["hmac"] },
        },
        rate_limit_per_second: {
          type: "integer",
          title: "Rate limit (runs per second)",
          minimum: 1,
          maximum: 1000000,
          default: 100,
          "x-show-when": { kind: ["webhook"] },
        },
      },
    },
  },
  activity: { title: "Activity", icon: "zap", description: "Calls an activity component." },
  agent: { title: "Agent", icon: "bot", description: "Calls an AI agent component." },
  condition: {
    title: "Condition",
    icon: "branch",
    description: "Goes to true or false depending on an expression.",
    initialConfig: {},
    configSchema: { type: "object", required: ["expression"], properties: { expression: expression("Expression") } },
  },
  switch: {
    title: "Switch",
    icon: "switch",
    description: "Takes the first case whose expression holds, else default.",
    initialConfig: { cases: [{ name: "case_1", expression: "" }] },
    configSchema: {
      type: "object",
      required: ["cases"],
      properties: {
        cases: {
          type: "array",
          title: "Cases",
          minItems: 1,
          items: {
            type: "object",
            required: ["name", "expression"],
            properties: {
              name: { type: "string", title: "Name", pattern: NAME_PATTERN },
              expression: expression("Expression"),
            },
          },
        },
      },
    },
  },
  join: {
    title: "Join",
    icon: "merge",
    description: "Waits for every incoming branch.",
    initialConfig: {},
    configSchema: { type: "object", properties: {} },
  },
  for_each: {
    title: "For each",
    icon: "list",
    description: "Runs its body once per item of a list.",
    initialConfig: { concurrency: 1 },
    configSchema: {
      type: "object",
      required: ["items"],
      properties: {
        items: expression("Items", "An expression giving the list, e.g. input.orders."),
        concurrency: { type: "integer", title: "Concurrency", minimum: 1, maximum: 1000, default: 1 },
        result: optionalExpression("Result", "An expression giving the node's result (optional)."),
      },
    },
  },
  loop: {
    title: "Loop",
    icon: "repeat",
    description: "Repeats its body until an expression holds.",
    initialConfig: { max_iterations: 10 },
    configSchema: {
      type: "object",
      required: ["until"],
      properties: {
        until: expression("Until"),
        max_iterations: { type: "integer", title: "Max iterations", minimum: 1 },
        result: optionalExpression("Result", "An expression giving the node's result (optional)."),
      },
    },
  },
  delay: {
    title: "Delay",
    icon: "clock",
    description: "A durable sleep for a duration or until a time.",
    initialConfig: { seconds: 60 },
    configSchema: {
      type: "object",
      properties: {
        seconds: { type: "number", title: "Seconds", minimum: 0 },
        until: optionalExpression("Until", "An expression giving an ISO 8601 time, e.g. input.remind_at."),
      },
    },
  },
  wait_for_signal: {
    title: "Wait for signal",
    icon: "radio",
    description: "Waits for a declared signal, or times out.",
    initialConfig: {},
    configSchema: {
      type: "object",
      required: ["signal"],
      properties: {
        signal: { type: "string", title: "Signal", pattern: NAME_PATTERN },
        timeout_seconds: { type: "integer", title: "Timeout (seconds)", minimum: 1 },
      },
    },
  },
  set_variable: {
    title: "Set variable",
    icon: "variable",
    description: "Assigns an expression's value to a variable.",
    initialConfig: {},
    configSchema: {
      type: "object",
      required: ["variable", "value"],
      properties: {
        variable: { type: "string", title: "Variable", pattern: NAME_PATTERN },
        value: expression("Value"),
      },
    },
  },
  work_queue: {
    title: "Work queue",
    icon: "inbox",
    description: "Takes an item from a work queue, or waits for one.",
    initialConfig: { operation: "take" },
    configSchema: {
      type: "object",
      required: ["queue", "operation"],
      properties: {
        queue: { type: "string", title: "Queue", pattern: NAME_PATTERN },
        operation: { type: "string", title: "Operation", enum: ["take", "wait_for_item"], default: "take" },
        timeout_seconds: { type: "integer", title: "Timeout (seconds)", minimum: 1 },
      },
    },
  },
  child_workflow: {
    title: "Child workflow",
    icon: "workflow",
    description: "Starts another workflow, and optionally waits for it.",
    initialConfig: { mode: "execute" },
    configSchema: {
      type: "object",
      required: ["workflow"],
      properties: {
        workflow: { type: "string", title: "Workflow (kebab name)", pattern: "^[a-z0-9]+(-[a-z0-9]+)*$" },
        mode: { type: "string", title: "Mode", enum: ["execute", "start"], default: "execute" },
        parent_close_policy: {
          type: "string",
          title: "When the parent closes",
          enum: ["terminate", "abandon", "request_cancel"],
          default: "terminate",
        },
      },
    },
  },
  end: {
    title: "End",
    icon: "stop",
    description: "Ends the run with a status and an output.",
    initialConfig: { status: "completed" },
    configSchema: {
      type: "object",
      properties: {
        status: { type: "string", title: "Status", enum: ["completed", "failed"], default: "completed" },
        output: optionalExpression("Output", "An expression for the run's output, e.g. nodes.fetch.output.body."),
      },
    },
  },
};

/** What the canvas knows about a node type; a type it does not know (a newer format, a typo in
 * an imported file) still shows, and the compiler's problems say what is wrong with it. */
export function kindOf(type: string): NodeKind {
  return NODE_KINDS[type as NodeType] ?? { title: type, icon: "box", description: "" };
}

/** The handles an edge may leave `node` from, as the compiler defines them. */
export function nodeOutcomes(node: DefinitionNode): string[] {
  const config = node.config ?? {};
  switch (node.type) {
    case "condition":
      return ["true", "false"];
    case "switch": {
      const cases = Array.isArray(config.cases) ? (config.cases as { name?: string }[]) : [];
      return [...cases.map((c) => c.name).filter((n): n is string => Boolean(n)), "default"];
    }
    case "for_each":
    case "loop":
      return ["body", "done"];
    case "wait_for_signal":
      return ["received", "timed_out"];
    case "work_queue":
      return config.operation === "wait_for_item" ? ["received", "timed_out"] : ["next"];
    case "activity":
    case "agent":
    case "child_workflow":
      return ["next", "error"];
    case "end":
      return [];
    default:
      return ["next"];
  }
}

/** The outcome an edge without source_handle stands for. */
export function defaultOutcome(node: DefinitionNode): string | null {
  if (node.type === "condition" || node.type === "switch") return null;
  if (node.type === "for_each" || node.type === "loop") return "done";
  return nodeOutcomes(node)[0] ?? null;
}

export function isLoop(type: NodeType): boolean {
  return type === "for_each" || type === "loop";
}

/** A node id not yet used: "<type>_<n>" (the format allows letters, digits, _ and -). */
export function freshNodeId(type: string, taken: Set<string>): string {
  let n = 1;
  while (taken.has(`${type}_${n}`)) n += 1;
  return `${type}_${n}`;
}

export function freshEdgeId(
  source: string,
  handle: string | null | undefined,
  target: string,
  taken: Set<string>,
): string {
  const base = `${source}-${handle ?? "next"}-${target}`.replace(/[^A-Za-z0-9_-]/g, "_");
  let id = base;
  let n = 2;
  while (taken.has(id)) id = `${base}-${n++}`;
  return id;
}
