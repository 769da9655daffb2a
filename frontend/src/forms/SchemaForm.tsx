/** A form generated from a JSON Schema, for node settings: each property is one field chosen from
 * its schema (text, number, switch, choice, list, key/value pairs, nested group, a JSON, code or
 * expression editor, or text-or-secret). Nothing is written that the user did not enter: no
 * defaults, no empty list items, no nulls; a cleared field removes its key. */
import type { CompletionSource } from "@codemirror/autocomplete";
import { useEffect, useId, useMemo, useState, type ReactNode } from "react";
import type { JsonSchema } from "../api/types";
import { CodeEditor, type EditorLanguage } from "../editors/CodeEditor";
import { ExpressionPreview } from "../editors/ExpressionPreview";
import { checkExpression, type ExpressionScope } from "../editors/expressions";
import { humanize, labelOf } from "./schemaText";

export interface ProjectSecret {
  name: string;
  kind: string;
}

/** What fields need beyond their schema. */
export interface FormContext {
  /** The project's secrets and connections; null when the workflow is in no project. */
  secrets: ProjectSecret[] | null;
  scope: ExpressionScope;
  completions: CompletionSource;
  /** Values a field may take, by hint: "agent-prompt" (prompt ids), "component" (names). */
  choices?: Partial<Record<ChoiceHint, Choice[]>>;
}

export interface Choice {
  value: string;
  label: string;
}
export type ChoiceHint = "agent-prompt" | "component";

/** How to edit a field the schema alone does not say: a code language, an expression, a
 * project secret's or connection's name. Keyed by JSON pointer of the field ("/code"). */
export type FieldHint = EditorLanguage | "secret-name" | "connection" | ChoiceHint;
export type FieldHints = Record<string, FieldHint>;

type Value = unknown;
type Kind =
  | "string"
  | "number"
  | "boolean"
  | "enum"
  | "string-or-secret"
  | "secret-ref"
  | "object"
  | "map"
  | "list"
  | "object-list"
  | "json";

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

function typesOf(schema: JsonSchema): string[] {
  const type = schema.type;
  return typeof type === "string" ? [type] : Array.isArray(type) ? (type as string[]) : [];
}

function isSecretRef(schema: unknown): boolean {
  return isObject(schema) && isObject(schema.properties) && "$secret" in schema.properties;
}

function alternativesOf(schema: JsonSchema): JsonSchema[] | null {
  const options = schema.anyOf ?? schema.oneOf;
  return Array.isArray(options) ? (options as JsonSchema[]) : null;
}

function hasPropertiesOf(schema: JsonSchema): boolean {
  return isObject(schema.properties) && Object.keys(schema.properties).length > 0;
}

export function kindOf(schema: JsonSchema): Kind {
  if (isSecretRef(schema)) return "secret-ref";
  const options = alternativesOf(schema);
  if (options && !schema.type) {
    if (options.some(isSecretRef) && options.some((o) => typesOf(o).includes("string"))) return "string-or-secret";
    if (options.some((o) => typesOf(o).includes("string"))) return "string";
    return "json";
  }
  if (Array.isArray(schema.enum)) return "enum";
  const types = typesOf(schema);
  if (types.length > 1) return types.includes("string") ? "string" : "json";
  switch (types[0]) {
    case "string":
      return "string";
    case "integer":
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "object":
      if (hasPropertiesOf(schema)) return "object";
      if (isObject(schema.additionalProperties)) {
        const value = kindOf(schema.additionalProperties as JsonSchema);
        return ["string", "number", "boolean", "enum", "string-or-secret"].includes(value) ? "map" : "json";
      }
      return "json";
    case "array": {
      const items = isObject(schema.items) ? (schema.items as JsonSchema) : {};
      const item = kindOf(items);
      if (["string", "number", "enum", "string-or-secret"].includes(item)) return "list";
      if (item === "object") return "object-list";
      return "json";
    }
    default:
      return hasPropertiesOf(schema) ? "object" : "json";
  }
}

