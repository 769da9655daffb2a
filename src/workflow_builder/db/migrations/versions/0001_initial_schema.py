"""Core schema: identity (auth schema, roles), lookup tables, users, the component registry,
task queues, workflows with their nodes and edges, and their row-level security.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from workflow_builder.db.migrations import rls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROLES = """
do $$
declare
  name text;
begin
  foreach name in array array['anon', 'authenticated', 'service_role'] loop
    if not exists (select 1 from pg_roles where rolname = name) then
      begin
        execute format('create role %I nologin noinherit', name);
      exception when duplicate_object or unique_violation then
        null;  -- another database on this server created it at the same moment
      end;
    end if;
  end loop;
  alter role service_role bypassrls;
  execute format('grant anon, authenticated, service_role to %I', current_user);
end $$;
grant usage on schema public to anon, authenticated, service_role;
"""

AUTH = """
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table auth.users (
  id uuid primary key default gen_random_uuid(),
  email varchar(255) not null,
  encrypted_password text,
  raw_user_meta_data jsonb not null default '{}',
  email_confirmed_at timestamptz,
  last_sign_in_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint users_email_format check (email ~ '^[^@\\s]+@[^@\\s]+$')
);
create unique index users_email_lower_key on auth.users (lower(email));
alter table auth.users enable row level security;
grant select, insert, update, delete on auth.users to service_role;

-- The current request's user: a transaction-local claim set by the unit of work.
create function auth.uid() returns uuid
  language sql stable
  as $$ select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
grant execute on function auth.uid() to anon, authenticated, service_role;
"""

FUNCTIONS = """
create function public.set_updated_at() returns trigger
  language plpgsql
  as $$
begin
  new.updated_at := now();
  return new;
end $$;

-- Whether the current user's role grants `permission` (e.g. 'workflows:write').
create function public.has_permission(permission text) returns boolean
  language sql stable security definer set search_path = public, pg_temp
  as $$
    select coalesce((
      select r.permissions ? permission
      from public.users u join public.user_roles r on r.id = u.role_id
      where u.id = auth.uid()), false)
  $$;

create function public.visibility_id(visibility text) returns uuid
  language sql stable security definer set search_path = public, pg_temp
  as $$ select id from public.component_visibility where name = visibility $$;
"""

LOOKUPS = """
create table public.user_roles (
  id uuid primary key default gen_random_uuid(),
  name varchar(50) not null unique,
  description text,
  permissions jsonb not null default '[]',
  created_at timestamptz not null default now(),
  constraint user_roles_permissions_is_array check (jsonb_typeof(permissions) = 'array')
);

create table public.component_types (
  id uuid primary key default gen_random_uuid(),
  name varchar(50) not null unique,
  description text,
  icon varchar(50),
  created_at timestamptz not null default now()
);

create table public.component_visibility (
  id uuid primary key default gen_random_uuid(),
  name varchar(50) not null unique,
  description text
);

create table public.workflow_statuses (
  id uuid primary key default gen_random_uuid(),
  name varchar(50) not null unique,
  description text,
  color varchar(7) not null,
  constraint workflow_statuses_color_hex check (color ~ '^#[0-9A-Fa-f]{6}$')
);
"""

SEED = """
insert into public.component_types (name, description, icon) values
  ('activity', 'A unit of work: calls a service, transforms data, runs code.', 'zap'),
  ('agent', 'An AI agent: an LLM call driven by a versioned prompt template.', 'bot'),
  ('signal', 'Receives a message sent to a running workflow.', 'radio'),
  ('trigger', 'Starts a workflow: manually, by webhook, on a schedule or on a signal.', 'play');

insert into public.component_visibility (name, description) values
  ('public', 'Visible to every signed-in user.'),
  ('private', 'Visible only to its owner.'),
  ('organization', 'Visible to the members of its organization.');

insert into public.workflow_statuses (name, description, color) values
  ('draft', 'Being designed; cannot be started.', '#6B7280'),
  ('active', 'Deployed: accepts new runs and fires its schedules.', '#16A34A'),
  ('paused', 'Deployed but holding: no new runs, schedules do not fire.', '#D97706'),
  ('archived', 'Retired: read-only, no runs.', '#475569');

