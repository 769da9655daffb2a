"""Test runs: a run of a workflow's draft, started from the builder without deploying.

A test run is an ordinary execution pinned to a compiled version of the draft (compiled but
not activated); `is_test` marks it so that lists and statistics can tell it from the runs of
the deployed version.

Revision ID: 0055
Revises: 0035
"""

from __future__ import annotations

from alembic import op

revision = "0055"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add workflow_executions.is_test."""
    op.execute(
        """
        alter table public.workflow_executions
          add column is_test boolean not null default false;
        create index workflow_executions_test_runs_idx on public.workflow_executions (workflow_id)
          where is_test;
        """
    )


def downgrade() -> None:
    """Drop workflow_executions.is_test."""
    op.execute("alter table public.workflow_executions drop column is_test;")
