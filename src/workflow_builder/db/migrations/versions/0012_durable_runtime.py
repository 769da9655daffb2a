"""The durable runtime's own records: each run's inbox of signals, its journal of keyed facts
(timers, clock readings, failed call attempts, counted calls), the variables queries read, the
deadline fixed when it first starts, a parent's request to stop, the notifications that wake a
waiting run, the workers' leases, and one function that closes a run.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

from workflow_builder.db.migrations import rls

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = f"""
alter table public.workflow_executions
  add column variables jsonb,
  add column deadline_at timestamptz,
  add column cancel_requested_at timestamptz;

create table public.execution_signals (
  id uuid primary key default gen_random_uuid(),
  execution_id uuid not null references public.workflow_executions (id) on delete cascade,
  name varchar(100) not null,
  payload jsonb,
  sent_at timestamptz not null default clock_timestamp(),
  consumed_by varchar(600),
  consumed_at timestamptz
);
create index idx_execution_signals_waiting
  on public.execution_signals (execution_id, name, sent_at) where consumed_by is null;
create unique index execution_signals_consumed_by
  on public.execution_signals (execution_id, consumed_by) where consumed_by is not null;

{rls.enable("execution_signals")}
grant select, insert on public.execution_signals to authenticated;
create policy execution_signals_select on public.execution_signals for select to authenticated
  using (execution_id in (select e.id from public.workflow_executions e));
create policy execution_signals_insert on public.execution_signals for insert to authenticated
  with check (execution_id in (
    select e.id from public.workflow_executions e
    join public.workflows w on w.id = e.workflow_id
    where w.created_by = {rls.UID}) and public.has_permission('workflows:execute'));

create table public.execution_journal (
  execution_id uuid not null references public.workflow_executions (id) on delete cascade,
  key varchar(700) not null,
  value jsonb not null,
  recorded_at timestamptz not null default now(),
  primary key (execution_id, key)
);
alter table public.execution_journal enable row level security;
grant select, insert, update, delete on public.execution_journal to service_role;

-- Each worker process's lease on the runs its engine executor holds: renewed by its heartbeat,
-- 'stopped' when it hands its runs over, 'dead' when another worker declared it so.
create table public.worker_leases (
  executor_id varchar(255) primary key,
  status varchar(20) not null default 'running',
  started_at timestamptz not null default now(),
  renewed_at timestamptz not null default now(),
  stopped_at timestamptz,
  constraint worker_leases_status_check check (status in ('running', 'stopped', 'dead'))
);
alter table public.worker_leases enable row level security;
grant select, insert, update, delete on public.worker_leases to service_role;

-- Closing a run, in one place for every path that closes one (its own end, a cancel, a
-- parent's terminate policy): its row, its project's and compiled version's counters, and
-- the parent-close policies of its unfinished children. False when it was already closed.
create function public.wfb_close_execution(
  run uuid, new_status text, new_outputs jsonb, new_error text
) returns boolean
language plpgsql as $$
declare
  closed record;
begin
  update public.workflow_executions
  set status = new_status, outputs = new_outputs, error = new_error, completed_at = now(),
      duration_ms = (extract(epoch from (now() - started_at)) * 1000)::int
  where id = run and completed_at is null
  returning project_id, compiled_code_id, duration_ms into closed;
  if not found then
    return false;
  end if;
  update public.projects p set
    finished_workflow_executions = p.finished_workflow_executions + 1,
    total_execution_duration_ms = p.total_execution_duration_ms + closed.duration_ms,
    avg_execution_duration_ms = (p.total_execution_duration_ms + closed.duration_ms)
                                / (p.finished_workflow_executions + 1)
  where p.id = closed.project_id;
  update public.workflow_compiled_code c set
    finished_count = c.finished_count + 1,
    total_duration_ms = c.total_duration_ms + closed.duration_ms,
    avg_execution_duration_ms = (c.total_duration_ms + closed.duration_ms)
                                / (c.finished_count + 1)
  where c.id = closed.compiled_code_id;
  perform public.wfb_close_execution(
    c.id, 'canceled', null, 'canceled: its parent closed (terminate policy)')
  from public.workflow_executions c
  where c.parent_execution_id = run and c.completed_at is null
    and c.parent_close_policy = 'terminate';
  update public.workflow_executions set cancel_requested_at = now()
  where parent_execution_id = run and completed_at is null
    and parent_close_policy = 'request_cancel' and cancel_requested_at is null;
  return true;
end $$;

create function public.wfb_announce(kind text, execution_id uuid) returns void
language sql as $$ select pg_notify('wfb_run', kind || ':' || execution_id::text) $$;

create function public.wfb_announce_signal() returns trigger
language plpgsql as $$
begin
  perform public.wfb_announce('signal', new.execution_id);
  return null;
end $$;
create trigger execution_signals_announce after insert on public.execution_signals
  for each row execute function public.wfb_announce_signal();

create function public.wfb_announce_item() returns trigger
language plpgsql as $$
begin
  perform public.wfb_announce('item', new.execution_id);
  return null;
end $$;
create trigger work_queue_items_announce after insert on public.work_queue_items
  for each row execute function public.wfb_announce_item();

create function public.wfb_announce_run() returns trigger
language plpgsql as $$
begin
  if old.completed_at is null and new.completed_at is not null then
    perform public.wfb_announce('closed', new.id);
    if new.parent_execution_id is not null then
      perform public.wfb_announce('child', new.parent_execution_id);
    end if;
  end if;
  if old.cancel_requested_at is null and new.cancel_requested_at is not null then
    perform public.wfb_announce('stop', new.id);
  end if;
  return null;
end $$;
create trigger workflow_executions_announce
  after update of completed_at, cancel_requested_at on public.workflow_executions
  for each row execute function public.wfb_announce_run();
"""

DOWNGRADE = """
drop trigger workflow_executions_announce on public.workflow_executions;
drop function public.wfb_announce_run();
drop trigger work_queue_items_announce on public.work_queue_items;
drop function public.wfb_announce_item();
drop trigger execution_signals_announce on public.execution_signals;
drop function public.wfb_announce_signal();
drop function public.wfb_announce(text, uuid);
drop function public.wfb_close_execution(uuid, text, jsonb, text);
drop table public.execution_journal;
drop table public.worker_leases;
drop table public.execution_signals;
alter table public.workflow_executions
  drop column variables, drop column deadline_at, drop column cancel_requested_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