/** Property names in `order`; the others follow, required ones first. */
export function sortNames(names: string[], order: string[] | undefined, required: string[]): string[] {
  const rank = (name: string) => {
    const at = order?.indexOf(name) ?? -1;
    if (at >= 0) return at;
    return (order?.length ?? 0) + (required.includes(name) ? 0 : 1000) + names.indexOf(name);
  };
  return [...names].sort((a, b) => rank(a) - rank(b));
}

/** An object's value with `key` set, or removed when `next` is undefined. */
function withKey(value: Record<string, unknown>, key: string, next: Value): Record<string, unknown> {
  const copy = { ...value };
  if (next === undefined) delete copy[key];
  else copy[key] = next;
  return copy;
}

/** Whether a property shows, from `x-show-when: {sibling: [values]}` (the sibling's default
 * counts when it is unset): a trigger shows only the fields of its kind. */
function visible(schema: JsonSchema, siblings: Record<string, unknown>, parent: JsonSchema): boolean {
  const when = schema["x-show-when"];
  if (!isObject(when)) return true;
  const properties = (parent.properties ?? {}) as Record<string, JsonSchema>;
  return Object.entries(when).every(([name, allowed]) => {
    const current = siblings[name] ?? properties[name]?.default;
    return Array.isArray(allowed) && allowed.includes(current);
  });
}

interface FieldProps {
  schema: JsonSchema;
  path: string;
  value: Value;
  onChange: (value: Value) => void;
  label: string;
  required: boolean;
  context: FormContext;
  errors: Map<string, string[]>;
  hints: FieldHints;
  id: string;
}

function errorsUnder(errors: Map<string, string[]>, path: string, deep: boolean): string[] {
  const found: string[] = [];
  for (const [where, messages] of errors) {
    if (where === path || (deep && where.startsWith(`${path}/`))) found.push(...messages);
  }
  return [...new Set(found)];
}

/** Label, control, description and errors of one field. */
function FieldFrame({
  id,
  label,
  required,
  description,
  errors,
  children,
  labelFor = true,
  className = "",
}: {
  id: string;
  label: string;
  required: boolean;
  description?: unknown;
  errors: string[];
  children: ReactNode;
  labelFor?: boolean;
  className?: string;
}) {
  return (
    <div className={`form-field ${className}`} data-field={id}>
      <span className="form-label-row">
        <label id={`${id}-label`} htmlFor={labelFor ? id : undefined} className="form-label">
          {label}
        </label>
        {required && (
          <span className="required-mark" title="Required">
            {" "}
            *
          </span>
        )}
      </span>
      {children}
      {typeof description === "string" && description && (
        <p className="field-description" id={`${id}-hint`}>
          {description}
        </p>
      )}
      <p className="field-error" id={`${id}-error`} role={errors.length ? "alert" : undefined}>
        {errors.join(" ")}
      </p>
    </div>
  );
}

export function SchemaField(props: FieldProps) {
  const { schema, path, hints } = props;
  // An object given for a field that may be text or an object (an agent's tool: a component's
  // name, or a component with fixed settings) is edited as that object, hints for the text aside.
  const objectBranch = isObject(props.value)
    ? alternativesOf(schema)?.find(
        (option) => typesOf(option).includes("object") && hasPropertiesOf(option) && !isSecretRef(option),
      )
    : undefined;
  if (objectBranch) return <ObjectField {...props} schema={objectBranch} />;
  // A hint for "/tools/*" applies to every item of the tools list.
  const hint =
    hints[path] ?? hints[path.replace(/\/\d+(?=\/|$)/g, "/*")] ?? (schema["x-editor"] as FieldHint | undefined);
  const kind = kindOf(schema);
  if (hint === "secret-name" || hint === "connection") return <SecretNameField {...props} kind={hint} />;
  if ((hint === "agent-prompt" || hint === "component") && props.context.choices?.[hint]?.length)
    return <ChoiceField {...props} choices={props.context.choices[hint]!} />;
  if (kind === "string" && hint) return <EditorField {...props} language={hint as EditorLanguage} />;
  switch (kind) {
    case "string":
      return <TextField {...props} />;
    case "number":
      return <NumberField {...props} />;
    case "boolean":
      return <BooleanField {...props} />;
    case "enum":
      return <EnumField {...props} />;
    case "string-or-secret":
      return <StringOrSecretField {...props} />;
    case "secret-ref":
      return <SecretRefField {...props} />;
    case "object":
      return <ObjectField {...props} />;
    case "map":
      return <MapField {...props} />;
    case "list":
      return <ListField {...props} />;
    case "object-list":
      return <ObjectListField {...props} />;
    default:
      return <JsonValueField {...props} />;
  }
}

