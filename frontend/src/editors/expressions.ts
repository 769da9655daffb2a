/** Expressions as the compiler reads them (src/workflow_builder/compiler/expressions.py): JMESPath
 * over `input`, `vars`, `nodes`, and `item`/`index`/`iteration` inside loops. Checked in the
 * browser as the user types, and completed from the workflow's nodes and schemas. */
import type { Completion, CompletionContext, CompletionResult, CompletionSource } from "@codemirror/autocomplete";
import { compile, search, type AstNode } from "jmespath";
import type { JsonSchema } from "../api/types";

export const ROOT_NAMES = ["input", "vars", "nodes", "item", "index", "iteration"] as const;
const LOOP_ROOTS = new Set(["item", "index", "iteration"]);

/** What an expression of one node may read. */
export interface ExpressionScope {
  /** The trigger's input schema (the run's input). */
  input?: JsonSchema;
  /** Declared workflow variables. */
  variables: string[];
  /** The nodes that may have run before this one, with their output schema when known. */
  nodes: { id: string; title: string; output?: JsonSchema | null }[];
  /** Every node id of the workflow (a reference to one that is not upstream is not a typo). */
  allNodeIds: Set<string>;
  /** Whether the workflow has a loop, so item/index/iteration exist somewhere. */
  inLoop: boolean;
  /** Data to preview values against (pinned data, the last run), when there is any. */
  sample?: ExpressionSample | null;
}

/** What an expression reads, as the runtime lays it out (runtime/interpreter.py `evaluate`). */
export interface ExpressionData {
  input: unknown;
  vars: Record<string, unknown>;
  nodes: Record<string, { status: string; output: unknown }>;
  item: unknown;
  index: unknown;
  iteration: unknown;
}

/** Sample data for previews, and where it came from in words ("pinned data", "the last run"). */
export interface ExpressionSample {
  data: ExpressionData;
  source: string;
}

export type ExpressionPreview =
  { ok: true; value: unknown; source: string } | { ok: false; error: string; source: string };

/** The value of a valid expression against the sample, or why it cannot be evaluated; null when
 * there is nothing to preview (no text, no sample, or the text is not a valid expression). */
export function previewExpression(
  source: string,
  sample: ExpressionSample | null | undefined,
  scope?: ExpressionScope,
): ExpressionPreview | null {
  if (!sample || !source.trim() || checkExpression(source, scope) !== null) return null;
  try {
    return { ok: true, value: search(sample.data, source) ?? null, source: sample.source };
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).replace(/^\w*Error:\s*/, "");
    return { ok: false, error: message, source: sample.source };
  }
}

/** The value under a path of keys, or undefined. */
function valueAt(value: unknown, path: string[]): unknown {
  let current = value;
  for (const name of path) {
    if (!current || typeof current !== "object" || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[name];
  }
  return current;
}

function typeOfValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value === "number" && Number.isInteger(value) ? "integer" : typeof value;
}

/** Completions for the keys of sample data, for those the schema did not already name. */
function dataCompletions(value: unknown, known: Completion[], source: string): Completion[] {
  if (!value || typeof value !== "object" || Array.isArray(value)) return known;
  const names = new Set(known.map((c) => c.label));
  const extra = Object.entries(value as Record<string, unknown>)
    .filter(([name]) => !names.has(name))
    .map(([name, item]) => ({ label: name, type: "property", detail: `${typeOfValue(item)} · ${source}` }));
  return [...known, ...extra];
}

const SAME_CONTEXT = new Set([
  "AndExpression",
  "OrExpression",
  "NotExpression",
  "Comparator",
  "Function",
  "MultiSelectList",
  "MultiSelectHash",
  "KeyValuePair",
]);
const LEFT_ONLY = new Set(["Projection", "ValueProjection", "FilterProjection", "Flatten", "IndexExpression", "Pipe"]);

