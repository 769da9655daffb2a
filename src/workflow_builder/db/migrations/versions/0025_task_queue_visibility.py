"""Task queues are visible to their owner, as system queues, and through the workflows on them.

Every authenticated user could read every task queue, so `GET /task-queues` listed every
project of every tenant: queue names carry the user and project ids, display names the private
project names. A user now sees the system queues, their own queues, and the queue of any
workflow they can see (shared with them publicly or in an organization): starting such a
workflow reads its queue, and the workflow already names it. Row-level security decides, so
every query that reads the table, the listing included, sees the same rows.

Revision ID: 0025
Revises: 0012
"""

from __future__ import annotations

from alembic import op

from workflow_builder.db.migrations import rls

revision = "0025"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Replace the read-everything policy with owner, system, or a visible workflow's queue."""
    op.execute(
        f"""
        drop policy task_queues_select on public.task_queues;
        create policy task_queues_select on public.task_queues for select to authenticated
          using (
            is_system_queue
            or created_by = {rls.UID}
            or exists (select 1 from public.workflows w where w.task_queue_id = task_queues.id)
          );
        """
    )


def downgrade() -> None:
    """Let every authenticated user read every task queue again."""
    op.execute(
        """
        drop policy task_queues_select on public.task_queues;
        create policy task_queues_select on public.task_queues for select to authenticated
          using (true);
        """
    )