insert into public.user_roles (name, description, permissions) values
  ('viewer', 'Reads what is shared with them; changes nothing.',
   '["components:read", "agent_prompts:read", "workflows:read", "projects:read",
     "task_queues:read", "executions:read", "organizations:read", "api_keys:write"]'),
  ('developer', 'Builds, deploys and runs their own workflows and components.',
   '["components:read", "components:write", "agent_prompts:read", "agent_prompts:write",
     "workflows:read", "workflows:write", "workflows:execute", "projects:read",
     "projects:write", "task_queues:read", "task_queues:write", "executions:read",
     "executions:write", "organizations:read", "organizations:write", "api_keys:write"]'),
  ('admin', 'Everything a developer can, plus users, roles and system task queues.',
   '["components:read", "components:write", "agent_prompts:read", "agent_prompts:write",
     "workflows:read", "workflows:write", "workflows:execute", "projects:read",
     "projects:write", "task_queues:read", "task_queues:write", "executions:read",
     "executions:write", "organizations:read", "organizations:write", "api_keys:write",
     "users:manage", "roles:manage", "task_queues:system"]');

insert into public.task_queues (name, display_name, description, is_system_queue) values
  ('default', 'Default', 'The system queue for workflows outside any project.', true);
"""

USERS = """
create table public.users (
  id uuid primary key default gen_random_uuid(),
  auth_user_id uuid not null unique references auth.users (id) on delete cascade,
  email varchar(255) not null unique,
  display_name varchar(100),
  role_id uuid not null references public.user_roles (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_login_at timestamptz
);
create index idx_users_role_id on public.users (role_id);

-- Every auth.users row gets its public.users row; the very first user is the admin.
create function auth.handle_new_user() returns trigger
  language plpgsql security definer set search_path = public, pg_temp
  as $$
declare
  role_name text;
begin
  perform pg_advisory_xact_lock(hashtext('workflow_builder.first_user'));
  role_name := case when exists (select 1 from public.users) then 'developer' else 'admin' end;
  insert into public.users (id, auth_user_id, email, display_name, role_id)
  values (new.id, new.id, new.email,
          left(coalesce(nullif(new.raw_user_meta_data ->> 'display_name', ''),
                        split_part(new.email, '@', 1)), 100),
          (select id from public.user_roles where name = role_name));
  return new;
end $$;
create trigger on_auth_user_created after insert on auth.users
  for each row execute function auth.handle_new_user();

create function auth.handle_user_email_change() returns trigger
  language plpgsql security definer set search_path = public, pg_temp
  as $$
begin
  update public.users set email = new.email where auth_user_id = new.id;
  return new;
end $$;
create trigger on_auth_user_email_changed after update of email on auth.users
  for each row when (old.email is distinct from new.email)
  execute function auth.handle_user_email_change();

-- Only a user with users:manage (or the system) may change someone's role.
create function public.guard_user_role() returns trigger
  language plpgsql
  as $$
begin
  if new.role_id is distinct from old.role_id and current_user = 'authenticated'
     and not public.has_permission('users:manage') then
    raise exception 'changing a user''s role requires the users:manage permission'
      using errcode = 'insufficient_privilege';
  end if;
  if new.auth_user_id is distinct from old.auth_user_id or new.id is distinct from old.id then
    raise exception 'a user''s id and auth_user_id cannot change'
      using errcode = 'check_violation';
  end if;
  return new;
end $$;
create trigger users_guard_role before update on public.users
  for each row execute function public.guard_user_role();
"""

REGISTRY = """
create table public.agent_prompts (
  id uuid primary key default gen_random_uuid(),
  name varchar(255) not null,
  display_name varchar(255) not null,
  description text,
  version varchar(50) not null default '1.0.0',
  prompt_content text not null,
  prompt_variables jsonb not null default '{}',
  created_by uuid references public.users (id),
  visibility_id uuid not null references public.component_visibility (id),
  capabilities text[] not null default '{}',
  tags text[] not null default '{}',
  recommended_models jsonb not null default '[]',
  deprecated boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint agent_prompts_name_version_created_by_key
    unique nulls not distinct (name, version, created_by)
);
create index idx_agent_prompts_created_by on public.agent_prompts (created_by);
create index idx_agent_prompts_visibility_id on public.agent_prompts (visibility_id);
create index idx_agent_prompts_capabilities on public.agent_prompts using gin (capabilities);

create table public.components (
  id uuid primary key default gen_random_uuid(),
  name varchar(255) not null,
  display_name varchar(255) not null,
  description text,
  component_type_id uuid not null references public.component_types (id),
  version varchar(50) not null default '1.0.0',
  created_by uuid references public.users (id),
  visibility_id uuid not null references public.component_visibility (id),
  config_schema jsonb not null default '{}',
  input_schema jsonb,
  output_schema jsonb,
  tags text[] not null default '{}',
  capabilities text[] not null default '{}',
  agent_prompt_id uuid references public.agent_prompts (id),
  model_provider varchar(50),
  model_name varchar(100),
  implementation_path varchar(500),
  package varchar(255),
  deprecated boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint components_name_version_created_by_key
    unique nulls not distinct (name, version, created_by)
);
create index idx_components_component_type_id on public.components (component_type_id);
create index idx_components_created_by on public.components (created_by);
create index idx_components_visibility_id on public.components (visibility_id);
create index idx_components_tags on public.components using gin (tags);
create index idx_components_capabilities on public.components using gin (capabilities);
create index idx_components_name_version on public.components (name, version);
create index idx_components_agent_prompt_id on public.components (agent_prompt_id);

create table public.task_queues (
  id uuid primary key default gen_random_uuid(),
  name varchar(255) not null unique,
  description text,
  display_name varchar(255),
  max_concurrent_workflows integer not null default 100,
  max_concurrent_activities integer not null default 1000,
  created_by uuid references public.users (id),
  is_system_queue boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint task_queues_max_concurrent_workflows_positive check (max_concurrent_workflows > 0),
  constraint task_queues_max_concurrent_activities_positive check (max_concurrent_activities > 0)
);
create index idx_task_queues_created_by on public.task_queues (created_by);
"""

WORKFLOWS = """
create table public.workflows (
  id uuid primary key default gen_random_uuid(),
  name varchar(255) not null,
  display_name varchar(255) not null,
  description text,
  kebab_name varchar(255) not null,
  created_by uuid not null references public.users (id),
  visibility_id uuid not null references public.component_visibility (id),
  status_id uuid not null references public.workflow_statuses (id),
  task_queue_id uuid not null references public.task_queues (id),
  version varchar(50) not null default '1.0.0',
  definition jsonb not null default '{}',
  engine_workflow_id varchar(255),
  engine_workflow_type varchar(255),
  max_concurrent_executions integer not null default 10,
  execution_timeout_seconds integer not null default 3600,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deployed_at timestamptz,
  constraint workflows_kebab_name_key unique (kebab_name),
  constraint workflows_name_version_created_by_key unique (name, version, created_by),
  constraint workflows_kebab_name_format
    check (kebab_name ~ '^[a-z][a-z0-9]*(-[a-z0-9]+)*$'),
  constraint workflows_max_concurrent_executions_positive check (max_concurrent_executions > 0),
  constraint workflows_execution_timeout_positive check (execution_timeout_seconds > 0)
);
create index idx_workflows_created_by on public.workflows (created_by);
create index idx_workflows_status_id on public.workflows (status_id);
create index idx_workflows_task_queue_id on public.workflows (task_queue_id);
create index idx_workflows_engine_workflow_id on public.workflows (engine_workflow_id);
create index idx_workflows_visibility_id on public.workflows (visibility_id);

create function public.guard_kebab_name() returns trigger
  language plpgsql
  as $$
begin
  if new.kebab_name is distinct from old.kebab_name then
    raise exception 'workflows.kebab_name is immutable: it is % and cannot become %',
      old.kebab_name, new.kebab_name
      using errcode = 'check_violation', constraint = 'workflows_kebab_name_immutable';
  end if;
  return new;
end $$;
create trigger workflows_kebab_name_immutable before update of kebab_name on public.workflows
  for each row execute function public.guard_kebab_name();

create table public.workflow_nodes (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  node_id varchar(255) not null,
  node_type varchar(50) not null,
  component_id uuid references public.components (id) on delete set null,
  config jsonb not null default '{}',
  position jsonb,
  created_at timestamptz not null default now(),
  constraint workflow_nodes_workflow_id_node_id_key unique (workflow_id, node_id)
);
create index idx_workflow_nodes_component_id on public.workflow_nodes (component_id);

create table public.workflow_edges (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  edge_id varchar(255) not null,
  source_node_id varchar(255) not null,
  target_node_id varchar(255) not null,
  label varchar(255),
  config jsonb not null default '{}',
  created_at timestamptz not null default now(),
  constraint workflow_edges_workflow_id_edge_id_key unique (workflow_id, edge_id)
);
"""

PUBLIC_OR_OWN = f"created_by = {rls.UID} or visibility_id = (select public.visibility_id('public'))"

POLICIES = f"""
{rls.lookup("component_types")}
{rls.lookup("component_visibility")}
{rls.lookup("workflow_statuses")}

{rls.enable("user_roles")}
grant select, insert, update, delete on public.user_roles to authenticated;
create policy user_roles_select on public.user_roles for select to authenticated using (true);
create policy user_roles_insert on public.user_roles for insert to authenticated
  with check (public.has_permission('roles:manage'));
create policy user_roles_update on public.user_roles for update to authenticated
  using (public.has_permission('roles:manage'));
create policy user_roles_delete on public.user_roles for delete to authenticated
  using (public.has_permission('roles:manage'));

{rls.enable("users")}
grant select, update, delete on public.users to authenticated;
create policy users_select on public.users for select to authenticated
  using (id = {rls.UID} or public.has_permission('users:manage'));
create policy users_update on public.users for update to authenticated
  using (id = {rls.UID} or public.has_permission('users:manage'));
create policy users_delete on public.users for delete to authenticated
  using (public.has_permission('users:manage'));

{rls.shared("components", "components:write", PUBLIC_OR_OWN)}
{rls.shared("agent_prompts", "agent_prompts:write", PUBLIC_OR_OWN)}
{rls.shared("workflows", "workflows:write", PUBLIC_OR_OWN)}

{rls.enable("task_queues")}
grant select, insert, update, delete on public.task_queues to authenticated;
create policy task_queues_select on public.task_queues for select to authenticated using (true);
create policy task_queues_insert on public.task_queues for insert to authenticated
  with check (
    (created_by = {rls.UID} and not is_system_queue and public.has_permission('task_queues:write'))
    or (is_system_queue and public.has_permission('task_queues:system')));
create policy task_queues_update on public.task_queues for update to authenticated
  using ((created_by = {rls.UID} and not is_system_queue)
         or (is_system_queue and public.has_permission('task_queues:system')))
  with check (
    (created_by = {rls.UID} and not is_system_queue and public.has_permission('task_queues:write'))
    or (is_system_queue and public.has_permission('task_queues:system')));
create policy task_queues_delete on public.task_queues for delete to authenticated
  using ((created_by = {rls.UID} and not is_system_queue
          and public.has_permission('task_queues:write'))
         or (is_system_queue and public.has_permission('task_queues:system')));

{rls.workflow_child("workflow_nodes")}
{rls.workflow_child("workflow_edges")}
"""

TIMESTAMPS = "".join(
    rls.updated_at(t) for t in ("users", "components", "agent_prompts", "task_queues", "workflows")
)


def upgrade() -> None:
    op.execute(ROLES)
    op.execute(AUTH)
    op.execute(LOOKUPS)
    op.execute(USERS)
    op.execute(FUNCTIONS)
    op.execute(REGISTRY)
    op.execute(WORKFLOWS)
    op.execute(SEED)
    op.execute(POLICIES)
    op.execute(TIMESTAMPS)
    op.execute(
        "create trigger auth_users_updated_at before update on auth.users "
        "for each row execute function public.set_updated_at();"
    )


def downgrade() -> None:
    op.execute(
        """
        drop table public.workflow_edges, public.workflow_nodes, public.workflows,
          public.task_queues, public.components, public.agent_prompts, public.users,
          public.workflow_statuses, public.component_visibility, public.component_types,
          public.user_roles cascade;
        drop function public.guard_kebab_name(), public.guard_user_role(),
          public.has_permission(text), public.visibility_id(text), public.set_updated_at()
          cascade;
        drop schema auth cascade;
        """
    )
