/** Compiled versions and deployments: what runs, whether the draft differs, rollback. */
import { api } from "./client";

export interface Version {
  id: string;
  workflow_id: string;
  version: string;
  content_hash: string | null;
  is_active: boolean;
  compiled_at: string;
  execution_count: number;
  avg_execution_duration_ms: number;
  last_executed_at: string | null;
}

export interface VersionWithPlan extends Version {
  plan: { nodes?: { id: string; [key: string]: unknown }[]; [key: string]: unknown };
}

export interface DeploymentState {
  workflow_id: string;
  status: string;
  deployed_version: Version | null;
  draft_hash: string | null;
  draft_compiles: boolean;
  changed: boolean;
}

export function readDeploymentState(workflowId: string): Promise<DeploymentState> {
  return api<DeploymentState>(`/workflows/${workflowId}/deployment`);
}

export function listVersions(workflowId: string): Promise<Version[]> {
  return api<Version[]>(`/workflows/${workflowId}/versions`);
}

export function readVersion(workflowId: string, versionId: string): Promise<VersionWithPlan> {
  return api<VersionWithPlan>(`/workflows/${workflowId}/versions/${versionId}`);
}

/** Make `versionId` the version new runs use (a rollback when it is older). */
export function activateVersion(workflowId: string, versionId: string): Promise<Version> {
  return api<Version>(`/workflows/${workflowId}/versions/${versionId}/activate`, { method: "POST" });
}