/** Text chosen from a list the form is given (agent prompts, component names). */
function ChoiceField({
  schema,
  path,
  value,
  onChange,
  label,
  required,
  errors,
  id,
  choices,
}: FieldProps & { choices: Choice[] }) {
  const own = errorsUnder(errors, path, false);
  const current = typeof value === "string" ? value : "";
  return (
    <FieldFrame id={id} label={label} required={required} description={schema.description} errors={own}>
      <select
        id={id}
        value={current}
        aria-invalid={own.length ? true : undefined}
        aria-describedby={describedBy(id)}
        onChange={(event) => onChange(event.target.value || undefined)}
      >
        <option value="">Choose…</option>
        {current && !choices.some((c) => c.value === current) && <option value={current}>{current} (not found)</option>}
        {choices.map((choice) => (
          <option key={choice.value} value={choice.value}>
            {choice.label}
          </option>
        ))}
      </select>
    </FieldFrame>
  );
}

function describedBy(id: string): string {
  return `${id}-hint ${id}-error`;
}

function TextField({ schema, path, value, onChange, label, required, errors, id }: FieldProps) {
  const own = errorsUnder(errors, path, false);
  return (
    <FieldFrame id={id} label={label} required={required} description={schema.description} errors={own}>
      <input
        id={id}
        type="text"
        value={typeof value === "string" ? value : value === undefined ? "" : String(value)}
        placeholder={typeof schema.default === "string" ? schema.default : undefined}
        aria-invalid={own.length ? true : undefined}
        aria-describedby={describedBy(id)}
        onChange={(event) => onChange(event.target.value === "" ? undefined : event.target.value)}
      />
    </FieldFrame>
  );
}

function EditorField({
  schema,
  path,
  value,
  onChange,
  label,
  required,
  errors,
  id,
  context,
  language,
}: FieldProps & { language: EditorLanguage }) {
  const text = typeof value === "string" ? value : "";
  const typed = language === "expression" ? checkExpression(text, context.scope) : null;
  const own = [...(typed ? [typed] : []), ...errorsUnder(errors, path, false)];
  return (
    <FieldFrame
      id={id}
      label={label}
      required={required}
      description={schema.description}
      errors={own}
      labelFor={false}
    >
      <CodeEditor
        id={id}
        language={language}
        value={text}
        labelledBy={`${id}-label`}
        describedBy={describedBy(id)}
        invalid={own.length > 0}
        completions={language === "expression" ? context.completions : undefined}
        onChange={(next) => onChange(next === "" ? undefined : next)}
      />
      {language === "expression" && <ExpressionPreview id={id} source={text} scope={context.scope} />}
    </FieldFrame>
  );
}

