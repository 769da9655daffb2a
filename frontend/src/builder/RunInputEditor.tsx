/** What a run takes as input, edited as a list of fields (name, type, required) rather than as
 * JSON Schema; the schema itself is one switch away for what the list cannot say. */
import { useId, useState } from "react";
import type { JsonSchema } from "../api/types";
import { CodeEditor } from "../editors/CodeEditor";

const TYPES = [
  ["string", "Text"],
  ["number", "Number"],
  ["integer", "Whole number"],
  ["boolean", "Yes / no"],
  ["array", "List"],
  ["object", "Object"],
] as const;
type FieldType = (typeof TYPES)[number][0];

interface InputRow {
  name: string;
  type: FieldType;
  title: string;
  required: boolean;
}

const SIMPLE_KEYS = new Set(["type", "title", "description"]);

/** The rows a schema stands for, or null when it says more than rows can (then JSON it is). */
function rowsOf(schema: JsonSchema | undefined): InputRow[] | null {
  if (!schema || Object.keys(schema).length === 0) return [];
  const { type, properties, required, ...rest } = schema as Record<string, unknown>;
  if (type !== "object" || Object.keys(rest).length > 0) return null;
  const requiredNames = Array.isArray(required) ? (required as string[]) : [];
  const rows: InputRow[] = [];
  for (const [name, property] of Object.entries((properties ?? {}) as Record<string, Record<string, unknown>>)) {
    if (!property || Object.keys(property).some((key) => !SIMPLE_KEYS.has(key))) return null;
    if (!TYPES.some(([t]) => t === property.type)) return null;
    rows.push({
      name,
      type: property.type as FieldType,
      title: typeof property.title === "string" ? property.title : "",
      required: requiredNames.includes(name),
    });
  }
  return rows;
}

function schemaOf(rows: InputRow[]): JsonSchema | undefined {
  const named = rows.filter((r) => r.name.trim());
  if (named.length === 0) return undefined;
  const required = named.filter((r) => r.required).map((r) => r.name.trim());
  return {
    type: "object",
    ...(required.length ? { required } : {}),
    properties: Object.fromEntries(
      named.map((r) => [r.name.trim(), { type: r.type, ...(r.title.trim() ? { title: r.title.trim() } : {}) }]),
    ),
  };
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function RunInputEditor({
  value,
  onChange,
}: {
  value: JsonSchema | undefined;
  onChange: (schema: JsonSchema | undefined) => void;
}) {
  const id = useId();
  const initial = rowsOf(value);
  const [asJson, setAsJson] = useState(initial === null);
  const [rows, setRows] = useState<InputRow[]>(initial ?? []);
  const [text, setText] = useState(() => (value ? JSON.stringify(value, null, 2) : ""));
  const [jsonError, setJsonError] = useState<string | null>(null);

  const updateRows = (next: InputRow[]) => {
    setRows(next);
    const schema = schemaOf(next);
    setText(schema ? JSON.stringify(schema, null, 2) : "");
    onChange(schema);
  };
  const updateText = (next: string) => {
    setText(next);
    if (!next.trim()) {
      setJsonError(null);
      onChange(undefined);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(next);
    } catch (reason) {
      setJsonError(`Not valid JSON yet: ${reason instanceof Error ? reason.message : String(reason)}`);
      return;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      setJsonError("Expected a JSON object.");
      return;
    }
    setJsonError(null);
    onChange(parsed as JsonSchema);
  };
  const back = rowsOf(value);

  return (
    <section className="inspector-section" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Run input</h3>
      <p className="hint">What a run takes as input; the Run button asks for these fields.</p>
      {asJson ? (
        <div className="form-field">
          <label id={`${id}-json-label`} className="form-label">
            Input schema (JSON Schema)
          </label>
          <CodeEditor
            id={`${id}-json`}
            language="json"
            value={text}
            labelledBy={`${id}-json-label`}
            describedBy={`${id}-json-error`}
            invalid={!!jsonError}
            onChange={updateText}
          />
          <p className="field-error" id={`${id}-json-error`}>
            {jsonError}
          </p>
        </div>
      ) : (
        <div className="form-list" role="group" aria-label="Run input fields">
          {rows.map((row, i) => {
            const rowId = `${id}-${i}`;
            const badName = row.name && !NAME.test(row.name) ? "Use letters, digits and _ only." : null;
            return (
              <div className="object-row" key={i} role="group" aria-label={`Run input field ${i + 1}`}>
                <div className="form-field">
                  <label htmlFor={`${rowId}-name`} className="form-label">
                    Field name
                  </label>
                  <input
                    id={`${rowId}-name`}
                    value={row.name}
                    aria-invalid={badName ? true : undefined}
                    onChange={(event) =>
                      updateRows(rows.map((r, j) => (j === i ? { ...r, name: event.target.value } : r)))
                    }
                  />
                  <p className="field-error">{badName}</p>
                </div>
                <div className="form-field">
                  <label htmlFor={`${rowId}-title`} className="form-label">
                    Shown as
                  </label>
                  <input
                    id={`${rowId}-title`}
                    value={row.title}
                    placeholder={row.name}
                    onChange={(event) =>
                      updateRows(rows.map((r, j) => (j === i ? { ...r, title: event.target.value } : r)))
                    }
                  />
                </div>
                <div className="form-field">
                  <label htmlFor={`${rowId}-type`} className="form-label">
                    Type
                  </label>
                  <select
                    id={`${rowId}-type`}
                    value={row.type}
                    onChange={(event) =>
                      updateRows(rows.map((r, j) => (j === i ? { ...r, type: event.target.value as FieldType } : r)))
                    }
                  >
                    {TYPES.map(([type, label]) => (
                      <option key={type} value={type}>
                        {label}
                      </option>
                    ))}
                  </select>
                </div>
                <label className="check-label">
                  <input
                    type="checkbox"
                    checked={row.required}
                    onChange={(event) =>
                      updateRows(rows.map((r, j) => (j === i ? { ...r, required: event.target.checked } : r)))
                    }
                  />{" "}
                  Required
                </label>
                <button
                  type="button"
                  className="form-array-button danger"
                  onClick={() => updateRows(rows.filter((_, j) => j !== i))}
                >
                  Remove
                </button>
              </div>
            );
          })}
          <button
            type="button"
            className="form-array-button"
            onClick={() => setRows([...rows, { name: "", type: "string", title: "", required: false }])}
          >
            + Add input field
          </button>
        </div>
      )}
      <button
        type="button"
        className="link-button"
        disabled={asJson && (back === null || !!jsonError)}
        title={asJson && back === null ? "This schema says more than the field list can show." : undefined}
        onClick={() => {
          if (asJson) setRows(back ?? []);
          else setText(value ? JSON.stringify(value, null, 2) : "");
          setAsJson(!asJson);
        }}
      >
        {asJson ? "Edit as a list of fields" : "Edit as JSON Schema"}
      </button>
    </section>
  );
}
