"""The engine adapters, and the one the installation runs on.

The interpreter reaches its engine through the port (`runtime/port.py`); the rest of the
runtime (starting, cancelling and resuming runs, queues, schedules) through `Engine` below.
Only the modules in this package import an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy.orm import Session


class Engine(Protocol):
    """What the runtime's services and workers ask of the engine, outside a run."""

    def enqueue_run(
        self, session: Session, *, execution_id: str, queue: str, run_id: str | None = None
    ) -> None:
        """Hand a run to its task queue, committed with the caller's transaction."""
        ...

    def register_queue(self, task_queue: str, max_concurrent_workflows: int) -> None:
        """Create or update a task queue with its concurrency limit."""
        ...

    def cancel_run(self, run_id: str) -> None:
        """Stop a run's engine workflow (and take it off its queue if it waits there)."""
        ...

    def resume_runs(self, run_ids_by_queue: Mapping[str, list[str]]) -> None:
        """Put runs back on their task queues for any worker to take."""
        ...

    def register_schedule(
        self, *, schedule_id: str, cron: str, timezone: str, queue: str, fire_now: bool
    ) -> None:
        """Create (or replace) the engine schedule of a workflow_scheduled_workflows row."""
        ...

    def delete_schedule(self, schedule_id: str) -> None:
        """Remove a schedule (nothing if there is none)."""
        ...


def engine() -> Engine:
    """Return the engine of this installation."""
    from workflow_builder.runtime.engines.dbos import DBOS_ENGINE

    return DBOS_ENGINE