function NumberField({ schema, path, value, onChange, label, required, errors, id }: FieldProps) {
  const integer = typesOf(schema).includes("integer") && !typesOf(schema).includes("number");
  const [text, setText] = useState(value === undefined || value === null ? "" : String(value));
  const [local, setLocal] = useState<string | null>(null);
  useEffect(() => {
    // A value changed from outside (undo) replaces the text unless the text already means it.
    const parsed = text.trim() === "" ? undefined : Number(text);
    if (parsed !== value) setText(value === undefined || value === null ? "" : String(value));
    // Only an outside change of the value matters here.
  }, [value]);
  const own = [...(local ? [local] : []), ...errorsUnder(errors, path, false)];
  return (
    <FieldFrame id={id} label={label} required={required} description={schema.description} errors={own}>
      <input
        id={id}
        type="text"
        inputMode={integer ? "numeric" : "decimal"}
        value={text}
        placeholder={schema.default !== undefined ? `${String(schema.default)} (default)` : undefined}
        aria-invalid={own.length ? true : undefined}
        aria-describedby={describedBy(id)}
        onChange={(event) => {
          const next = event.target.value;
          setText(next);
          if (next.trim() === "") {
            setLocal(null);
            onChange(undefined);
            return;
          }
          const parsed = Number(next);
          if (!Number.isFinite(parsed)) setLocal("Enter a number.");
          else if (integer && !Number.isInteger(parsed)) setLocal("Enter a whole number.");
          else {
            setLocal(null);
            onChange(parsed);
          }
        }}
      />
    </FieldFrame>
  );
}

function BooleanField({ schema, path, value, onChange, label, errors, id }: FieldProps) {
  const own = errorsUnder(errors, path, false);
  const checked = typeof value === "boolean" ? value : schema.default === true;
  return (
    <div className="form-field form-check" data-field={id}>
      <label htmlFor={id} className="check-label">
        <input
          id={id}
          type="checkbox"
          checked={checked}
          aria-describedby={describedBy(id)}
          onChange={(event) => onChange(event.target.checked)}
        />{" "}
        <span id={`${id}-label`}>{label}</span>
      </label>
      {typeof schema.description === "string" && (
        <p className="field-description" id={`${id}-hint`}>
          {schema.description}
        </p>
      )}
      <p className="field-error" id={`${id}-error`}>
        {own.join(" ")}
      </p>
    </div>
  );
}

function EnumField({ schema, path, value, onChange, label, required, errors, id }: FieldProps) {
  const own = errorsUnder(errors, path, false);
  const options = schema.enum as unknown[];
  const titles = (schema["x-enum-titles"] ?? {}) as Record<string, string>;
  const current = value ?? schema.default;
  const index = options.findIndex((o) => o === current);
  const keyOf = (i: number) => (typeof options[i] === "string" ? (options[i] as string) : `#${i}`);
  return (
    <FieldFrame id={id} label={label} required={required} description={schema.description} errors={own}>
      <select
        id={id}
        value={index < 0 ? "" : keyOf(index)}
        aria-invalid={own.length ? true : undefined}
        aria-describedby={describedBy(id)}
        onChange={(event) => {
          const chosen = options.findIndex((_, i) => keyOf(i) === event.target.value);
          onChange(chosen < 0 ? undefined : options[chosen]);
        }}
      >
        {(index < 0 || (!required && schema.default === undefined)) && <option value="">Choose…</option>}
        {options.map((option, i) => (
          <option key={i} value={keyOf(i)}>
            {titles[String(option)] ?? String(option)}
          </option>
        ))}
      </select>
    </FieldFrame>
  );
}

function secretsOfKind(context: FormContext, kind: "secret" | "connection"): ProjectSecret[] {
  return (context.secrets ?? []).filter((s) => s.kind === kind);
}

function SecretSelect({
  id,
  secrets,
  value,
  onChange,
  invalid,
  noun = "secret",
}: {
  id: string;
  secrets: ProjectSecret[];
  value: string;
  onChange: (name: string | undefined) => void;
  invalid: boolean;
  noun?: string;
}) {
  const names = secrets.map((s) => s.name);
  return (
    <select
      id={id}
      value={value}
      aria-invalid={invalid ? true : undefined}
      aria-describedby={describedBy(id)}
      onChange={(event) => onChange(event.target.value || undefined)}
    >
      <option value="">{names.length ? `Choose a ${noun}…` : `No ${noun}s in this project yet`}</option>
      {value && !names.includes(value) && <option value={value}>{value} (not found)</option>}
      {names.map((name) => (
        <option key={name} value={name}>
          {name}
        </option>
      ))}
    </select>
  );
}

