"""Admission: a workflow's `max_concurrent_executions`, and pushback when a queue overflows.

A run is *admitted* (`admitted_at`) when it may start, and only then handed to its engine's
task queue. Admission holds a workflow's `max_concurrent_executions`, and a task queue's
`max_concurrent_workflows` where the engine does not hold it itself (DBOS does, with its
queue's global concurrency; Temporal does not). A workflow whose runs can never exceed either
needs no admission: its runs are admitted as they are accepted. Otherwise, under the lock of
the workflow's row (and its task queue's, where admission holds the queue's limit):

- a start admits its run at once when it fits and no earlier run of the workflow waits;
  otherwise the run waits, accepted (`pending`);
- a run that ends admits the oldest waiting runs of its task queue that now fit, in the same
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


def queue_limited_by_engine() -> bool:
    """Whether the engine itself holds a task queue to its `max_concurrent_workflows` (a DBOS
    queue's global concurrency does); otherwise admission does (Temporal)."""
    return get_settings().engine == "dbos"


def gated(max_concurrent_executions: int, max_concurrent_workflows: int) -> bool:
    """Whether runs of a workflow with these limits go through admission."""
    if not queue_limited_by_engine():
        return True
    return max_concurrent_executions < max_concurrent_workflows


_LOCK_WORKFLOW = text(
    """select w.max_concurrent_executions, q.id as queue_id, q.max_concurrent_workflows
       from workflows w join task_queues q on q.id = w.task_queue_id
       where w.id = :w for no key update of w"""
)
_LOCK_QUEUE = text("select 1 from task_queues where id = :q for no key update")

# Admit a run now if its workflow (and, where admission holds the queue's limit, its task
# queue) is under its limit and no earlier run of the workflow waits for admission.
_ADMIT_NOW = text(
    """
    update workflow_executions set admitted_at = now()
    where id = :e
      and (select count(*) from workflow_executions
           where workflow_id = :w and admitted_at is not null and completed_at is null) < :limit
      and (not :by_queue or (
           select count(*) from workflow_executions x join workflows y on y.id = x.workflow_id
           where y.task_queue_id = :q and x.admitted_at is not null and x.completed_at is null)
           < :queue_limit)
      and not exists (select 1 from workflow_executions
                      where workflow_id = :w and admitted_at is null and completed_at is null
                        and id <> :e)
    returning id
    """
)

# Admit the oldest waiting runs of a task queue that now fit, each under its workflow's limit
# and, where admission holds it, the queue's; return them.
_ADMIT_WAITING = text(
    """
    with waiting as (
      select e.id, e.workflow_id, e.started_at,
        row_number() over (partition by e.workflow_id order by e.started_at, e.id) as place
      from workflow_executions e join workflows w on w.id = e.workflow_id
      where w.task_queue_id = :q and e.admitted_at is null and e.completed_at is null
    ),
    room as (
      select w.id, w.max_concurrent_executions - (
        select count(*) from workflow_executions
        where workflow_id = w.id and admitted_at is not null and completed_at is null) as free
      from workflows w where w.id in (select workflow_id from waiting)
    ),
    queue_room as (
      select case when not :by_queue then null else q.max_concurrent_workflows - (
        select count(*) from workflow_executions x join workflows y on y.id = x.workflow_id
        where y.task_queue_id = q.id and x.admitted_at is not null and x.completed_at is null)
      end as free
      from task_queues q where q.id = :q
    ),
    chosen as (
      select waiting.id from waiting join room on room.id = waiting.workflow_id
      where waiting.place <= room.free
      order by waiting.started_at, waiting.id
      limit (select greatest(coalesce(free, 2147483647), 0) from queue_room)
    )
    update workflow_executions e set admitted_at = now()
    from chosen, task_queues q
    where e.id = chosen.id and q.id = :q
    returning e.id, e.engine_run_id, q.name as queue_name
    """
)

_WAITING_QUEUES = text(
    """select distinct w.task_queue_id from workflow_executions e
       join workflows w on w.id = e.workflow_id
       where e.admitted_at is null and e.completed_at is null"""
)


def admit_now(session: Session, *, execution_id: UUID, workflow_id: UUID) -> bool:
    """Admit a gated run in its own start transaction when it fits (the workflow row's lock,
    and the task queue row's where admission holds the queue, order this against every other
    admission)."""
    limits = session.execute(_LOCK_WORKFLOW, {"w": workflow_id}).first()
    if limits is None:
        return False
    by_queue = not queue_limited_by_engine()
    if by_queue:
        session.execute(_LOCK_QUEUE, {"q": limits.queue_id})
    admitted = session.execute(
        _ADMIT_NOW,
        {
            "e": execution_id,
            "w": workflow_id,
            "limit": limits.max_concurrent_executions,
            "by_queue": by_queue,
            "q": limits.queue_id,
            "queue_limit": limits.max_concurrent_workflows,
        },
    ).scalar()
    return admitted is not None


def admit_waiting(task_queue_id: UUID) -> int:
    """Admit and enqueue the waiting runs of a task queue that fit now; return how many."""
    from workflow_builder.runtime.engines import engine

    with system_session() as session:
        if session.execute(_LOCK_QUEUE, {"q": task_queue_id}).first() is None:
            return 0
        admitted = session.execute(
            _ADMIT_WAITING, {"q": task_queue_id, "by_queue": not queue_limited_by_engine()}
        ).all()
        for row in admitted:
            engine().enqueue_run(
                session,
                execution_id=str(row.id),
                queue=row.queue_name,
                run_id=row.engine_run_id,
            )
    return len(admitted)


def admit_after(workflow_id: UUID) -> int:
    """Admit what the end of a run of `workflow_id` made room for; return how many."""
    with system_session() as session:
        queue = session.execute(
            text("select task_queue_id from workflows where id = :w"), {"w": workflow_id}
        ).scalar()
    return admit_waiting(queue) if queue is not None else 0


def admit_everything_waiting() -> int:
    """Admit what fits on every task queue with waiting runs (a worker's heartbeat)."""
    with system_session() as session:
        queues = session.execute(_WAITING_QUEUES).scalars().all()
    return sum(admit_waiting(queue) for queue in queues)


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
