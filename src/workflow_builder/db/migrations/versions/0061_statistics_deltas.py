"""Counters and statistics are recorded as deltas in the run's own transaction, and folded.

Every run used to update the same few rows as it started, counted a call and closed: its
project's counters (three times), its compiled version's (twice), and its component's two
`activity_statistics` rows (per workflow and overall, shared by every run of the component in
the installation). Each such row is locked until its transaction commits, so runs finishing
together queued on them one commit after another, and each update left a dead row version
that the next had to step over (`last_executed_at` is indexed, so none was a HOT update).

Now a run's transactions only *insert* what they add, into `run_counter_deltas` and
`activity_statistics_deltas`, still in the same transaction as the history row and the
journal record they count (nothing is lost, nothing counted twice). `wfb_fold_statistics()`
moves the deltas into `projects`, `workflow_compiled_code` and `activity_statistics` in one
transaction: every worker heartbeat calls it, and so does the API before it reads a counter,
so what the API answers is exact. Folds run one at a time (an advisory lock), each taking its
row locks in one order (statistics by component then workflow, projects, versions).

A run that closes itself (`wfb_close_own_execution`) no longer announces `closed` on channel
`wfb_run`: that announcement is for a run someone else closed, and it woke every worker's
listener for every run.

Revision ID: 0061
Revises: 0060
"""

from __future__ import annotations

from alembic import op

revision = "0061"
down_revision = "0060"
branch_labels = None
depends_on = None

