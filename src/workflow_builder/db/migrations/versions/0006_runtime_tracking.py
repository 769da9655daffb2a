"""Runtime tracking: content-hashed compiled versions (one active per workflow), what each
execution is pinned to and who started it, per-node step history, schedule bookkeeping, and
the running sums that keep averages exact under concurrent runs.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

from workflow_builder.db.migrations import rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = f"""
alter table public.workflow_compiled_code
  add column content_hash char(64),
  add column finished_count bigint not null default 0,
  add column total_duration_ms bigint not null default 0,
  add constraint workflow_compiled_code_workflow_id_content_hash_key
    unique (workflow_id, content_hash);
create unique index workflow_compiled_code_one_active
  on public.workflow_compiled_code (workflow_id) where is_active;

alter table public.workflow_executions
  add column compiled_code_id uuid references public.workflow_compiled_code (id),
  add column project_id uuid references public.projects (id) on delete set null,
  add column created_by uuid references public.users (id) on delete set null,
  add column trigger_kind varchar(20) not null default 'manual',
  add column idempotency_key varchar(255),
  add column parent_execution_id uuid references public.workflow_executions (id),
  add column schedule_id uuid references public.workflow_scheduled_workflows (id)
    on delete set null,
  add constraint workflow_executions_trigger_kind_check
    check (trigger_kind in ('manual', 'webhook', 'schedule', 'child', 'retry')),
  add constraint workflow_executions_workflow_id_idempotency_key_key
    unique (workflow_id, idempotency_key);
create index idx_workflow_executions_workflow_id_started_at
  on public.workflow_executions (workflow_id, started_at desc);
create index idx_workflow_executions_project_id_started_at
  on public.workflow_executions (project_id, started_at desc);
create index idx_workflow_executions_parent_execution_id
  on public.workflow_executions (parent_execution_id) where parent_execution_id is not null;

create table public.execution_steps (
  id uuid primary key default gen_random_uuid(),
  execution_id uuid not null references public.workflow_executions (id) on delete cascade,
  node_id varchar(255) not null,
  iteration varchar(255) not null default '',
  node_type varchar(50) not null,
  component_id uuid references public.components (id) on delete set null,
  status varchar(20) not null,
  inputs jsonb,
  outputs jsonb,
  error text,
  attempts integer not null default 0,
  started_at timestamptz not null default now(),
  completed_at timestamptz,
  duration_ms integer,
  constraint execution_steps_execution_id_node_id_iteration_key
    unique (execution_id, node_id, iteration),
  constraint execution_steps_status_check
    check (status in ('running', 'waiting', 'completed', 'failed', 'skipped', 'canceled'))
);

alter table public.activity_statistics
  add column total_duration_ms bigint not null default 0;

alter table public.projects
  add column finished_workflow_executions bigint not null default 0,
  add column total_execution_duration_ms bigint not null default 0;

alter table public.workflow_scheduled_workflows
  add column is_active boolean not null default true,
  add column run_count integer not null default 0,
  add column last_run_at timestamptz,
  add column next_run_at timestamptz;

{rls.enable("execution_steps")}
grant select on public.execution_steps to authenticated;
create policy execution_steps_select on public.execution_steps for select to authenticated
  using (execution_id in (select e.id from public.workflow_executions e));
"""

DOWNGRADE = """
drop table public.execution_steps;
drop index public.idx_workflow_executions_workflow_id_started_at;
alter table public.workflow_scheduled_workflows
  drop column is_active, drop column run_count, drop column last_run_at, drop column next_run_at;
alter table public.projects
  drop column finished_workflow_executions, drop column total_execution_duration_ms;
alter table public.activity_statistics drop column total_duration_ms;
alter table public.workflow_executions
  drop column compiled_code_id, drop column project_id, drop column created_by,
  drop column trigger_kind, drop column idempotency_key, drop column parent_execution_id,
  drop column schedule_id;
drop index public.workflow_compiled_code_one_active;
alter table public.workflow_compiled_code
  drop column content_hash, drop column finished_count, drop column total_duration_ms;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
