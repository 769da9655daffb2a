/** Shapes the API reads and writes (see /openapi.json). */

export interface Me {
  id: string;
  email: string;
  display_name: string | null;
  role: string;
  permissions: string[];
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  expires_at: string | null;
  last_used_at: string | null;
  created_at: string;
}

export interface ApiKeyCreated extends ApiKey {
  key: string;
}

export interface Project {
  id: string;
  name: string;
  description: string | null;
  task_queue_name: string;
  is_active: boolean;
  total_workflow_executions: number;
}

export interface Organization {
  id: string;
  name: string;
  slug: string;
}

export interface ComponentType {
  id: string;
  name: string;
  description: string | null;
  icon: string | null;
}

export interface WorkflowStatus {
  id: string;
  name: string;
  description: string | null;
  color: string;
}

export type JsonSchema = Record<string, unknown>;

export interface Component {
  id: string;
  name: string;
  display_name: string;
  description: string | null;
  type: string;
  version: string;
  visibility: string;
  config_schema: JsonSchema;
  input_schema: JsonSchema | null;
  output_schema: JsonSchema | null;
  tags: string[];
  deprecated: boolean;
  updated_at: string;
}

export interface AgentPrompt {
  id: string;
  name: string;
  display_name: string;
  description: string | null;
  version: string;
  visibility: string;
  tags: string[];
  deprecated: boolean;
  recommended_models: unknown[];
  updated_at: string;
}

export interface TaskQueue {
  id: string;
  name: string;
  display_name: string | null;
  description: string | null;
  max_concurrent_workflows: number;
  max_concurrent_activities: number;
  is_system_queue: boolean;
}

export interface Workflow {
  id: string;
  name: string;
  display_name: string | null;
  description: string | null;
  kebab_name: string;
  status: string;
  project_id: string | null;
  version: string;
  definition?: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
  etag?: string;
}

export interface Problem {
  code: string;
  message: string;
  pointer: string;
  severity?: "error" | "warning";
  node_id: string | null;
  edge_id: string | null;
}

export interface ValidationReport {
  valid?: boolean;
  errors: Problem[];
  warnings: Problem[];
}

export const EXECUTION_STATUSES = ["pending", "running", "completed", "failed", "canceled"] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

export interface Execution {
  id: string;
  workflow_id: string;
  project_id: string | null;
  compiled_code_id: string | null;
  is_test?: boolean;
  status: ExecutionStatus;
  trigger_kind: string;
  error: string | null;
  started_at: string;
  completed_at: string | null;
  duration_ms: number | null;
  parent_execution_id: string | null;
}

export const STEP_STATUSES = ["running", "waiting", "completed", "failed", "skipped", "canceled"] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface ExecutionStep {
  node_id: string;
  iteration: string;
  node_type: string;
  component_id?: string | null;
  status: StepStatus;
  /** What the component reported (an agent: tokens and cost), when it reported anything. */
  metrics?: Record<string, unknown> | null;
  inputs: unknown;
  outputs: unknown;
  error: string | null;
  attempts: number;
  started_at: string;
  completed_at: string | null;
  duration_ms: number | null;
}

export interface ExecutionDetail extends Execution {
  inputs: Record<string, unknown>;
  outputs: unknown;
  steps: ExecutionStep[];
  /** The run in the Temporal Web UI (engine Temporal only). */
  engine_url?: string | null;
}

/** A declared signal, query or work queue of a compiled version (generated ones included). */
export interface SignalDeclaration {
  name: string;
  description?: string | null;
  parameters?: JsonSchema | null;
  work_queue?: string | null;
}

export interface QueryDeclaration {
  name: string;
  description?: string | null;
  work_queue?: string | null;
}

export interface WorkQueueDeclaration {
  name: string;
  description?: string | null;
  priority?: string;
  max_size?: number | null;
  deduplicate?: boolean;
  work_item_schema?: JsonSchema | null;
}

export interface VersionDetail {
  id: string;
  version: string;
  plan: {
    signals?: SignalDeclaration[];
    queries?: QueryDeclaration[];
    work_queues?: WorkQueueDeclaration[];
  };
}

export interface Worker {
  id: string;
  project_id: string;
  worker_id: string;
  task_queue_name: string;
  status: "running" | "stopped" | "error";
  last_heartbeat_at: string | null;
  started_at: string;
  stopped_at: string | null;
  error_message: string | null;
}