UPGRADE = """
-- No foreign keys: a key check would lock the hot rows these tables exist to spare (a delta of
-- a deleted project or version folds into nothing).
create table public.run_counter_deltas (
  id bigint generated always as identity primary key,
  project_id uuid,
  compiled_code_id uuid,
  started integer not null default 0,
  finished integer not null default 0,
  duration_ms bigint not null default 0,
  activity_calls integer not null default 0,
  recorded_at timestamptz not null default now()
);
alter table public.run_counter_deltas enable row level security;
grant select, insert, delete on public.run_counter_deltas to service_role;

create table public.activity_statistics_deltas (
  id bigint generated always as identity primary key,
  component_id uuid not null,
  workflow_id uuid,
  execution_count integer not null,
  success_count integer not null,
  total_duration_ms bigint not null,
  min_duration_ms integer,
  max_duration_ms integer,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  cost_usd numeric(18, 6) not null default 0,
  recorded_at timestamptz not null default now()
);
alter table public.activity_statistics_deltas enable row level security;
grant select, insert, delete on public.activity_statistics_deltas to service_role;

-- A run starts (or resumes): running, its deadline fixed the first time, and, the first time,
-- counted (a delta) on its project and compiled version. False if it is already closed.
create or replace function public.wfb_start_execution(run uuid) returns boolean
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
    insert into public.run_counter_deltas (project_id, compiled_code_id, started)
    values (started.project_id, started.compiled_code_id, 1);
  end if;
  return true;
end $$;

-- Count finished call attempts in the statistics, each once (as migration 0012 says; a test
-- run's calls are marked counted and counted nowhere, as migration 0060 says), as deltas.
create or replace function public.wfb_count_calls(run uuid, workflow uuid, project uuid,
  calls jsonb)
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
  if exists (select 1 from public.workflow_executions e where e.id = run and e.is_test) then
    return counted;
  end if;
  insert into public.activity_statistics_deltas (component_id, workflow_id, execution_count,
    success_count, total_duration_ms, min_duration_ms, max_duration_ms, input_tokens,
    output_tokens, cost_usd)
  select component_id, workflow, count(*), sum(ok), sum(duration), min(duration),
    max(duration), sum(input_tokens), sum(output_tokens), sum(cost)
  from jsonb_to_recordset(fresh) as f(component_id uuid, ok int, duration int,
    input_tokens bigint, output_tokens bigint, cost numeric)
  group by component_id;
  insert into public.run_counter_deltas (project_id, activity_calls) values (project, counted);
  return counted;
end $$;

-- Closing a run, in one place for every path that closes one (its own end, a cancel, a
-- parent's terminate policy): its row, a delta for its project's and compiled version's
-- counters, and the parent-close policies of its unfinished children. False when it was
-- already closed.
create or replace function public.wfb_close_execution(
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
  insert into public.run_counter_deltas (project_id, compiled_code_id, finished, duration_ms)
  values (closed.project_id, closed.compiled_code_id, 1, coalesce(closed.duration_ms, 0));
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

-- A run closing itself (its interpreter's end): as wfb_close_execution, without announcing
-- `closed` on channel wfb_run. That announcement tells a run that someone else closed it;
-- the run closing itself needs none, and it woke every worker's listener for every run.
create function public.wfb_close_own_execution(
  run uuid, new_status text, new_outputs jsonb, new_error text
) returns boolean
language plpgsql as $$
declare
  closed boolean;
begin
  perform set_config('wfb.closing_itself', run::text, true);
  closed := public.wfb_close_execution(run, new_status, new_outputs, new_error);
  perform set_config('wfb.closing_itself', '', true);
  return closed;
end $$;

create or replace function public.wfb_announce_run() returns trigger
language plpgsql as $$
begin
  if old.completed_at is null and new.completed_at is not null then
    if new.id::text is distinct from current_setting('wfb.closing_itself', true) then
      perform public.wfb_announce('closed', new.id);
    end if;
    if new.parent_execution_id is not null then
      perform public.wfb_announce('child', new.parent_execution_id);
    end if;
  end if;
  if old.cancel_requested_at is null and new.cancel_requested_at is not null then
    perform public.wfb_announce('stop', new.id);
  end if;
  return null;
end $$;

-- Move every committed delta into the counters and statistics; return how many deltas.
-- One fold at a time; call it first in a transaction (before it locks any counted row).
-- With no delta in sight it returns at once, without the lock (which a caller would hold
-- until its transaction ends): a delta another fold is taking stays in sight until that
-- fold commits, so nothing it folds is missed.
create function public.wfb_fold_statistics() returns integer
language plpgsql security definer set search_path = public, pg_temp as $$
declare
  calls integer;
  runs integer;
  folded jsonb;
begin
  if not exists (select 1 from public.activity_statistics_deltas)
     and not exists (select 1 from public.run_counter_deltas) then
    return 0;
  end if;
  perform pg_advisory_xact_lock(hashtext('wfb_fold_statistics'));
  with taken as (
    delete from public.activity_statistics_deltas returning *
  ),
  per_workflow as (
    select component_id, workflow_id, sum(execution_count)::bigint as n,
      sum(success_count)::bigint as ok, sum(total_duration_ms)::bigint as duration,
      min(min_duration_ms) as shortest, max(max_duration_ms) as longest,
      sum(input_tokens)::bigint as input_tokens, sum(output_tokens)::bigint as output_tokens,
      sum(cost_usd) as cost, max(recorded_at) as at
    from taken t
    -- A component deleted since (its statistics went with it): its deltas go too.
    where exists (select 1 from public.components c where c.id = t.component_id)
    group by component_id, workflow_id
  ),
  scoped as (
    -- A workflow deleted since keeps no row of its own; its calls still count overall.
    select * from per_workflow p
    where p.workflow_id is not null
      and exists (select 1 from public.workflows w where w.id = p.workflow_id)
    union all
    select component_id, null, sum(n)::bigint, sum(ok)::bigint, sum(duration)::bigint,
      min(shortest), max(longest), sum(input_tokens)::bigint, sum(output_tokens)::bigint,
      sum(cost), max(at)
    from per_workflow group by component_id
  ),
  upserted as (
    insert into public.activity_statistics as a (component_id, workflow_id, execution_count,
      success_count, failure_count, total_duration_ms, avg_duration_ms, min_duration_ms,
      max_duration_ms, input_tokens, output_tokens, cost_usd, last_executed_at)
    select component_id, workflow_id, n, ok, n - ok, duration, duration / n, shortest, longest,
      input_tokens, output_tokens, cost, at
    from scoped
    order by component_id, workflow_id nulls last
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
      last_executed_at = greatest(a.last_executed_at, excluded.last_executed_at)
    returning 1
  )
  select count(*) into calls from taken;

  with taken as (
    delete from public.run_counter_deltas
    returning project_id, compiled_code_id, started, finished, duration_ms, activity_calls,
      recorded_at
  ),
  grouped as (
    select project_id, compiled_code_id, sum(started)::bigint as started,
      sum(finished)::bigint as finished, sum(duration_ms)::bigint as duration_ms,
      sum(activity_calls)::bigint as activity_calls,
      max(recorded_at) filter (where started > 0) as last_start, count(*) as deltas
    from taken group by project_id, compiled_code_id
  )
  select coalesce(jsonb_agg(to_jsonb(grouped)), '[]'::jsonb), coalesce(sum(deltas), 0)
  into folded, runs from grouped;
  if runs = 0 then
    return calls;
  end if;
  update public.projects p set
    total_workflow_executions = p.total_workflow_executions + d.started,
    last_execution_at = case when d.last_start is null then p.last_execution_at
                             else greatest(p.last_execution_at, d.last_start) end,
    total_activity_executions = p.total_activity_executions + d.activity_calls,
    finished_workflow_executions = p.finished_workflow_executions + d.finished,
    total_execution_duration_ms = p.total_execution_duration_ms + d.duration_ms,
    avg_execution_duration_ms = coalesce(
      (p.total_execution_duration_ms + d.duration_ms)
        / nullif(p.finished_workflow_executions + d.finished, 0),
      p.avg_execution_duration_ms)
  from (
    select project_id, sum(started)::bigint as started, sum(finished)::bigint as finished,
      sum(duration_ms)::bigint as duration_ms, sum(activity_calls)::bigint as activity_calls,
      max(last_start) as last_start
    from jsonb_to_recordset(folded) as f(project_id uuid, started bigint, finished bigint,
      duration_ms bigint, activity_calls bigint, last_start timestamptz)
    where project_id is not null group by project_id
  ) d
  where p.id = d.project_id;
  update public.workflow_compiled_code c set
    execution_count = c.execution_count + d.started,
    last_executed_at = case when d.last_start is null then c.last_executed_at
                            else greatest(c.last_executed_at, d.last_start) end,
    finished_count = c.finished_count + d.finished,
    total_duration_ms = c.total_duration_ms + d.duration_ms,
    avg_execution_duration_ms = coalesce(
      (c.total_duration_ms + d.duration_ms) / nullif(c.finished_count + d.finished, 0),
      c.avg_execution_duration_ms)
  from (
    select compiled_code_id, sum(started)::bigint as started, sum(finished)::bigint as finished,
      sum(duration_ms)::bigint as duration_ms, max(last_start) as last_start
    from jsonb_to_recordset(folded) as f(compiled_code_id uuid, started bigint,
      finished bigint, duration_ms bigint, last_start timestamptz)
    where compiled_code_id is not null group by compiled_code_id
  ) d
  where c.id = d.compiled_code_id;
  return calls + runs;
end $$;
grant execute on function public.wfb_fold_statistics() to authenticated, service_role;
"""


