"""Advanced patterns: work queues, signals, queries, cron schedules and child workflows.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from workflow_builder.db.migrations import rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NAME = "'^[A-Za-z_][A-Za-z0-9_.-]*$'"

TABLES = f"""
create table public.workflow_work_queues (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  queue_name varchar(100) not null,
  description text,
  signal_name varchar(100) not null,
  query_name varchar(100) not null,
  max_size integer,
  priority varchar(20) not null default 'fifo',
  deduplicate boolean not null default false,
  work_item_schema jsonb,
  created_by uuid not null references public.users (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint workflow_work_queues_workflow_id_queue_name_key unique (workflow_id, queue_name),
  constraint workflow_work_queues_workflow_id_signal_name_key unique (workflow_id, signal_name),
  constraint workflow_work_queues_workflow_id_query_name_key unique (workflow_id, query_name),
  constraint workflow_work_queues_priority_check check (priority in ('fifo', 'lifo', 'priority')),
  constraint workflow_work_queues_max_size_positive check (max_size is null or max_size > 0),
  constraint workflow_work_queues_queue_name_format check (queue_name ~ {NAME})
);
create index idx_workflow_work_queues_priority on public.workflow_work_queues (priority);

create table public.workflow_signals (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  signal_name varchar(100) not null,
  description text,
  parameters jsonb not null default '{{}}',
  auto_generated boolean not null default false,
  work_queue_id uuid references public.workflow_work_queues (id) on delete cascade,
  created_by uuid not null references public.users (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint workflow_signals_workflow_id_signal_name_key unique (workflow_id, signal_name),
  constraint workflow_signals_signal_name_format check (signal_name ~ {NAME})
);
create index idx_workflow_signals_auto_generated on public.workflow_signals (auto_generated);
create index idx_workflow_signals_work_queue_id on public.workflow_signals (work_queue_id);

create table public.workflow_queries (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  query_name varchar(100) not null,
  description text,
  return_type jsonb not null default '{{}}',
  auto_generated boolean not null default false,
  work_queue_id uuid references public.workflow_work_queues (id) on delete cascade,
  created_by uuid not null references public.users (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint workflow_queries_workflow_id_query_name_key unique (workflow_id, query_name),
  constraint workflow_queries_query_name_format check (query_name ~ {NAME})
);
create index idx_workflow_queries_auto_generated on public.workflow_queries (auto_generated);
create index idx_workflow_queries_work_queue_id on public.workflow_queries (work_queue_id);

create table public.workflow_scheduled_workflows (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  cron_expression varchar(100) not null,
  timezone varchar(50) not null default 'UTC',
  start_immediately boolean not null default false,
  max_runs integer,
  work_queue_id uuid references public.workflow_work_queues (id) on delete set null,
  created_by uuid not null references public.users (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint workflow_scheduled_workflows_max_runs_positive check (max_runs is null or max_runs > 0)
);
create index idx_workflow_scheduled_workflows_workflow_id
  on public.workflow_scheduled_workflows (workflow_id);
create index idx_workflow_scheduled_workflows_work_queue_id
  on public.workflow_scheduled_workflows (work_queue_id);

create table public.workflow_child_workflows (
  id uuid primary key default gen_random_uuid(),
  parent_workflow_id uuid not null references public.workflows (id) on delete cascade,
  child_workflow_id uuid references public.workflows (id),
  child_workflow_name varchar(255) not null,
  parent_close_policy varchar(50) not null default 'terminate',
  can_signal_parent boolean not null default false,
  can_query_parent boolean not null default false,
  block_until jsonb,
  created_by uuid not null references public.users (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint workflow_child_workflows_parent_close_policy_check
    check (parent_close_policy in ('terminate', 'abandon', 'request_cancel'))
);
create index idx_workflow_child_workflows_parent_workflow_id
  on public.workflow_child_workflows (parent_workflow_id);
create index idx_workflow_child_workflows_child_workflow_id
  on public.workflow_child_workflows (child_workflow_id);
"""

CHILD_TABLES = (
    ("workflow_work_queues", "workflow_id"),
    ("workflow_signals", "workflow_id"),
    ("workflow_queries", "workflow_id"),
    ("workflow_scheduled_workflows", "workflow_id"),
    ("workflow_child_workflows", "parent_workflow_id"),
)


def upgrade() -> None:
    op.execute(TABLES)
    for table, fk in CHILD_TABLES:
        op.execute(rls.workflow_child(table, fk))
        op.execute(rls.updated_at(table))


def downgrade() -> None:
    op.execute(
        """
        drop table public.workflow_child_workflows, public.workflow_scheduled_workflows,
          public.workflow_queries, public.workflow_signals, public.workflow_work_queues;
        """
    )
