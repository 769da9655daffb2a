/** Words for generated forms: labels from a schema's title or its key, and validation errors in
 * plain language instead of a validator's wording. */
import Ajv2020, { type ErrorObject, type ValidateFunction } from "ajv/dist/2020";
import type { JsonSchema } from "../api/types";

const WORDS: Record<string, string> = {
  url: "URL",
  id: "ID",
  uuid: "UUID",
  sql: "SQL",
  html: "HTML",
  json: "JSON",
  api: "API",
  http: "HTTP",
  llm: "LLM",
  cpu: "CPU",
  cc: "Cc",
  bcc: "Bcc",
  max: "maximum",
  min: "minimum",
  params: "parameters",
};
const UNITS: Record<string, string> = {
  mb: "MB",
  seconds: "seconds",
  ms: "ms",
  bytes: "bytes",
  s: "s",
  per_second: "per second",
};

/** "memory_mb" → "Memory (MB)", "timeout_seconds" → "Timeout (seconds)", "url" → "URL". */
export function humanize(key: string): string {
  let words = key
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .split(/[_\s-]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
  let unit: string | undefined;
  const last = words.at(-1);
  if (words.length > 1 && last && UNITS[last]) {
    unit = UNITS[last];
    words = words.slice(0, -1);
  }
  const text = words.map((w) => WORDS[w] ?? w).join(" ");
  const label = text.charAt(0).toUpperCase() + text.slice(1);
  return unit ? `${label} (${unit})` : label;
}

export function labelOf(schema: JsonSchema | undefined, key: string): string {
  const title = schema?.title;
  return typeof title === "string" && title.trim() ? title : humanize(key);
}

const TYPE_WORDS: Record<string, string> = {
  integer: "a whole number",
  number: "a number",
  string: "text",
  boolean: "yes or no",
  object: "a JSON object",
  array: "a list",
  null: "nothing",
};

const PATTERN_HINTS: Record<string, string> = {
  "^[A-Za-z_][A-Za-z0-9_]*$": "Use letters, digits and _ only, not starting with a digit.",
  "^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$": "Use lowercase letters, digits, - and _, in parts separated by /.",
  "^[a-z0-9]+(-[a-z0-9]+)*$": "Use lowercase letters and digits, in words joined by -.",
  "^[A-Za-z_][A-Za-z0-9_.-]{0,254}$": "Use letters, digits, _, . and -, not starting with a digit.",
};

function typeWords(type: unknown): string {
  const types = Array.isArray(type) ? type : [type];
  return types.map((t) => TYPE_WORDS[String(t)] ?? String(t)).join(" or ");
}

/** One validation error in plain words (its field is shown beside it). */
export function plainError(error: ErrorObject, root: JsonSchema): string {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "required":
      return "Required.";
    case "type":
      return `Expected ${typeWords(p.type)}.`;
    case "minimum":
      return `Must be at least ${p.limit}.`;
    case "maximum":
      return `Must be at most ${p.limit}.`;
    case "exclusiveMinimum":
      return `Must be more than ${p.limit}.`;
    case "exclusiveMaximum":
      return `Must be less than ${p.limit}.`;
    case "minLength":
      return p.limit === 1 ? "Must not be empty." : `Must be at least ${p.limit} characters long.`;
    case "maxLength":
      return `Must be at most ${p.limit} characters long.`;
    case "minItems":
      return `Add at least ${p.limit} item${p.limit === 1 ? "" : "s"}.`;
    case "maxItems":
      return `At most ${p.limit} items.`;
    case "uniqueItems":
      return "The items must all be different.";
    case "pattern":
      return PATTERN_HINTS[String(p.pattern)] ?? "Does not have the expected form.";
    case "format":
      return `Expected ${p.format === "uuid" ? "an ID (UUID)" : `a ${p.format}`}.`;
    case "enum":
      return `Choose one of: ${(p.allowedValues as unknown[]).map(String).join(", ")}.`;
    case "const":
      return `Must be ${JSON.stringify(p.allowedValue)}.`;
    case "additionalProperties":
      return `"${p.additionalProperty}" is not a setting here.`;
    case "not":
      return notMessage(error, root);
    case "anyOf":
    case "oneOf":
      return alternativesMessage(error, root);
    default:
      return error.message ? `${error.message.charAt(0).toUpperCase()}${error.message.slice(1)}.` : "Invalid.";
  }
}

function schemaAt(root: JsonSchema, schemaPath: string): JsonSchema | undefined {
  let current: unknown = root;
  for (const part of schemaPath.replace(/^#\/?/, "").split("/").filter(Boolean)) {
    if (!current || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[decodeURIComponent(part.replace(/~1/g, "/").replace(/~0/g, "~"))];
  }
  return current as JsonSchema | undefined;
}

function propertyLabels(root: JsonSchema, parentPath: string, names: unknown): string[] {
  const parent = schemaAt(root, parentPath);
  const properties = (parent?.properties ?? {}) as Record<string, JsonSchema>;
  return (Array.isArray(names) ? names : []).map((n) => labelOf(properties[String(n)], String(n)));
}

function notMessage(error: ErrorObject, root: JsonSchema): string {
  const negated = schemaAt(root, error.schemaPath);
  const parentPath = error.schemaPath.replace(/\/not$/, "");
  if (negated && Array.isArray(negated.required)) {
    return `Give only one of: ${propertyLabels(root, parentPath, negated.required).join(", ")}.`;
  }
  return "This combination of settings is not allowed.";
}

function alternativesMessage(error: ErrorObject, root: JsonSchema): string {
  const options = schemaAt(root, error.schemaPath);
  const parentPath = error.schemaPath.replace(/\/(anyOf|oneOf)$/, "");
  if (Array.isArray(options) && options.every((o) => o && Array.isArray((o as JsonSchema).required))) {
    const names = options.flatMap((o) => (o as JsonSchema).required as string[]);
    return `Give ${propertyLabels(root, parentPath, names).join(" or ")}.`;
  }
  return "Not a valid value here.";
}

const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true });
ajv.addFormat("uuid", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
const compiled = new Map<string, ValidateFunction | null>();

export function withoutMeta(schema: JsonSchema): JsonSchema {
  const { $schema: _schema, $id: _id, ...rest } = schema as Record<string, unknown>;
  return rest;
}

function validatorOf(schema: JsonSchema): ValidateFunction | null {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) {
    try {
      compiled.set(key, ajv.compile(withoutMeta(schema)));
    } catch {
      compiled.set(key, null);
    }
  }
  return compiled.get(key) ?? null;
}

/** The errors of `value` against `schema`, in plain words, by JSON pointer of the field
 * ("" for the whole form). A field that is neither of an anyOf's branches gets one message. */
export function validateForm(schema: JsonSchema, value: unknown): Map<string, string[]> {
  const errors = new Map<string, string[]>();
  const validate = validatorOf(schema);
  if (!validate || validate(value)) return errors;
  const all = validate.errors ?? [];
  const alternatives = all.filter((e) => e.keyword === "anyOf" || e.keyword === "oneOf").map((e) => e.schemaPath);
  for (const error of all) {
    if (alternatives.some((path) => error.schemaPath.startsWith(`${path}/`))) continue;
    if (error.keyword === "if") continue;
    const path =
      error.keyword === "required"
        ? `${error.instancePath}/${String(error.params.missingProperty)}`
        : error.instancePath;
    const message = plainError(error, schema);
    const list = errors.get(path) ?? [];
    if (!list.includes(message)) list.push(message);
    errors.set(path, list);
  }
  return errors;
}
