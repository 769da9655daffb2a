"""Cron schedules: each active `workflow_scheduled_workflows` row is an engine schedule whose
ticks start runs (once per tick, with the run key `schedule:<id>:<tick>`)."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from workflow_builder.db import system_session
from workflow_builder.runtime.engines import engine

log = logging.getLogger(__name__)


def register_schedules(session: Session, *, workflow_id: UUID, queue_name: str) -> int:
    """Create (or replace) the engine schedules of a workflow's schedule rows; return how many."""
    rows = session.execute(
        text(
            "select id, cron_expression, timezone, start_immediately, is_active "
            "from workflow_scheduled_workflows where workflow_id = :w"
        ),
        {"w": workflow_id},
    ).all()
    for row in rows:
        if not row.is_active:
            engine().delete_schedule(str(row.id))
            continue
        engine().register_schedule(
            schedule_id=str(row.id),
            cron=row.cron_expression,
            timezone=row.timezone,
            queue=queue_name,
            fire_now=bool(row.start_immediately),
        )
    return len(rows)


def unregister_schedules(session: Session, *, workflow_id: UUID) -> None:
    """Remove a workflow's engine schedules (its rows stay)."""
    ids = session.execute(
        text("select id from workflow_scheduled_workflows where workflow_id = :w"),
        {"w": workflow_id},
    ).scalars()
    for schedule_id in ids:
        engine().delete_schedule(str(schedule_id))


def start_scheduled_run(schedule_id: str, scheduled_at: str) -> str | None:
    """Start the run of one cron tick unless the schedule is spent or its workflow not active."""
    from workflow_builder.runtime.service import ExecutionRefused, start_execution

    with system_session() as session:
        schedule = session.execute(
            text(
                """update workflow_scheduled_workflows s
                   set run_count = run_count + 1, last_run_at = now()
                   from workflows w join workflow_statuses st on st.id = w.status_id
                   where s.id = :s and w.id = s.workflow_id and s.is_active
                     and st.name = 'active'
                     and (s.max_runs is null or s.run_count < s.max_runs)
                   returning s.workflow_id, s.created_by, s.run_count, s.max_runs"""
            ),
            {"s": schedule_id},
        ).first()
    if schedule is None:
        return None
    if schedule.max_runs is not None and schedule.run_count >= schedule.max_runs:
        engine().delete_schedule(schedule_id)
    try:
        started = start_execution(
            user_id=schedule.created_by,
            workflow_id=schedule.workflow_id,
            inputs=_schedule_input(schedule_id),
            idempotency_key=f"schedule:{schedule_id}:{scheduled_at}",
            trigger_kind="schedule",
            schedule_id=UUID(schedule_id),
        )
    except ExecutionRefused as refused:
        log.warning("schedule %s could not start a run: %s", schedule_id, refused)
        return None
    return str(started.execution_id)


def _schedule_input(schedule_id: str) -> dict[str, Any]:
    with system_session() as session:
        row = session.execute(
            text(
                """select c.workflow_code::jsonb -> 'schedules' as schedules, s.cron_expression
                   from workflow_scheduled_workflows s
                   join workflow_compiled_code c on c.workflow_id = s.workflow_id and c.is_active
                   where s.id = :s"""
            ),
            {"s": schedule_id},
        ).first()
    if row is None:
        return {}
    for declared in row.schedules or []:
        if declared.get("cron") == row.cron_expression:
            return dict(declared.get("input") or {})
    return {}