/** A project secret's or connection's name, chosen from the project's list. */
function SecretNameField({
  schema,
  path,
  value,
  onChange,
  label,
  required,
  errors,
  id,
  context,
  kind,
}: FieldProps & { kind: "secret-name" | "connection" }) {
  const own = errorsUnder(errors, path, false);
  if (context.secrets === null)
    return <TextField {...{ schema, path, value, onChange, label, required, errors, id, context, hints: {} }} />;
  const noun = kind === "connection" ? "connection" : "secret";
  return (
    <FieldFrame id={id} label={label} required={required} description={schema.description} errors={own}>
      <SecretSelect
        id={id}
        noun={noun}
        secrets={secretsOfKind(context, kind === "connection" ? "connection" : "secret")}
        value={typeof value === "string" ? value : ""}
        onChange={onChange}
        invalid={own.length > 0}
      />
    </FieldFrame>
  );
}

/** Text, or a project secret resolved when the node runs ({"$secret": NAME}): one field with a
 * switch, never two. */
function StringOrSecretField({ schema, path, value, onChange, label, required, errors, id, context }: FieldProps) {
  const isRef = isObject(value) && typeof value.$secret === "string";
  const [useSecret, setUseSecret] = useState(isRef);
  useEffect(() => setUseSecret(isRef), [isRef]);
  const own = errorsUnder(errors, path, true);
  const secretName = isRef ? String((value as Record<string, unknown>).$secret) : "";
  return (
    <FieldFrame id={id} label={label} required={required} description={schema.description} errors={own}>
      <div className="secret-switch-row">
        {useSecret ? (
          <SecretSelect
            id={id}
            secrets={secretsOfKind(context, "secret")}
            value={secretName}
            onChange={(name) => onChange(name ? { $secret: name } : undefined)}
            invalid={own.length > 0}
          />
        ) : (
          <input
            id={id}
            type="text"
            value={typeof value === "string" ? value : ""}
            aria-invalid={own.length ? true : undefined}
            aria-describedby={describedBy(id)}
            onChange={(event) => onChange(event.target.value === "" ? undefined : event.target.value)}
          />
        )}
        <label className="check-label secret-switch">
          <input
            type="checkbox"
            role="switch"
            checked={useSecret}
            disabled={context.secrets === null}
            title={context.secrets === null ? "Secrets belong to a project; this workflow is in none." : undefined}
            onChange={(event) => {
              setUseSecret(event.target.checked);
              onChange(undefined);
            }}
          />{" "}
          Use a secret
        </label>
      </div>
    </FieldFrame>
  );
}

/** A field that can only name a project secret (an API key). */
function SecretRefField({ schema, path, value, onChange, label, required, errors, id, context }: FieldProps) {
  const own = errorsUnder(errors, path, true);
  const name = isObject(value) && typeof value.$secret === "string" ? value.$secret : "";
  return (
    <FieldFrame
      id={id}
      label={label}
      required={required}
      description={
        schema.title === "Secret reference" ? "A project secret, read when the node runs." : schema.description
      }
      errors={own}
    >
      <SecretSelect
        id={id}
        secrets={secretsOfKind(context, "secret")}
        value={name}
        onChange={(next) => onChange(next ? { $secret: next } : undefined)}
        invalid={own.length > 0}
      />
    </FieldFrame>
  );
}

/** A group of fields (a nested object), or the whole form at the top. */
function ObjectField({ schema, path, value, onChange, label, required, errors, id, context, hints }: FieldProps) {
  const current = isObject(value) ? value : {};
  const own = errorsUnder(errors, path, false);
  return (
    <fieldset className="form-group-fields" data-field={id}>
      <legend>
        {label}
        {required && <span aria-hidden="true"> *</span>}
      </legend>
      {typeof schema.description === "string" && <p className="field-description">{schema.description}</p>}
      <p className="field-error">{own.join(" ")}</p>
      <ObjectProperties
        schema={schema}
        path={path}
        value={current}
        onChange={(next) => onChange(Object.keys(next).length ? next : undefined)}
        context={context}
        errors={errors}
        hints={hints}
        idPrefix={id}
      />
    </fieldset>
  );
}

