"""A run remembers the trace it belongs to.

`workflow_executions.trace_parent` holds the W3C `traceparent` of the request, webhook, or
parent run that started it (NULL when tracing was off there), so the worker that executes the
run — and any worker that resumes it later — continues that trace.

Revision ID: 0040
Revises: 0055
"""

from __future__ import annotations

from alembic import op

revision = "0040"
down_revision = "0055"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable trace_parent column (at most a traceparent's length)."""
    op.execute(
        """
        alter table public.workflow_executions add column trace_parent varchar(55)
          constraint workflow_executions_trace_parent_check
            check (trace_parent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$')
        """
    )


def downgrade() -> None:
    """Drop the column."""
    op.execute("alter table public.workflow_executions drop column trace_parent")
