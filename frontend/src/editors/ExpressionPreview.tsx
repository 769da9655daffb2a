/** The live value of an expression field: evaluated in the browser as the user types, against
 * the workflow's pinned data or its last run. Nothing shows while the text is not a valid
 * expression (the field's error says why) or when there is no data to read. */
import { previewExpression, type ExpressionScope } from "./expressions";

const MAX_CHARS = 2000;

function shown(value: unknown): string {
  const text = JSON.stringify(value, null, 2) ?? "null";
  return text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS)}…` : text;
}

export function ExpressionPreview({ id, source, scope }: { id: string; source: string; scope?: ExpressionScope }) {
  const preview = previewExpression(source, scope?.sample, scope);
  if (!preview) return null;
  return (
    <div
      className={`expression-preview${preview.ok ? "" : " expression-preview-error"}`}
      id={`${id}-preview`}
      data-testid="expression-preview"
      aria-live="polite"
    >
      <span className="expression-preview-source">
        {preview.ok ? "Value" : "Cannot evaluate"} against {preview.source}
        {preview.ok && preview.value === null && " — nothing there"}:
      </span>
      {preview.ok ? <pre>{shown(preview.value)}</pre> : <span className="multiline"> {preview.error}</span>}
    </div>
  );
}
