"""Per-step metrics rolled into statistics, and webhook triggers.

A component call may report metrics (an agent reports tokens and cost); the step keeps them
and `activity_statistics` sums the ones every dashboard asks for. A deployed workflow whose
trigger is a webhook gets one `webhook_triggers` row: the path it answers on, how callers
authenticate (an API key, or an HMAC signature keyed by a project secret) and its rate limit.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

from workflow_builder.db.migrations import rls

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE = f"""
alter table public.execution_steps add column metrics jsonb;

alter table public.activity_statistics
  add column input_tokens bigint not null default 0,
  add column output_tokens bigint not null default 0,
  add column cost_usd numeric(18, 6) not null default 0;

create table public.webhook_triggers (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  path varchar(255) not null,
  auth varchar(20) not null default 'api_key',
  secret_name varchar(255),
  rate_limit_per_second integer not null default 100,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint webhook_triggers_workflow_id_key unique (workflow_id),
  constraint webhook_triggers_path_key unique (path),
  constraint webhook_triggers_path_check check (path ~ '^[a-z0-9][a-z0-9_-]*(/[a-z0-9_-]+)*$'),
  constraint webhook_triggers_auth_check check (auth in ('api_key', 'hmac')),
  constraint webhook_triggers_hmac_secret_check check (auth <> 'hmac' or secret_name is not null),
  constraint webhook_triggers_rate_limit_check check (rate_limit_per_second > 0)
);
create index idx_webhook_triggers_active on public.webhook_triggers (path) where is_active;
{rls.updated_at("webhook_triggers")}
{rls.workflow_child("webhook_triggers")}
"""

DOWNGRADE = """
drop table public.webhook_triggers;
alter table public.activity_statistics
  drop column input_tokens, drop column output_tokens, drop column cost_usd;
alter table public.execution_steps drop column metrics;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
