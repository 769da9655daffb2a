"""An index for listing a workflow's runs of one status, newest first.

`GET /api/v1/executions?workflow_id=...&status=...` reads a page and counts up to 1,000 runs
past it. Without this index the count gathered every run of the workflow into a bitmap before
filtering by status (7 ms with 50,000 runs), and a status the workflow had no runs in, though
common among all runs, sent the page down the whole `started_at` index looking for 50 matches
(2.4 s with 1,000,000 runs). With it, both read only the matching entries (under 1 ms), in the
page's order (`started_at desc, id`), so the page needs no sort either.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the index of runs by workflow, status and start time."""
    op.execute(
        "create index idx_workflow_executions_workflow_id_status_started_at "
        "on public.workflow_executions (workflow_id, status, started_at desc, id)"
    )


def downgrade() -> None:
    """Drop it."""
    op.execute("drop index public.idx_workflow_executions_workflow_id_status_started_at")