def upgrade() -> None:
    """Counters and statistics as deltas, folded by `wfb_fold_statistics()`."""
    op.execute(UPGRADE)


def downgrade() -> None:
    """Fold what is pending, then the functions of migrations 0012 and 0060 again."""
    from importlib import import_module

    op.execute("select public.wfb_fold_statistics()")
    op.execute(_functions_0012())
    count_calls = import_module("workflow_builder.db.migrations.versions.0060_test_run_calls")
    op.execute(count_calls._COUNT_CALLS.replace("--TEST RUNS--", count_calls._LEAVE_OUT_TEST_RUNS))
    op.execute(
        """
        drop function public.wfb_fold_statistics();
        drop function public.wfb_close_own_execution(uuid, text, jsonb, text);
        drop table public.activity_statistics_deltas;
        drop table public.run_counter_deltas;
        """
    )


def _functions_0012() -> str:
    """wfb_start_execution, wfb_close_execution and wfb_announce_run as migration 0012
    created them."""
    from importlib import import_module

    durable = import_module("workflow_builder.db.migrations.versions.0012_durable_runtime")
    text: str = durable.UPGRADE
    start = text.index("create function public.wfb_start_execution")
    end = text.index("-- Count finished call attempts")
    close = text.index("create function public.wfb_close_execution")
    close_end = text.index("create function public.wfb_announce(")
    announce = text.index("create function public.wfb_announce_run()")
    announce_end = text.index("create trigger workflow_executions_announce")
    both = text[start:end] + text[close:close_end] + text[announce:announce_end]
    return both.replace("create function", "create or replace function")
