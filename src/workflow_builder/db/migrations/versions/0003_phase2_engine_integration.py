"""Phase 2: projects with their task queues, compiled versions, the worker registry,
execution history and activity statistics.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from workflow_builder.db.migrations import rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PROJECTS = """
create table public.projects (
  id uuid primary key default gen_random_uuid(),
  name varchar(255) not null,
  description text,
  created_by uuid not null references public.users (id) on delete cascade,
  task_queue_name varchar(255) not null,
  is_active boolean not null default true,
  total_workflow_executions bigint not null default 0,
  total_activity_executions bigint not null default 0,
  avg_execution_duration_ms integer not null default 0,
  last_execution_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint projects_task_queue_name_key unique (task_queue_name),
  constraint projects_created_by_name_key unique (created_by, name)
);
create index idx_projects_created_by on public.projects (created_by);
create index idx_projects_is_active on public.projects (is_active) where is_active;

-- task_queue_name is '<user id>-<project id>', set on insert and never changed.
create function public.set_project_task_queue_name() returns trigger
  language plpgsql
  as $$
begin
  if tg_op = 'INSERT' then
    new.task_queue_name := new.created_by::text || '-' || new.id::text;
  elsif new.task_queue_name is distinct from old.task_queue_name
        or new.id is distinct from old.id or new.created_by is distinct from old.created_by then
    raise exception 'a project''s id, owner and task_queue_name cannot change'
      using errcode = 'check_violation';
  end if;
  return new;
end $$;
create trigger projects_task_queue_name before insert or update on public.projects
  for each row execute function public.set_project_task_queue_name();

-- Each project gets its own task queue, named after it, owned by the project's owner.
create function public.create_project_task_queue() returns trigger
  language plpgsql security definer set search_path = public, pg_temp
  as $$
begin
  insert into public.task_queues (name, display_name, description, created_by)
  values (new.task_queue_name, left(new.name, 255), 'Task queue of project ' || new.name,
          new.created_by);
  return new;
end $$;
create trigger projects_create_task_queue after insert on public.projects
  for each row execute function public.create_project_task_queue();

create function public.delete_project_task_queue() returns trigger
  language plpgsql security definer set search_path = public, pg_temp
  as $$
begin
  delete from public.task_queues q
  where q.name = old.task_queue_name
    and not exists (select 1 from public.workflows w where w.task_queue_id = q.id);
  return old;
end $$;
create trigger projects_delete_task_queue after delete on public.projects
  for each row execute function public.delete_project_task_queue();

alter table public.workflows add column project_id uuid references public.projects (id);
create index idx_workflows_project_id on public.workflows (project_id);
"""

ENGINE = """
create table public.workflow_compiled_code (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  version varchar(50) not null,
  workflow_code text not null,
  activities_code text,
  worker_code text,
  requirements text,
  runtime_config jsonb not null default '{}',
  compiled_at timestamptz not null default now(),
  compiled_by uuid references public.users (id),
  is_active boolean not null default true,
  execution_count bigint not null default 0,
  avg_execution_duration_ms integer not null default 0,
  last_executed_at timestamptz
);
create index idx_workflow_compiled_code_workflow_id on public.workflow_compiled_code (workflow_id);
create index idx_workflow_compiled_code_is_active
  on public.workflow_compiled_code (is_active, workflow_id) where is_active;
create index idx_workflow_compiled_code_compiled_at on public.workflow_compiled_code (compiled_at);

create table public.workflow_workers (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.projects (id) on delete cascade,
  worker_id varchar(255) not null,
  task_queue_name varchar(255) not null,
  status varchar(50) not null default 'running',
  last_heartbeat_at timestamptz,
  started_at timestamptz not null default now(),
  stopped_at timestamptz,
  error_message text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint workflow_workers_worker_id_key unique (worker_id),
  constraint workflow_workers_status_check check (status in ('running', 'stopped', 'error'))
);
create index idx_workflow_workers_project_id on public.workflow_workers (project_id);
create index idx_workflow_workers_status on public.workflow_workers (status);
create index idx_workflow_workers_last_heartbeat_at on public.workflow_workers (last_heartbeat_at);

