/** Workflow endpoints: list, create, read, save (optimistic concurrency) and validate. */
import { api, ApiError, request, type Page } from "./client";
import { hasRoute } from "./capabilities";
import type { ValidationReport, Workflow } from "./types";

export const KEBAB_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

export interface WorkflowFilters {
  q?: string;
  status?: string;
  project_id?: string | null;
  organization_id?: string | null;
}

export function listWorkflows(filters: WorkflowFilters): Promise<Page<Workflow>> {
  return api<Page<Workflow>>("/workflows", { query: { limit: 200, sort: "-updated_at", ...filters } });
}

export interface WorkflowCreate {
  name: string;
  display_name: string;
  kebab_name: string;
  description?: string;
  project_id?: string | null;
  visibility?: "private" | "organization" | "public";
  organization_id?: string | null;
  definition?: Record<string, unknown>;
}

export function createWorkflow(data: WorkflowCreate): Promise<Workflow> {
  return api<Workflow>("/workflows", { method: "POST", body: data });
}

/** A workflow and the entity tag that a save must send back as If-Match. */
export interface Versioned {
  workflow: Workflow;
  etag: string;
}

function etagOf(headers: Headers, workflow: Workflow): string {
  return headers.get("ETag") ?? workflow.etag ?? workflow.updated_at;
}

export async function readWorkflow(id: string): Promise<Versioned> {
  const { data, headers } = await request<Workflow>(`/workflows/${id}`);
  return { workflow: data, etag: etagOf(headers, data) };
}

/** Save a definition only if nobody saved since `etag`; a 412 ApiError says someone did. */
export async function saveDefinition(id: string, definition: unknown, etag: string): Promise<Versioned> {
  const { data, headers } = await request<Workflow>(`/workflows/${id}`, {
    method: "PATCH",
    body: { definition },
    headers: { "If-Match": etag },
  });
  return { workflow: data, etag: etagOf(headers, data) };
}

/** The compiler's verdict on the saved definition, or null when the server cannot validate workflows yet. */
export async function validateWorkflow(id: string): Promise<ValidationReport | null> {
  if (!(await hasRoute("/api/v1/workflows/{workflow_id}/validate"))) return null;
  try {
    return await api<ValidationReport>(`/workflows/${id}/validate`, { method: "POST" });
  } catch (reason) {
    if (reason instanceof ApiError && reason.status === 404) return null;
    throw reason;
  }
}

export function isConflict(reason: unknown): boolean {
  return reason instanceof ApiError && reason.status === 412;
}
