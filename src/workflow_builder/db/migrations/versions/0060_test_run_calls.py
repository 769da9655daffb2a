"""A test run's calls are left out of the components' statistics.

A test run (a draft started from the builder, `is_test`) is counted apart in the run
statistics; its component calls now count nowhere: `wfb_count_calls` still marks them counted
(so a replay never counts them later) but adds them to neither `activity_statistics` nor the
project's call counter.

Revision ID: 0060
Revises: 0040
"""

from __future__ import annotations

from alembic import op

revision = "0060"
down_revision = "0040"
branch_labels = None
depends_on = None

# The function of migration 0012, with a place for the test-run rule.
_COUNT_CALLS = """
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
  --TEST RUNS--
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
"""

_LEAVE_OUT_TEST_RUNS = """-- A test run's calls are marked counted above, and counted nowhere else.
  if exists (select 1 from public.workflow_executions e where e.id = run and e.is_test) then
    return counted;
  end if;"""


def upgrade() -> None:
    """wfb_count_calls leaves test runs' calls out of the statistics."""
    op.execute(_COUNT_CALLS.replace("--TEST RUNS--", _LEAVE_OUT_TEST_RUNS))


def downgrade() -> None:
    """wfb_count_calls as migration 0012 made it."""
    op.execute(_COUNT_CALLS.replace("--TEST RUNS--", ""))
