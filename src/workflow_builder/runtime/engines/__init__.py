"""The engine adapters, and the one the installation runs on.

The interpreter reaches its engine through the port (`runtime/port.py`); the rest of the
runtime (starting, cancelling and resuming runs, queues, schedules) through `Engine` below.
Only the modules in this package import an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.orm import Session

from workflow_builder.config import get_settings


class EngineUnavailable(Exception):
    """The engine's server did not answer (answered 503 with Retry-After)."""

    retry_after = 5


class Engine(Protocol):
    """What the runtime's services and workers ask of the engine, outside a run."""

    # Whether a started run's signals, work items and queries go to the engine (Temporal keeps
    # them in the workflow's state) rather than to the database (DBOS).
    holds_run_state: bool

    def enqueue_run(
        self, session: Session, *, execution_id: str, queue: str, run_id: str | None = None
    ) -> None:
        """Hand a run to its task queue, committed with the caller's transaction."""
        ...

    def register_queue(self, task_queue: str, max_concurrent_workflows: int) -> None:
        """Create or update a task queue with its concurrency limit."""
        ...

    def cancel_run(self, execution_id: str, run_id: str) -> None:
        """Stop a run's engine workflow (and take it off its queue if it waits there)."""
        ...

    def resume_runs(self, run_ids_by_queue: Mapping[str, list[str]]) -> None:
        """Put runs back on their task queues for any worker to take."""
        ...

    def register_schedule(
        self,
        *,
        schedule_id: str,
        cron: str,
        timezone: str,
        queue: str,
        fire_now: bool,
        remaining: int | None = None,
    ) -> None:
        """Create (or replace) the engine schedule of a workflow_scheduled_workflows row;
        `remaining`: how many more runs it may start (None: no limit)."""
        ...

    def signal_run(
        self, session: Session, *, execution_id: str, queue: str, name: str, payload: Any
    ) -> None:
        """Deliver a signal to a started run (engines that hold run state)."""
        ...

    def add_item(self, *, execution_id: str, queue: str, request: Mapping[str, Any]) -> Any:
        """Add a work item to a started run's queue; return the answer (engines that hold run
        state)."""
        ...

    def query_run(self, execution_id: str, name: str) -> Any:
        """Answer a query from a started run's state (engines that hold run state)."""
        ...

    def delete_schedule(self, schedule_id: str) -> None:
        """Remove a schedule (nothing if there is none)."""
        ...


def engine() -> Engine:
    """Return the engine of this installation (WFB_ENGINE)."""
    if get_settings().engine == "temporal":
        from workflow_builder.runtime.engines.temporal.client import TEMPORAL_ENGINE

        return TEMPORAL_ENGINE
    from workflow_builder.runtime.engines.dbos import DBOS_ENGINE

    return DBOS_ENGINE


def check_engine() -> None:
    """Raise EngineUnavailable unless the engine answers (DBOS keeps its state in the product's
    database, which the caller checks; Temporal has a server of its own)."""
    if get_settings().engine == "temporal":
        from workflow_builder.runtime.engines.temporal.client import check_health

        check_health()
