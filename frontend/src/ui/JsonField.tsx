/** A labelled JSON text field: applied when the user leaves it, with the parse error shown inline. */
import { useId, useState } from "react";

interface JsonFieldProps {
  label: string;
  hint: string;
  value: unknown;
  /** What an empty field means. */
  empty?: unknown;
  onChange: (value: unknown) => void;
  /** Extra check of the parsed value; return a message to refuse it. */
  check?: (value: unknown) => string | null;
}

export function JsonField({ label, hint, value, empty = {}, onChange, check }: JsonFieldProps) {
  const id = useId();
  const [text, setText] = useState(() => JSON.stringify(value ?? empty, null, 2));
  const [error, setError] = useState<string | null>(null);
  const apply = () => {
    let parsed: unknown;
    try {
      parsed = text.trim() ? JSON.parse(text) : empty;
    } catch (reason) {
      setError(`Not valid JSON: ${reason instanceof Error ? reason.message : String(reason)}`);
      return;
    }
    const problem = check?.(parsed) ?? null;
    setError(problem);
    if (!problem) onChange(parsed);
  };
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        rows={5}
        spellCheck={false}
        className="code"
        value={text}
        onChange={(event) => setText(event.target.value)}
        onBlur={apply}
        aria-invalid={error ? true : undefined}
        aria-describedby={`${id}-hint ${id}-error`}
      />
      <p className="hint" id={`${id}-hint`}>
        {hint}
      </p>
      <p className="field-error" id={`${id}-error`}>
        {error}
      </p>
    </div>
  );
}

export function mustBeObject(value: unknown): string | null {
  return value && typeof value === "object" && !Array.isArray(value) ? null : "Expected a JSON object.";
}
