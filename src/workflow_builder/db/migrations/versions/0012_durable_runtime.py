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
  -- A finished call attempt's statistics have been counted.
  counted boolean not null default false,
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

-- Every statement below that changes counters takes its row locks in one order, so that runs
-- finishing together never deadlock: the run's own rows, then activity_statistics (by
-- component, then workflow), then the project, then the compiled version.

-- A run starts (or resumes): running, its deadline fixed the first time, and, the first time,
-- counted on its project and compiled version. False if it is already closed.
create function public.wfb_start_execution(run uuid) returns boolean
language plpgsql as $$
declare
  before text;
  started record;
begin
  select status into before from public.workflow_executions where id = run for update;
  update public.workflow_executions e set status = 'running',
    deadline_at = coalesce(e.deadline_at,
                           now() + make_interval(secs => w.execution_timeout_seconds))
  from public.workflows w
  where e.id = run and w.id = e.workflow_id and e.completed_at is null
  returning e.project_id, e.compiled_code_id into started;
  if not found then
    return false;
  end if;
  if before = 'pending' then
    update public.projects p set total_workflow_executions = p.total_workflow_executions + 1,
      last_execution_at = greatest(p.last_execution_at, now())
    where p.id = started.project_id;
    update public.workflow_compiled_code c set execution_count = c.execution_count + 1,
      last_executed_at = greatest(c.last_executed_at, now())
    where c.id = started.compiled_code_id;
  end if;
  return true;
end $$;

-- Count finished call attempts in the statistics, each once: `calls` is a JSON list of
-- {{key, node_id, iteration, component_id, ok, duration, input_tokens, output_tokens, cost}};
-- an attempt with a key counts when its journal row is not counted yet, one without (a call in
-- the workflow code) when its history row has no attempt key yet. Returns how many counted.
create function public.wfb_count_calls(run uuid, workflow uuid, project uuid, calls jsonb)
returns integer
language plpgsql as $$
declare
  fresh jsonb;
  counted integer;
begin
  with input as (
    select c.* from jsonb_to_recordset(calls) as c(key text, node_id text, iteration text,
      component_id uuid, ok int, duration int, input_tokens bigint, output_tokens bigint,
      cost numeric)
    where c.component_id is not null
  ),
  keyed as (
    update public.execution_journal j set counted = true
    from input i
    where i.key is not null and j.execution_id = run and j.key = i.key and not j.counted
    returning i.*
  ),
  unkeyed as (
    update public.execution_steps s set last_attempt_key = 'workflow'
    from input i
    where i.key is null and s.execution_id = run and s.node_id = i.node_id
      and s.iteration = i.iteration and s.last_attempt_key is null
    returning i.*
  )
  select coalesce(jsonb_agg(to_jsonb(c)), '[]'::jsonb), count(*) into fresh, counted
  from (select * from keyed union all select * from unkeyed) c;
  if counted = 0 then
    return 0;
  end if;
  insert into public.activity_statistics as a (component_id, workflow_id, execution_count,
    success_count, failure_count, total_duration_ms, avg_duration_ms, min_duration_ms,
    max_duration_ms, input_tokens, output_tokens, cost_usd, last_executed_at)
  select t.component_id, scope.workflow_id, t.n, t.ok, t.n - t.ok, t.duration,
    t.duration / t.n, t.shortest, t.longest, t.input_tokens, t.output_tokens, t.cost, now()
  from (
    select component_id, count(*) as n, sum(ok) as ok, sum(duration) as duration,
      min(duration) as shortest, max(duration) as longest, sum(input_tokens) as input_tokens,
      sum(output_tokens) as output_tokens, sum(cost) as cost
    from jsonb_to_recordset(fresh) as f(component_id uuid, ok int, duration int,
      input_tokens bigint, output_tokens bigint, cost numeric)
    group by component_id
  ) t cross join (values (workflow), (cast(null as uuid))) as scope(workflow_id)
  order by t.component_id, scope.workflow_id nulls last
  on conflict on constraint activity_statistics_component_id_workflow_id_key do update set
    execution_count = a.execution_count + excluded.execution_count,
    success_count = a.success_count + excluded.success_count,
    failure_count = a.failure_count + excluded.failure_count,
    total_duration_ms = a.total_duration_ms + excluded.total_duration_ms,
    avg_duration_ms = (a.total_duration_ms + excluded.total_duration_ms)
                      / (a.execution_count + excluded.execution_count),
    min_duration_ms = least(a.min_duration_ms, excluded.min_duration_ms),
    max_duration_ms = greatest(a.max_duration_ms, excluded.max_duration_ms),
    input_tokens = a.input_tokens + excluded.input_tokens,
    output_tokens = a.output_tokens + excluded.output_tokens,
    cost_usd = a.cost_usd + excluded.cost_usd,
    last_executed_at = now();
  update public.projects set total_activity_executions = total_activity_executions + counted
  where id = project;
  return counted;
end $$;

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
drop function public.wfb_count_calls(uuid, uuid, uuid, jsonb);
drop function public.wfb_start_execution(uuid);
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
