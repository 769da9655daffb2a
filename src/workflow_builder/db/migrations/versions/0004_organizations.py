"""Organizations and their members, so that 'organization' visibility means something:
components, agent prompts and workflows gain an organization_id, and rows shared with an
organization are readable by its members.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from workflow_builder.db.migrations import rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SHARED_TABLES = ("components", "agent_prompts", "workflows")

TABLES = """
create table public.organizations (
  id uuid primary key default gen_random_uuid(),
  name varchar(255) not null,
  slug varchar(100) not null,
  description text,
  created_by uuid not null references public.users (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint organizations_slug_key unique (slug),
  constraint organizations_slug_format check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$')
);
create index idx_organizations_created_by on public.organizations (created_by);

create table public.organization_members (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid not null references public.users (id) on delete cascade,
  role varchar(50) not null default 'member',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint organization_members_organization_id_user_id_key unique (organization_id, user_id),
  constraint organization_members_role_check check (role in ('owner', 'admin', 'member'))
);
create index idx_organization_members_user_id on public.organization_members (user_id);

-- The organizations the current user belongs to. Security definer, so that policies on
-- organization_members can use it without recursing into themselves.
create function public.my_organization_ids() returns setof uuid
  language sql stable security definer set search_path = public, pg_temp
  as $$ select organization_id from public.organization_members where user_id = auth.uid() $$;

create function public.organization_role(org uuid) returns text
  language sql stable security definer set search_path = public, pg_temp
  as $$
    select role from public.organization_members
    where organization_id = org and user_id = auth.uid()
  $$;

create function public.add_organization_owner() returns trigger
  language plpgsql security definer set search_path = public, pg_temp
  as $$
begin
  insert into public.organization_members (organization_id, user_id, role)
  values (new.id, new.created_by, 'owner');
  return new;
end $$;
create trigger organizations_add_owner after insert on public.organizations
  for each row execute function public.add_organization_owner();

-- An organization always keeps an owner while it exists.
create function public.guard_last_owner() returns trigger
  language plpgsql security definer set search_path = public, pg_temp
  as $$
begin
  if old.role = 'owner'
     and exists (select 1 from public.organizations o where o.id = old.organization_id)
     and not exists (select 1 from public.organization_members m
                     where m.organization_id = old.organization_id and m.role = 'owner') then
    raise exception 'an organization must keep at least one owner'
      using errcode = 'check_violation', constraint = 'organization_members_last_owner';
  end if;
  return null;
end $$;
create constraint trigger organization_members_last_owner
  after update or delete on public.organization_members
  deferrable initially deferred
  for each row execute function public.guard_last_owner();

-- Rows shared with an organization return to private when it is deleted.
create function public.unshare_organization_rows() returns trigger
  language plpgsql security definer set search_path = public, pg_temp
  as $$
declare
  private_id uuid := public.visibility_id('private');
begin
  update public.components set visibility_id = private_id, organization_id = null
    where organization_id = old.id;
  update public.agent_prompts set visibility_id = private_id, organization_id = null
    where organization_id = old.id;
  update public.workflows set visibility_id = private_id, organization_id = null
    where organization_id = old.id;
  return old;
end $$;

-- 'organization' visibility needs an organization; other visibilities have none.
create function public.check_organization_visibility() returns trigger
  language plpgsql
  as $$
begin
  if new.visibility_id = public.visibility_id('organization') then
    if new.organization_id is null then
      raise exception '% with organization visibility needs an organization_id', tg_table_name
        using errcode = 'check_violation', constraint = tg_table_name || '_organization_required';
    end if;
  elsif new.organization_id is not null then
    raise exception '% has an organization_id but its visibility is not organization',
      tg_table_name
      using errcode = 'check_violation', constraint = tg_table_name || '_organization_required';
  end if;
  return new;
end $$;
"""


def shared_table(table: str) -> str:
    """Add organization_id to `table` and replace its policies with organization-aware ones."""
    in_my_orgs = (
        "organization_id is null or organization_id in (select public.my_organization_ids())"
    )
    return f"""
    alter table public.{table}
      add column organization_id uuid references public.organizations (id);
    create index idx_{table}_organization_id on public.{table} (organization_id);
    create trigger {table}_organization_visibility
      before insert or update of visibility_id, organization_id on public.{table}
      for each row execute function public.check_organization_visibility();

    drop policy {table}_select on public.{table};
    drop policy {table}_insert on public.{table};
    drop policy {table}_update on public.{table};
    create policy {table}_select on public.{table} for select to authenticated
      using (created_by = {rls.UID}
             or visibility_id = (select public.visibility_id('public'))
             or (visibility_id = (select public.visibility_id('organization'))
                 and organization_id in (select public.my_organization_ids())));
    create policy {table}_insert on public.{table} for insert to authenticated
      with check (created_by = {rls.UID} and public.has_permission('{permission(table)}')
                  and ({in_my_orgs}));
    create policy {table}_update on public.{table} for update to authenticated
      using (created_by = {rls.UID})
      with check (created_by = {rls.UID} and public.has_permission('{permission(table)}')
                  and ({in_my_orgs}));
    """


def permission(table: str) -> str:
    return f"{table}:write"


POLICIES = f"""
create trigger organizations_unshare_rows before delete on public.organizations
  for each row execute function public.unshare_organization_rows();

{rls.enable("organizations")}
grant select, insert, update, delete on public.organizations to authenticated;
create policy organizations_select on public.organizations for select to authenticated
  using (created_by = {rls.UID} or id in (select public.my_organization_ids()));
create policy organizations_insert on public.organizations for insert to authenticated
  with check (created_by = {rls.UID} and public.has_permission('organizations:write'));
create policy organizations_update on public.organizations for update to authenticated
  using (public.organization_role(id) in ('owner', 'admin'))
  with check (public.organization_role(id) in ('owner', 'admin'));
create policy organizations_delete on public.organizations for delete to authenticated
  using (public.organization_role(id) = 'owner');

{rls.enable("organization_members")}
grant select, insert, update, delete on public.organization_members to authenticated;
create policy organization_members_select on public.organization_members
  for select to authenticated
  using (organization_id in (select public.my_organization_ids()));
create policy organization_members_insert on public.organization_members
  for insert to authenticated
  with check (public.organization_role(organization_id) in ('owner', 'admin')
              and public.has_permission('organizations:write'));
create policy organization_members_update on public.organization_members
  for update to authenticated
  using (public.organization_role(organization_id) in ('owner', 'admin'))
  with check (public.organization_role(organization_id) in ('owner', 'admin'));
create policy organization_members_delete on public.organization_members
  for delete to authenticated
  using (public.organization_role(organization_id) in ('owner', 'admin') or user_id = {rls.UID});

drop policy users_select on public.users;
create policy users_select on public.users for select to authenticated
  using (id = {rls.UID} or public.has_permission('users:manage')
         or id in (select m.user_id from public.organization_members m
                   where m.organization_id in (select public.my_organization_ids())));

{rls.updated_at("organizations")}
{rls.updated_at("organization_members")}
"""

RESTORE = f"""
drop policy users_select on public.users;
create policy users_select on public.users for select to authenticated
  using (id = {rls.UID} or public.has_permission('users:manage'));
"""


def restore_shared_table(table: str) -> str:
    """Put back revision 0003's owner-or-public policies on `table`."""
    return f"""
    drop policy {table}_select on public.{table};
    drop policy {table}_insert on public.{table};
    drop policy {table}_update on public.{table};
    drop trigger {table}_organization_visibility on public.{table};
    alter table public.{table} drop column organization_id;
    create policy {table}_select on public.{table} for select to authenticated
      using (created_by = {rls.UID} or visibility_id = (select public.visibility_id('public')));
    create policy {table}_insert on public.{table} for insert to authenticated
      with check (created_by = {rls.UID} and public.has_permission('{permission(table)}'));
    create policy {table}_update on public.{table} for update to authenticated
      using (created_by = {rls.UID})
      with check (created_by = {rls.UID} and public.has_permission('{permission(table)}'));
    """


def upgrade() -> None:
    op.execute(TABLES)
    for table in SHARED_TABLES:
        op.execute(shared_table(table))
    op.execute(POLICIES)


def downgrade() -> None:
    op.execute(RESTORE)
    for table in SHARED_TABLES:
        op.execute(restore_shared_table(table))
    op.execute(
        """
        drop table public.organization_members, public.organizations;
        drop function public.my_organization_ids(), public.organization_role(uuid),
          public.add_organization_owner(), public.guard_last_owner(),
          public.unshare_organization_rows(), public.check_organization_visibility();
        """
    )
