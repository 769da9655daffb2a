/** Checks the browser can make at once, used when the server cannot validate definitions:
 * each node's config against its JSON Schema, and activity/agent components that exist. */
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import type { Component, JsonSchema, Problem } from "../api/types";
import { componentOf } from "./canvasContext";
import { NODE_KINDS, type Definition } from "./definition";

const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
const compiled = new Map<string, ValidateFunction | null>();

function validator(schema: JsonSchema): ValidateFunction | null {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) {
    try {
      const { $schema: _ignored, $id: _id, ...rest } = schema as Record<string, unknown>;
      compiled.set(key, ajv.compile(rest));
    } catch {
      compiled.set(key, null);
    }
  }
  return compiled.get(key) ?? null;
}

export function configSchemaOf(type: string, component: Component | undefined): JsonSchema | undefined {
  if (type === "activity" || type === "agent") return component?.config_schema;
  return NODE_KINDS[type as keyof typeof NODE_KINDS]?.configSchema;
}

export function localProblems(definition: Definition, components: Map<string, Component>): Problem[] {
  const problems: Problem[] = [];
  definition.nodes.forEach((node, index) => {
    const where = `/nodes/${index}`;
    let component: Component | undefined;
    if (node.type === "activity" || node.type === "agent") {
      component = componentOf(components, node.component);
      if (!component) {
        problems.push({
          code: "unknown_component",
          message: `No component named ${JSON.stringify(node.component?.name ?? "")} in the catalog.`,
          pointer: `${where}/component`,
          node_id: node.id,
          edge_id: null,
          severity: "error",
        });
        return;
      }
    }
    const schema = configSchemaOf(node.type, component);
    const validate = schema ? validator(schema) : null;
    if (validate && !validate(node.config ?? {})) {
      for (const error of validate.errors ?? []) {
        const field =
          error.keyword === "required"
            ? `${error.instancePath}/${String(error.params.missingProperty)}`
            : error.instancePath;
        const name = field.split("/").filter(Boolean).join(".") || "config";
        problems.push({
          code: "invalid_config",
          message: error.keyword === "required" ? `${name} is required.` : `${name} ${error.message ?? "is invalid"}.`,
          pointer: `${where}/config${field}`,
          node_id: node.id,
          edge_id: null,
          severity: "error",
        });
      }
    }
  });
  return problems;
}