/** Whether the tree has a hole (the parser of the browser accepts "input." as incomplete). */
function hasHole(node: unknown): boolean {
  if (node === null || node === undefined) return true;
  if (typeof node !== "object") return false;
  const { children, value, type } = node as AstNode;
  if (type === "KeyValuePair" && hasHole(value)) return true;
  return Array.isArray(children) && children.some(hasHole);
}

/** The quote left open, if any: 'raw text', `literal` or "identifier". */
function openQuote(source: string): string | null {
  let quote: string | null = null;
  let escaped = false;
  for (const char of source) {
    if (quote) {
      if (escaped) escaped = false;
      else if (char === "\\") escaped = true;
      else if (char === quote) quote = null;
    } else if (char === "'" || char === "`" || char === '"') quote = char;
  }
  return quote;
}

/** The field chains an expression reads from the root, e.g. ["nodes", "fetch", "output"]. */
function rootChains(node: AstNode | undefined, out: string[][]): void {
  if (!node || typeof node !== "object") return;
  const children = (node.children ?? []) as AstNode[];
  if (node.type === "Field" && node.name) out.push([node.name]);
  else if (node.type === "Subexpression") {
    const chain: string[] = [];
    let current: AstNode | undefined = node;
    const parts: AstNode[] = [];
    while (current && current.type === "Subexpression") {
      parts.unshift(...((current.children ?? []).slice(1) as AstNode[]));
      current = (current.children ?? [])[0] as AstNode | undefined;
    }
    if (current?.type === "Field" && current.name) {
      chain.push(current.name);
      for (const part of parts) {
        if (part?.type !== "Field" || !part.name) break;
        chain.push(part.name);
      }
      out.push(chain);
    } else rootChains(current, out);
  } else if (LEFT_ONLY.has(node.type)) rootChains(children[0], out);
  else if (SAME_CONTEXT.has(node.type)) {
    if (node.type === "KeyValuePair") rootChains(node.value as AstNode, out);
    for (const child of children) rootChains(child, out);
  }
}

function plainParseError(error: unknown, source: string): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/Unexpected token type: EOF|EOF/.test(message)) return "The expression ends too early.";
  const column = /position (\d+)|at (\d+)/.exec(message);
  const where = column ? ` (column ${Number(column[1] ?? column[2]) + 1})` : "";
  if (/Unknown character:(.*)/.test(message)) {
    const char = /Unknown character:(.*)/.exec(message)![1].trim();
    return `"${char}" cannot appear there${where}. Text goes in quotes: 'text'; numbers in backticks: \`100\`.`;
  }
  if (source.trim().endsWith(".")) return "The expression ends too early: a name is missing after the dot.";
  return `This is not a valid expression${where}: ${message.replace(/^\w*Error:\s*/, "")}`;
}

/** A message in plain words when the text is not a valid expression for this node, else null. */
export function checkExpression(source: string, scope?: ExpressionScope): string | null {
  if (!source.trim()) return null;
  const quote = openQuote(source);
  if (quote) return `A ${quote} is not closed.`;
  let ast: AstNode;
  try {
    ast = compile(source);
  } catch (error) {
    return plainParseError(error, source);
  }
  if (hasHole(ast)) return "The expression ends too early.";
  const chains: string[][] = [];
  rootChains(ast, chains);
  for (const chain of chains) {
    const root = chain[0];
    if (!(ROOT_NAMES as readonly string[]).includes(root)) {
      return `"${root}" is not something an expression can read: start with input, vars or nodes (text goes in quotes: '${root}').`;
    }
    if (!scope) continue;
    if (LOOP_ROOTS.has(root) && !scope.inLoop) return `"${root}" exists only inside a loop or for-each body.`;
    if (root === "vars" && chain[1] && !scope.variables.includes(chain[1]))
      return `There is no variable "${chain[1]}"; declare it in the workflow's variables.`;
    if (root === "nodes" && chain[1]) {
      if (!scope.allNodeIds.has(chain[1])) return `There is no node "${chain[1]}".`;
      if (chain[2] && chain[2] !== "output") return `Read a node's result as nodes.${chain[1]}.output.`;
    }
  }
  return null;
}

