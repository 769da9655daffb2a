"""A task queue's limit on concurrent component calls, held across every worker process.

Each call holds one of the queue's `max_concurrent_activities` slots: a PostgreSQL advisory
lock (queue, slot) taken on a connection kept for the call's duration. A worker that dies
loses its connections, and with them its slots, so nothing needs cleaning up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, text

from workflow_builder.activities.contract import ActivityError
from workflow_builder.db import get_database
from workflow_builder.db.engine import sqlalchemy_url

# Calls of one worker process that may hold a slot at once (its activity threads).
MAX_HELD_PER_PROCESS = 64

_TAKE = text(
    """select slot from generate_series(0, :limit - 1) slot
       where pg_try_advisory_lock(hashtext(:queue), slot) limit 1"""
)
_GIVE_BACK = text("select pg_advisory_unlock(hashtext(:queue), :slot)")


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return create_engine(
        sqlalchemy_url(url),
        pool_size=MAX_HELD_PER_PROCESS,
        max_overflow=0,
        pool_pre_ping=True,
        isolation_level="AUTOCOMMIT",
    )


@contextmanager
def activity_slot(task_queue: str, limit: int, timeout: float | None) -> Iterator[int]:
    """Hold one of `task_queue`'s `limit` slots for the block; wait up to `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = 0.01
    with _engine(get_database().url).connect() as conn:
        while (slot := conn.execute(_TAKE, {"queue": task_queue, "limit": limit}).scalar()) is None:
            if deadline is not None and time.monotonic() + pause > deadline:
                raise ActivityError(
                    f"all {limit} activity slots of task queue {task_queue!r} stayed busy "
                    f"for {timeout} s",
                    error_type="ActivityTimeout",
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
        try:
            yield slot
        finally:
            try:
                conn.execute(_GIVE_BACK, {"queue": task_queue, "slot": slot})
            except Exception:
                conn.invalidate()  # a closed session gives every lock it held back
                raise
