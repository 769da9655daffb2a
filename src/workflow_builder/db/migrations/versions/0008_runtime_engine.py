"""Runtime engine: work-queue items kept durably per run, admission and parent-close
bookkeeping on executions, and the attempt key that makes statistics count each component
call exactly once even when a step is re-executed after a crash.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

from workflow_builder.db.migrations import rls

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = f"""
alter table public.workflow_executions
  add column parent_close_policy varchar(50),
  add column admitted_at timestamptz,
  add constraint workflow_executions_parent_close_policy_check
    check (parent_close_policy in ('terminate', 'abandon', 'request_cancel'));
create index idx_workflow_executions_admitted on public.workflow_executions (workflow_id)
  where admitted_at is not null and completed_at is null;

alter table public.execution_steps add column last_attempt_key varchar(300);

create table public.work_queue_items (
  id uuid primary key default gen_random_uuid(),
  execution_id uuid not null references public.workflow_executions (id) on delete cascade,
  queue_name varchar(100) not null,
  payload jsonb not null,
  priority integer not null default 0,
  dedupe_key char(64),
  status varchar(20) not null default 'queued',
  enqueued_at timestamptz not null default clock_timestamp(),
  taken_at timestamptz,
  taken_by varchar(300),
  constraint work_queue_items_status_check check (status in ('queued', 'taken'))
);
create index idx_work_queue_items_queued
  on public.work_queue_items (execution_id, queue_name, enqueued_at) where status = 'queued';
create unique index work_queue_items_dedupe
  on public.work_queue_items (execution_id, queue_name, dedupe_key)
  where status = 'queued' and dedupe_key is not null;
create unique index work_queue_items_taken_by
  on public.work_queue_items (taken_by) where taken_by is not null;

{rls.enable("work_queue_items")}
grant select, insert on public.work_queue_items to authenticated;
create policy work_queue_items_select on public.work_queue_items for select to authenticated
  using (execution_id in (select e.id from public.workflow_executions e));
create policy work_queue_items_insert on public.work_queue_items for insert to authenticated
  with check (execution_id in (
    select e.id from public.workflow_executions e
    join public.workflows w on w.id = e.workflow_id
    where w.created_by = {rls.UID}) and public.has_permission('workflows:execute'));
"""

DOWNGRADE = """
drop table public.work_queue_items;
alter table public.execution_steps drop column last_attempt_key;
drop index public.idx_workflow_executions_admitted;
alter table public.workflow_executions drop column parent_close_policy, drop column admitted_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
