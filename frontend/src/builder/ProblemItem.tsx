/** One problem of a node in plain words, with its technical detail one click away: the check
 * that found it, where (a JSON pointer into the definition) and, for a setting, the schema the
 * setting must match. */
import { useId, useState } from "react";
import type { JsonSchema, Problem } from "../api/types";
import { Icon } from "../ui/Icon";

/** The part of a JSON Schema at a path of property names and array indexes, if any. */
export function schemaAt(schema: JsonSchema | undefined, path: string[]): JsonSchema | undefined {
  let current: unknown = schema;
  for (const part of path) {
    if (!current || typeof current !== "object") return undefined;
    const node = current as { properties?: Record<string, unknown>; items?: unknown };
    current = /^\d+$/.test(part) && node.items ? node.items : node.properties?.[part];
  }
  return current && typeof current === "object" ? (current as JsonSchema) : undefined;
}

export function ProblemItem({ problem, schema }: { problem: Problem; schema?: JsonSchema }) {
  const [open, setOpen] = useState(false);
  const id = useId();
  return (
    <li className={problem.severity === "warning" ? "warning" : "error"}>
      {problem.message}
      <button
        type="button"
        className="problem-detail-toggle"
        aria-label="Details of this problem"
        aria-expanded={open}
        aria-controls={id}
        title="Details of this problem"
        onClick={() => setOpen(!open)}
      >
        <Icon name="search" size={12} />
      </button>
      {open && (
        <div className="problem-detail" id={id} data-testid="problem-detail">
          <code>{problem.code}</code> at <code>{problem.pointer || "/"}</code>
          {schema && <pre aria-label="The schema of this setting">{JSON.stringify(schema, null, 2)}</pre>}
        </div>
      )}
    </li>
  );
}
