/** How the built-in components' forms are laid out where their JSON Schemas cannot say it: which
 * editor a text field needs, and the order of the fields (the catalog stores schemas as JSONB,
 * which keeps no key order). Other components show required fields first, then the rest. */
import type { FieldHints } from "../forms/SchemaForm";

export interface ComponentForm {
  hints?: FieldHints;
  /** Config properties in the order the form shows them. */
  config?: string[];
  /** Input properties in the order the input mapping shows them. */
  input?: string[];
}

export const COMPONENT_FORMS: Record<string, ComponentForm> = {
  http_request: {
    config: [
      "method",
      "url",
      "headers",
      "query",
      "json",
      "form",
      "timeout_seconds",
      "expected_statuses",
      "follow_redirects",
      "max_response_bytes",
    ],
    input: ["path_params", "headers", "query", "json", "form"],
  },
  python_code: {
    hints: { "/code": "python" },
    config: ["code", "cpu_seconds", "memory_mb", "wall_seconds", "max_output_bytes"],
  },
  send_email: {
    hints: { "/connection": "connection", "/text": "text", "/html": "text" },
    config: ["connection", "from", "to", "cc", "bcc", "reply_to", "subject", "text", "html", "timeout_seconds"],
    input: ["to", "cc", "bcc", "reply_to", "subject", "text", "html"],
  },
  sql_query: {
    hints: { "/sql": "sql", "/connection": "connection" },
    config: ["connection", "sql", "parameters", "read_only", "max_rows", "timeout_seconds"],
  },
  llm_agent: {
    hints: {
      "/system": "template",
      "/prompt/prompt_content": "template",
      "/agent_prompt_id": "agent-prompt",
      "/tools/*": "component",
      "/tools/*/component": "component",
    },
    config: [
      "model_provider",
      "model",
      "base_url",
      "api_key",
      "agent_prompt_id",
      "prompt",
      "system",
      "output_schema",
      "json_mode",
      "tools",
      "max_tool_rounds",
      "max_tokens",
      "temperature",
      "timeout_seconds",
    ],
  },
};

export { sortNames as ordered } from "../forms/SchemaForm";
