/** A form field for a JSON object the form generator cannot lay out (a JSON Schema, a run
 * input): a JSON text area applied when the user leaves it, with the parse error inline. */
import type { FieldProps } from "@rjsf/utils";
import { useState } from "react";

export function JsonObjectField({ formData, onChange, fieldPathId, schema, disabled, readonly }: FieldProps) {
  const id = fieldPathId.$id;
  const [text, setText] = useState(() => (formData === undefined ? "" : JSON.stringify(formData, null, 2)));
  const [error, setError] = useState<string | null>(null);
  const apply = () => {
    if (!text.trim()) {
      setError(null);
      onChange(undefined, fieldPathId.path);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (reason) {
      setError(`Not valid JSON: ${reason instanceof Error ? reason.message : String(reason)}`);
      return;
    }
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      setError("Expected a JSON object.");
      return;
    }
    setError(null);
    onChange(value, fieldPathId.path);
  };
  return (
    <div className="form-group field">
      <label htmlFor={id} className="control-label">
        {schema.title ?? fieldPathId.path.at(-1)}
      </label>
      <textarea
        id={id}
        className="code"
        rows={3}
        spellCheck={false}
        value={text}
        disabled={disabled || readonly}
        onChange={(event) => setText(event.target.value)}
        onBlur={apply}
        aria-invalid={error ? true : undefined}
        aria-describedby={`${id}-hint ${id}-error`}
      />
      {schema.description && (
        <p className="field-description" id={`${id}-hint`}>
          {schema.description}
        </p>
      )}
      <p className="field-error" id={`${id}-error`}>
        {error}
      </p>
    </div>
  );
}