function ObjectProperties({
  schema,
  path,
  value,
  onChange,
  context,
  errors,
  hints,
  idPrefix,
  order,
}: {
  schema: JsonSchema;
  path: string;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  context: FormContext;
  errors: Map<string, string[]>;
  hints: FieldHints;
  idPrefix: string;
  order?: string[];
}) {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const requiredNames = (schema.required as string[] | undefined) ?? [];
  const required = new Set(requiredNames);
  const names = sortNames(Object.keys(properties), order, requiredNames);
  const change = (key: string, next: Value) => {
    let updated = withKey(value, key, next);
    // Settings that a change hides (another trigger kind's) are dropped with it.
    for (const [name, property] of Object.entries(properties)) {
      if (name in updated && !visible(property, updated, schema)) updated = withKey(updated, name, undefined);
    }
    onChange(updated);
  };
  return (
    <>
      {names
        .map((name) => [name, properties[name]] as const)
        .filter(([, property]) => isObject(property) && !property.readOnly && visible(property, value, schema))
        .map(([name, property]) => (
          <SchemaField
            key={name}
            schema={property}
            path={`${path}/${name}`}
            value={value[name]}
            onChange={(next) => change(name, next)}
            label={
              isSecretRef(property) && property.title === "Secret reference" ? humanize(name) : labelOf(property, name)
            }
            required={required.has(name)}
            context={context}
            errors={errors}
            hints={hints}
            id={`${idPrefix}-${name}`}
          />
        ))}
    </>
  );
}

interface Row {
  key: string;
  value: Value;
}

function rowsOf(value: Value): Row[] {
  return isObject(value) ? Object.entries(value).map(([key, v]) => ({ key, value: v })) : [];
}

function objectOf(rows: Row[]): Record<string, unknown> {
  return Object.fromEntries(
    rows.filter((r) => r.key.trim() && r.value !== undefined).map((r) => [r.key.trim(), r.value]),
  );
}

