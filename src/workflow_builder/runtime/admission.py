"""Admission: a workflow's `max_concurrent_executions`, and pushback when a queue overflows.

A run is *admitted* (`admitted_at`) when it may start, and only then handed to its engine's
task queue. A workflow whose limit is at least its task queue's `max_concurrent_workflows`
needs no admission: its runs are admitted as they are accepted. Otherwise, under the lock of
the workflow's row:

- a start admits its run at once when fewer than the limit are admitted and unfinished and no
  earlier run of the workflow waits; otherwise the run waits, accepted (`pending`);
- a run that ends admits the oldest waiting runs of its workflow that now fit, in the same
  breath as its end, so a backlog drains as fast as runs finish, and nothing polls meanwhile;
- every worker's heartbeat admits what still fits (after a limit was raised, or a worker died
  between a run's end and the admissions it owed).

Separately, a task queue holds at most `WFB_MAX_PENDING_RUNS` runs accepted and not yet
started; a start beyond that is refused with 429 and `Retry-After` rather than growing a
backlog that can never drain.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from workflow_builder.config import get_settings
from workflow_builder.db import system_session

# Seconds a task queue's count of pending runs is trusted by one API process.
PENDING_COUNT_SECONDS = 1.0
RETRY_AFTER_SECONDS = 5


class Overloaded(Exception):
    """The task queue already holds as many unstarted runs as it may (429)."""

    def __init__(self, task_queue: str, pending: int, limit: int) -> None:
        super().__init__(
            f"task queue {task_queue!r} already holds {pending} runs waiting to start "
            f"(at most {limit}); try again later"
        )
        self.retry_after = RETRY_AFTER_SECONDS


_LOCK_WORKFLOW = text(
    "select max_concurrent_executions from workflows where id = :w for no key update"
)

# Admit a run now if its workflow is under its limit and no earlier run waits for admission.
_ADMIT_NOW = text(
    """
    update workflow_executions set admitted_at = now()
    where id = :e
      and (select count(*) from workflow_executions
           where workflow_id = :w and admitted_at is not null and completed_at is null) < :limit
      and not exists (select 1 from workflow_executions
                      where workflow_id = :w and admitted_at is null and completed_at is null
                        and id <> :e)
    returning id
    """
)

# Admit the oldest waiting runs that fit under the limit; return them with their queue.
_ADMIT_WAITING = text(
    """
    with room as (
      select greatest(w.max_concurrent_executions - (
        select count(*) from workflow_executions
        where workflow_id = w.id and admitted_at is not null and completed_at is null), 0) as n
      from workflows w where w.id = :w
    ),
    next as (
      select id from workflow_executions
      where workflow_id = :w and admitted_at is null and completed_at is null
      order by started_at, id
      limit (select n from room)
    )
    update workflow_executions e set admitted_at = now()
    from next, workflows w join task_queues q on q.id = w.task_queue_id
    where e.id = next.id and w.id = e.workflow_id
    returning e.id, e.engine_run_id, q.name as queue_name
    """
)

_WAITING_WORKFLOWS = text(
    """select distinct workflow_id from workflow_executions
       where admitted_at is null and completed_at is null"""
)


def admit_now(session: Session, *, execution_id: UUID, workflow_id: UUID) -> bool:
    """Admit a gated run in its own start transaction when its workflow has room (the
    workflow row's lock orders this against every other admission of the workflow)."""
    limit = session.execute(_LOCK_WORKFLOW, {"w": workflow_id}).scalar()
    if limit is None:
        return False
    admitted = session.execute(
        _ADMIT_NOW, {"e": execution_id, "w": workflow_id, "limit": limit}
    ).scalar()
    return admitted is not None


def admit_waiting(workflow_id: UUID) -> int:
    """Admit and enqueue the waiting runs of a workflow that fit now; return how many."""
    from workflow_builder.runtime.engines import engine

    with system_session() as session:
        if session.execute(_LOCK_WORKFLOW, {"w": workflow_id}).scalar() is None:
            return 0
        admitted = session.execute(_ADMIT_WAITING, {"w": workflow_id}).all()
        for row in admitted:
            engine().enqueue_run(
                session,
                execution_id=str(row.id),
                queue=row.queue_name,
                run_id=row.engine_run_id,
            )
    return len(admitted)


def admit_everything_waiting() -> int:
    """Admit what fits for every workflow with waiting runs (a worker's heartbeat)."""
    with system_session() as session:
        workflows = session.execute(_WAITING_WORKFLOWS).scalars().all()
    return sum(admit_waiting(workflow_id) for workflow_id in workflows)


class _PendingCounts:
    """Per task queue, how many runs wait to start, re-counted at most once a second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[UUID, tuple[float, int]] = {}

    def get(self, task_queue_id: UUID) -> int:
        with self._lock:
            counted = self._counts.get(task_queue_id)
        if counted is not None and time.monotonic() - counted[0] < PENDING_COUNT_SECONDS:
            return counted[1]
        with system_session() as session:  # every tenant's runs on the queue count
            count = int(
                session.execute(
                    text(
                        """select count(*) from workflow_executions e
                           join workflows w on w.id = e.workflow_id
                           where w.task_queue_id = :q and e.status = 'pending'"""
                    ),
                    {"q": task_queue_id},
                ).scalar_one()
            )
        with self._lock:
            self._counts[task_queue_id] = (time.monotonic(), count)
        return count

    def forget(self) -> None:
        with self._lock:
            self._counts.clear()


PENDING = _PendingCounts()


def check_room(workflow: Any) -> None:
    """Refuse a start (Overloaded) when the workflow's task queue is full of unstarted runs."""
    limit = get_settings().max_pending_runs
    pending = PENDING.get(workflow["task_queue_id"])
    if pending >= limit:
        raise Overloaded(workflow["queue_name"], pending, limit)
