"""Per-project secrets and connections, encrypted at rest.

Only a project's owner sees the names, and only the system (service_role) reads the encrypted
values: `authenticated` has no SELECT privilege on `encrypted_value` at all, so not even the
owner can read the ciphertext back through SQL.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

from workflow_builder.db.migrations import rls

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OWNED_PROJECT = f"project_id in (select p.id from public.projects p where p.created_by = {rls.UID})"
CAN_WRITE = "public.has_permission('projects:write')"

UPGRADE = f"""
create table public.project_secrets (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.projects (id) on delete cascade,
  name varchar(255) not null,
  kind varchar(20) not null default 'secret',
  encrypted_value bytea not null,
  created_by uuid references public.users (id) on delete set null default auth.uid(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint project_secrets_project_id_name_key unique (project_id, name),
  constraint project_secrets_kind_check check (kind in ('secret', 'connection')),
  constraint project_secrets_name_check check (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{{0,254}}$')
);
create index idx_project_secrets_created_by on public.project_secrets (created_by);
{rls.updated_at("project_secrets")}

{rls.enable("project_secrets")}
grant select (id, project_id, name, kind, created_by, created_at, updated_at)
  on public.project_secrets to authenticated;
grant insert, update, delete on public.project_secrets to authenticated;
create policy project_secrets_select on public.project_secrets for select to authenticated
  using ({OWNED_PROJECT});
create policy project_secrets_insert on public.project_secrets for insert to authenticated
  with check ({OWNED_PROJECT} and {CAN_WRITE});
create policy project_secrets_update on public.project_secrets for update to authenticated
  using ({OWNED_PROJECT})
  with check ({OWNED_PROJECT} and {CAN_WRITE});
create policy project_secrets_delete on public.project_secrets for delete to authenticated
  using ({OWNED_PROJECT} and {CAN_WRITE});
"""

DOWNGRADE = """
drop table public.project_secrets;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