function propertiesOf(schema: unknown): Record<string, JsonSchema> {
  if (!schema || typeof schema !== "object") return {};
  const properties = (schema as { properties?: unknown }).properties;
  return properties && typeof properties === "object" ? (properties as Record<string, JsonSchema>) : {};
}

function describe(schema: JsonSchema): string | undefined {
  const type = schema.type;
  return typeof type === "string" ? type : Array.isArray(type) ? type.join(" | ") : undefined;
}

/** The schema at a path of property names under `schema`, or undefined. */
function walk(schema: unknown, path: string[]): unknown {
  let current = schema;
  for (const name of path) current = propertiesOf(current)[name];
  return current;
}

/** The completions at the end of a dotted chain: roots, node ids, `output`, schema properties. */
export function completionsFor(chain: string[], scope: ExpressionScope): Completion[] {
  if (chain.length === 0) {
    const roots: Completion[] = [
      { label: "input", type: "variable", detail: "the run's input" },
      { label: "vars", type: "variable", detail: "workflow variables" },
      { label: "nodes", type: "variable", detail: "earlier nodes' outputs" },
    ];
    if (scope.inLoop)
      roots.push(
        { label: "item", type: "variable", detail: "for-each item" },
        { label: "index", type: "variable", detail: "for-each index" },
        { label: "iteration", type: "variable", detail: "loop iteration" },
      );
    return roots;
  }
  const [root, ...rest] = chain;
  const sample = scope.sample;
  if (root === "input")
    return dataCompletions(
      sample ? valueAt(sample.data.input, rest) : undefined,
      Object.entries(propertiesOf(walk(scope.input, rest))).map(([name, schema]) => ({
        label: name,
        type: "property",
        detail: describe(schema),
      })),
      sample?.source ?? "",
    );
  if (root === "vars" && rest.length === 0)
    return scope.variables.map((name) => ({ label: name, type: "variable", detail: "variable" }));
  if (root === "nodes") {
    if (rest.length === 0)
      return scope.nodes.map((n) => ({
        label: n.id,
        type: "class",
        detail: n.title,
        // A name with a dash is quoted, as JMESPath needs.
        apply: /^[A-Za-z_]\w*$/.test(n.id) ? n.id : JSON.stringify(n.id),
      }));
    if (rest.length === 1) return [{ label: "output", type: "property", detail: "the node's result" }];
    const node = scope.nodes.find((n) => n.id === rest[0]);
    if (node && rest[1] === "output")
      return dataCompletions(
        sample ? valueAt(sample.data.nodes[node.id]?.output, rest.slice(2)) : undefined,
        Object.entries(propertiesOf(walk(node.output, rest.slice(2)))).map(([name, schema]) => ({
          label: name,
          type: "property",
          detail: describe(schema),
        })),
        sample?.source ?? "",
      );
  }
  return [];
}

/** A CodeMirror completion source for expressions of a node. */
export function expressionCompletions(scope: () => ExpressionScope): CompletionSource {
  return (context: CompletionContext): CompletionResult | null => {
    const before = context.matchBefore(/[A-Za-z_][\w.-]*$/);
    if (!before && !context.explicit) return null;
    const from = before?.from ?? context.pos;
    // A chain that follows a bracket, a quote or a dot does not start at the root.
    const charBefore = from > 0 ? context.state.sliceDoc(from - 1, from) : "";
    if (/[\w\])'"`.]/.test(charBefore)) return null;
    const parts = (before?.text ?? "").split(".");
    const partial = parts.pop() ?? "";
    const options = completionsFor(parts, scope());
    if (!options.length) return null;
    return { from: context.pos - partial.length, options, validFor: /^[\w-]*$/ };
  };
}
