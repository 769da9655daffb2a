"""An index for the runs waiting to be admitted under their workflow's concurrency limit.

Starting a run admits it at once when its workflow has room and no earlier run is waiting;
both questions are answered from partial indexes, so their cost does not grow with the
workflow's history.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the index of waiting runs."""
    op.execute(
        "create index idx_workflow_executions_waiting on public.workflow_executions "
        "(workflow_id) where admitted_at is null and completed_at is null"
    )


def downgrade() -> None:
    """Drop it."""
    op.execute("drop index public.idx_workflow_executions_waiting")