/** Name/value pairs (headers, query parameters, a form body). */
function MapField({ schema, path, value, onChange, label, required, errors, id, context, hints }: FieldProps) {
  const [rows, setRows] = useState<Row[]>(() => rowsOf(value));
  useEffect(() => {
    if (JSON.stringify(objectOf(rows)) !== JSON.stringify(isObject(value) ? value : {})) setRows(rowsOf(value));
    // Only an outside change of the value matters here.
  }, [value]);
  const update = (next: Row[]) => {
    setRows(next);
    const object = objectOf(next);
    onChange(Object.keys(object).length ? object : undefined);
  };
  const valueSchema = schema.additionalProperties as JsonSchema;
  const own = errorsUnder(errors, path, false);
  return (
    <fieldset className="form-group-fields form-map" data-field={id}>
      <legend id={`${id}-label`}>
        {label}
        {required && <span aria-hidden="true"> *</span>}
      </legend>
      {typeof schema.description === "string" && <p className="field-description">{schema.description}</p>}
      {rows.map((row, i) => (
        <div className="map-row" key={i} role="group" aria-label={`${label} ${i + 1}`}>
          <div className="form-field">
            <label htmlFor={`${id}-${i}-name`} className="form-label">
              Name
            </label>
            <input
              id={`${id}-${i}-name`}
              type="text"
              value={row.key}
              onChange={(event) => update(rows.map((r, j) => (j === i ? { ...r, key: event.target.value } : r)))}
            />
          </div>
          <SchemaField
            schema={valueSchema}
            path={`${path}/${row.key}`}
            value={row.value}
            onChange={(next) => update(rows.map((r, j) => (j === i ? { ...r, value: next } : r)))}
            label="Value"
            required={false}
            context={context}
            errors={errors}
            hints={hints}
            id={`${id}-${i}-value`}
          />
          <button
            type="button"
            className="form-array-button danger"
            onClick={() => update(rows.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </div>
      ))}
      <p className="field-error">{own.join(" ")}</p>
      <button
        type="button"
        className="form-array-button"
        onClick={() => setRows([...rows, { key: "", value: undefined }])}
        aria-label={`Add to ${label}`}
      >
        + Add
      </button>
    </fieldset>
  );
}

function listOf(rows: Value[]): Value[] {
  return rows.filter((v) => v !== undefined && v !== "");
}

/** A list of simple values; an item is written once it has a value (no empty items). */
function ListField({ schema, path, value, onChange, label, required, errors, id, context, hints }: FieldProps) {
  const [rows, setRows] = useState<Value[]>(() => (Array.isArray(value) ? value : []));
  useEffect(() => {
    if (JSON.stringify(listOf(rows)) !== JSON.stringify(Array.isArray(value) ? value : []))
      setRows(Array.isArray(value) ? value : []);
    // Only an outside change of the value matters here.
  }, [value]);
  const update = (next: Value[]) => {
    setRows(next);
    const list = listOf(next);
    onChange(list.length ? list : undefined);
  };
  const items = (schema.items ?? {}) as JsonSchema;
  const own = errorsUnder(errors, path, false);
  // Items that may also be a group of settings (an agent's tool offered under a name of its
  // own, with a fixed config) can be added as that group.
  const withSettings = alternativesOf(items)?.some(
    (option) => typesOf(option).includes("object") && hasPropertiesOf(option) && !isSecretRef(option),
  );
  return (
    <fieldset className="form-group-fields form-list" data-field={id}>
      <legend id={`${id}-label`}>
        {label}
        {required && <span aria-hidden="true"> *</span>}
      </legend>
      {typeof schema.description === "string" && <p className="field-description">{schema.description}</p>}
      {rows.map((row, i) => (
        <div className="list-row" key={i}>
          <SchemaField
            schema={items}
            path={`${path}/${listOf(rows.slice(0, i)).length}`}
            value={row}
            onChange={(next) => update(rows.map((r, j) => (j === i ? next : r)))}
            label={`${label} ${i + 1}`}
            required={false}
            context={context}
            errors={errors}
            hints={hints}
            id={`${id}-${i}`}
          />
          <button
            type="button"
            className="form-array-button danger"
            aria-label={`Remove ${label} ${i + 1}`}
            onClick={() => update(rows.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </div>
      ))}
      <p className="field-error">{own.join(" ")}</p>
      <button
        type="button"
        className="form-array-button"
        onClick={() => setRows([...rows, undefined])}
        aria-label={`Add to ${label}`}
      >
        + Add
      </button>
      {withSettings && (
        <button
          type="button"
          className="form-array-button"
          onClick={() => update([...rows, {}])}
          aria-label={`Add one with settings to ${label}`}
        >
          + Add with settings
        </button>
      )}
    </fieldset>
  );
}

/** A list of groups (a switch's cases). */
function ObjectListField({ schema, path, value, onChange, label, required, errors, id, context, hints }: FieldProps) {
  const rows = Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
  const items = (schema.items ?? {}) as JsonSchema;
  const own = errorsUnder(errors, path, false);
  const update = (next: Record<string, unknown>[]) => onChange(next.length ? next : undefined);
  return (
    <fieldset className="form-group-fields form-list" data-field={id}>
      <legend id={`${id}-label`}>
        {label}
        {required && <span aria-hidden="true"> *</span>}
      </legend>
      {rows.map((row, i) => (
        <div className="object-row" key={i} role="group" aria-label={`${label} ${i + 1}`}>
          <ObjectProperties
            schema={items}
            path={`${path}/${i}`}
            value={isObject(row) ? row : {}}
            onChange={(next) => update(rows.map((r, j) => (j === i ? next : r)))}
            context={context}
            errors={errors}
            hints={hints}
            idPrefix={`${id}-${i}`}
          />
          <button
            type="button"
            className="form-array-button danger"
            onClick={() => update(rows.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </div>
      ))}
      <p className="field-error">{own.join(" ")}</p>
      <button
        type="button"
        className="form-array-button"
        onClick={() => update([...rows, {}])}
        aria-label={`Add to ${label}`}
      >
        + Add
      </button>
    </fieldset>
  );
}

function pretty(value: Value): string {
  return value === undefined ? "" : JSON.stringify(value, null, 2);
}

/** Any JSON value (a body, a JSON Schema, parameters): a JSON editor, applied while it parses. */
function JsonValueField({ schema, path, value, onChange, label, required, errors, id }: FieldProps) {
  const [text, setText] = useState(() => pretty(value));
  const [local, setLocal] = useState<string | null>(null);
  useEffect(() => {
    let parsed: Value;
    try {
      parsed = text.trim() ? JSON.parse(text) : undefined;
    } catch {
      return;
    }
    if (JSON.stringify(parsed) !== JSON.stringify(value)) setText(pretty(value));
    // Only an outside change of the value matters here.
  }, [value]);
  const types = typesOf(schema);
  const own = [...(local ? [local] : []), ...errorsUnder(errors, path, true)];
  return (
    <FieldFrame
      id={id}
      label={label}
      required={required}
      description={schema.description ?? "Any JSON value."}
      errors={own}
      labelFor={false}
    >
      <CodeEditor
        id={id}
        language="json"
        value={text}
        labelledBy={`${id}-label`}
        describedBy={describedBy(id)}
        invalid={own.length > 0}
        onChange={(next) => {
          setText(next);
          if (!next.trim()) {
            setLocal(null);
            onChange(undefined);
            return;
          }
          let parsed: Value;
          try {
            parsed = JSON.parse(next);
          } catch (reason) {
            setLocal(`Not valid JSON yet: ${reason instanceof Error ? reason.message : String(reason)}`);
            return;
          }
          const kind = Array.isArray(parsed) ? "array" : parsed === null ? "null" : typeof parsed;
          if (types.length && !types.includes(kind) && !(kind === "number" && types.includes("integer"))) {
            setLocal(
              `Expected ${types.map((t) => (t === "object" ? "a JSON object" : t === "array" ? "a list" : t)).join(" or ")}.`,
            );
            return;
          }
          setLocal(null);
          onChange(parsed);
        }}
      />
    </FieldFrame>
  );
}

interface SchemaFormProps {
  /** Prefix of the fields' ids (unique on the page). */
  idPrefix: string;
  schema: JsonSchema;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  context: FormContext;
  /** Errors by JSON pointer of the field, in plain words; "" for the form as a whole. */
  errors: Map<string, string[]>;
  hints?: FieldHints;
  /** The order of the top-level fields (unlisted ones follow, required first). */
  order?: string[];
  /** What the form is about, for screen readers. */
  label: string;
}

/** The fields of an object schema (the top level has no group box). */
export function SchemaForm({
  idPrefix,
  schema,
  value,
  onChange,
  context,
  errors,
  hints = {},
  order,
  label,
}: SchemaFormProps) {
  const formId = useId();
  const general = errors.get("") ?? [];
  const properties = useMemo(() => Object.keys((schema.properties ?? {}) as object), [schema]);
  return (
    <div className="schema-form" role="group" aria-label={label} id={formId}>
      {general.length > 0 && (
        <p className="field-error" role="alert">
          {general.join(" ")}
        </p>
      )}
      {properties.length === 0 && kindOf(schema) === "json" ? (
        <p className="muted small">Nothing to configure.</p>
      ) : (
        <ObjectProperties
          schema={schema}
          path=""
          value={value}
          onChange={onChange}
          context={context}
          errors={errors}
          hints={hints}
          idPrefix={idPrefix}
          order={order}
        />
      )}
    </div>
  );
}
