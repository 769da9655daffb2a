"""Shared by `signal_parent` and `query_parent`: a child run talking to the run that started it.

Both are allowed only where the parent workflow's child-workflow row for this workflow says so
(`can_signal_parent`, `can_query_parent`), and both act as the run's owner, so row-level
security applies as it does to the API.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import text

from workflow_builder.activities.contract import ActivityContext, ActivityError, RunControl

NAME_SCHEMA: dict[str, str] = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}


_PARENT = text(
    """
    select p.id as parent_id, c.created_by,
           coalesce(bool_or(r.can_signal_parent), false) as can_signal_parent,
           coalesce(bool_or(r.can_query_parent), false) as can_query_parent
    from workflow_executions c
    join workflow_executions p on p.id = c.parent_execution_id
    join workflows child on child.id = c.workflow_id
    left join workflow_child_workflows r on r.parent_workflow_id = p.workflow_id
      and (r.child_workflow_id = child.id or r.child_workflow_name = child.kebab_name)
    where c.id = :e
    group by p.id, c.created_by
    """
)


def parent_of(context: ActivityContext, permission: str) -> tuple[UUID, UUID]:
    """Return (parent execution id, owner) if this run's parent allows `permission`."""
    from workflow_builder.db import system_session
    from workflow_builder.runtime.aio import retrying

    def read() -> Any:
        with system_session() as session:
            return session.execute(_PARENT, {"e": context.execution_id}).mappings().first()

    # The product's own read: a database that blinks is waited out, not the call's failure.
    row = retrying(read, "reading a run's parent")
    if row is None:
        raise ActivityError(
            "this run was not started by a parent workflow", error_type="NoParent", retryable=False
        )
    if not row[permission]:
        raise ActivityError(
            f"the parent workflow does not allow it: set {permission} on its child workflow "
            "declaration for this workflow",
            error_type="ParentAccessDenied",
            retryable=False,
        )
    return row["parent_id"], row["created_by"]


def runs(context: ActivityContext) -> RunControl:
    """Return the runtime's control of other runs (always offered to a run's calls)."""
    if context.runs is None:
        raise ActivityError(
            "this call runs outside a workflow run", error_type="NoParent", retryable=False
        )
    return context.runs