create table public.workflow_executions (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.workflows (id),
  engine_run_id varchar(255),
  engine_workflow_id varchar(255),
  status varchar(50) not null default 'pending',
  inputs jsonb not null default '{}',
  outputs jsonb,
  error text,
  started_at timestamptz not null default now(),
  completed_at timestamptz,
  duration_ms integer,
  constraint workflow_executions_engine_run_id_key unique (engine_run_id),
  constraint workflow_executions_status_check
    check (status in ('pending', 'running', 'completed', 'failed', 'canceled'))
);
create index idx_workflow_executions_workflow_id on public.workflow_executions (workflow_id);
create index idx_workflow_executions_status on public.workflow_executions (status);
create index idx_workflow_executions_started_at on public.workflow_executions (started_at);

create table public.activity_statistics (
  id uuid primary key default gen_random_uuid(),
  component_id uuid not null references public.components (id) on delete cascade,
  workflow_id uuid references public.workflows (id) on delete cascade,
  execution_count bigint not null default 0,
  success_count bigint not null default 0,
  failure_count bigint not null default 0,
  avg_duration_ms integer not null default 0,
  min_duration_ms integer,
  max_duration_ms integer,
  last_executed_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint activity_statistics_component_id_workflow_id_key
    unique nulls not distinct (component_id, workflow_id)
);
create index idx_activity_statistics_workflow_id on public.activity_statistics (workflow_id);
create index idx_activity_statistics_last_executed_at
  on public.activity_statistics (last_executed_at);
"""

# A run carries its runner's data: a public workflow shares its definition, not its runs,
# so history is visible to the workflow's owner and, for organization workflows, its members.
RUN_VISIBLE = f"""(select w.id from public.workflows w
   where w.created_by = {rls.UID} or w.visibility_id <> (select public.visibility_id('public')))"""
RUN_OWNED = f"(select w.id from public.workflows w where w.created_by = {rls.UID})"

POLICIES = f"""
{rls.owned("projects", "projects:write")}
{rls.workflow_child("workflow_compiled_code")}

{rls.enable("workflow_workers")}
grant select on public.workflow_workers to authenticated;
create policy workflow_workers_select on public.workflow_workers for select to authenticated
  using (project_id in (select p.id from public.projects p));

{rls.enable("workflow_executions")}
grant select, insert, update, delete on public.workflow_executions to authenticated;
create policy workflow_executions_select on public.workflow_executions
  for select to authenticated using (workflow_id in {RUN_VISIBLE});
create policy workflow_executions_insert on public.workflow_executions
  for insert to authenticated
  with check (workflow_id in {RUN_OWNED} and public.has_permission('workflows:execute'));
create policy workflow_executions_update on public.workflow_executions
  for update to authenticated using (workflow_id in {RUN_OWNED})
  with check (workflow_id in {RUN_OWNED} and public.has_permission('workflows:execute'));
create policy workflow_executions_delete on public.workflow_executions
  for delete to authenticated
  using (workflow_id in {RUN_OWNED} and public.has_permission('workflows:execute'));

{rls.enable("activity_statistics")}
grant select on public.activity_statistics to authenticated;
create policy activity_statistics_select on public.activity_statistics
  for select to authenticated
  using (workflow_id in {RUN_VISIBLE}
         or (workflow_id is null and component_id in (select c.id from public.components c)));
"""


def upgrade() -> None:
    op.execute(PROJECTS)
    op.execute(ENGINE)
    op.execute(POLICIES)
    for table in ("projects", "workflow_workers", "activity_statistics"):
        op.execute(rls.updated_at(table))


def downgrade() -> None:
    op.execute(
        """
        drop table public.activity_statistics, public.workflow_executions,
          public.workflow_workers, public.workflow_compiled_code;
        alter table public.workflows drop column project_id;
        drop table public.projects;
        drop function public.set_project_task_queue_name(), public.create_project_task_queue(),
          public.delete_project_task_queue();
        """
    )
