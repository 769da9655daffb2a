"""SQL for the row-level-security shapes the migrations repeat.

Revisions call these to write their policies; once a revision has shipped, the text it
produced is part of the schema's history, so change a shape only by adding a revision.
"""

from __future__ import annotations

UID = "(select auth.uid())"


def enable(table: str) -> str:
    """Enable RLS on `table` and grant the roles their table privileges (policies still apply)."""
    return f"""
    alter table public.{table} enable row level security;
    grant select, insert, update, delete on public.{table} to service_role;
    """


def workflow_child(table: str, fk: str = "workflow_id", permission: str = "workflows:write") -> str:
    """Policies for a row that belongs to a workflow: readable when the workflow is, written
    only by the workflow's owner (who also needs `permission`)."""
    return f"""
    {enable(table)}
    grant select, insert, update, delete on public.{table} to authenticated;
    create policy {table}_select on public.{table} for select to authenticated
      using ({fk} in (select w.id from public.workflows w));
    create policy {table}_insert on public.{table} for insert to authenticated
      with check ({fk} in (select w.id from public.workflows w where w.created_by = {UID})
                  and public.has_permission('{permission}'));
    create policy {table}_update on public.{table} for update to authenticated
      using ({fk} in (select w.id from public.workflows w where w.created_by = {UID}))
      with check ({fk} in (select w.id from public.workflows w where w.created_by = {UID})
                  and public.has_permission('{permission}'));
    create policy {table}_delete on public.{table} for delete to authenticated
      using ({fk} in (select w.id from public.workflows w where w.created_by = {UID})
             and public.has_permission('{permission}'));
    """


def owned(table: str, permission: str, owner: str = "created_by") -> str:
    """Policies for a row only its owner sees and changes."""
    return f"""
    {enable(table)}
    grant select, insert, update, delete on public.{table} to authenticated;
    create policy {table}_select on public.{table} for select to authenticated
      using ({owner} = {UID});
    create policy {table}_insert on public.{table} for insert to authenticated
      with check ({owner} = {UID} and public.has_permission('{permission}'));
    create policy {table}_update on public.{table} for update to authenticated
      using ({owner} = {UID})
      with check ({owner} = {UID} and public.has_permission('{permission}'));
    create policy {table}_delete on public.{table} for delete to authenticated
      using ({owner} = {UID} and public.has_permission('{permission}'));
    """


def shared(table: str, permission: str, read: str) -> str:
    """Policies for a row with a visibility: readable where `read` holds, written by its owner."""
    return f"""
    {enable(table)}
    grant select, insert, update, delete on public.{table} to authenticated;
    create policy {table}_select on public.{table} for select to authenticated
      using ({read});
    {owner_writes(table, permission)}
    """


def owner_writes(table: str, permission: str) -> str:
    """Insert, update and delete policies for the row's owner holding `permission`."""
    return f"""
    create policy {table}_insert on public.{table} for insert to authenticated
      with check (created_by = {UID} and public.has_permission('{permission}'));
    create policy {table}_update on public.{table} for update to authenticated
      using (created_by = {UID})
      with check (created_by = {UID} and public.has_permission('{permission}'));
    create policy {table}_delete on public.{table} for delete to authenticated
      using (created_by = {UID} and public.has_permission('{permission}'));
    """


def lookup(table: str) -> str:
    """Policies for a lookup table: readable by every authenticated user, written by the system."""
    return f"""
    {enable(table)}
    grant select on public.{table} to authenticated;
    create policy {table}_select on public.{table} for select to authenticated using (true);
    """


def updated_at(table: str) -> str:
    """A trigger that keeps `updated_at` current on `table`."""
    return f"""
    create trigger {table}_updated_at before update on public.{table}
      for each row execute function public.set_updated_at();
    """
