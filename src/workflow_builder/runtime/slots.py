"""A task queue's limit on concurrent component calls, held across every worker process.

Each call holds one of the queue's `max_concurrent_activities` slots: a PostgreSQL advisory
lock (queue, slot). One connection per process holds the locks of all of that process's calls,
so a queue with a limit of 100 costs one connection per worker, not 100. A worker that dies
loses its connection, and with it its slots, so nothing needs cleaning up.

Session-level advisory locks are re-entrant within a session, so the process remembers which
slots its calls hold and never asks for those again.

A slot given back lingers with the process for LINGER_SECONDS before its lock is released, and
the process's next call on that queue takes it back without a round trip: a run of sequential
nodes costs no slot traffic at all. A lingering slot still counts against the limit, so the
limit holds exactly; another process waiting for it gets it at most LINGER_SECONDS later.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from workflow_builder.activities.contract import ActivityError
from workflow_builder.db import get_database

# Calls of one worker process that may hold a slot at once (its activity threads).
MAX_HELD_PER_PROCESS = 128
# How long a given-back slot stays with the process for its next call before being released.
LINGER_SECONDS = 0.05

_TAKE = """select slot from generate_series(0, %(limit)s - 1) slot
           where slot <> all(%(held)s::int[]) and pg_try_advisory_lock(hashtext(%(queue)s), slot)
           limit 1"""
_GIVE_BACK = "select pg_advisory_unlock(hashtext(%(queue)s), %(slot)s)"


class _Holder:
    """The process's lock-holding connection and, per queue, the slots it holds: those its
    calls use, and those lingering after a call gave them back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None
        self._url: str | None = None
        self._held: dict[str, set[int]] = {}
        self._busy: dict[str, set[int]] = {}
        self._lingering: dict[tuple[str, int], float] = {}
        self._releaser: threading.Thread | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        url = get_database().url
        if self._connection is None or self._connection.closed or self._url != url:
            if self._connection is not None:
                self._connection.close()
            # A new session holds none of the old one's locks.
            self._forget()
            self._connection = psycopg.connect(url, autocommit=True)
            self._url = url
        return self._connection

    def take(self, queue: str, limit: int) -> int | None:
        """Return a free slot of `queue`, now held by this process, or None if all are busy."""
        with self._lock:
            connection = self._connect()  # first: a new connection forgets the held slots
            held = self._held.setdefault(queue, set())
            busy = self._busy.setdefault(queue, set())
            for slot in sorted(held - busy):
                if slot < limit:  # a lingering slot, still within a limit that may have shrunk
                    busy.add(slot)
                    self._lingering.pop((queue, slot), None)
                    return slot
            if len(busy) >= limit:
                return None
            try:
                row = connection.execute(
                    _TAKE, {"limit": limit, "held": list(held), "queue": queue}
                ).fetchone()
            except psycopg.OperationalError:
                self._drop()
                raise
            if row is None:
                return None
            slot = int(row[0])
            held.add(slot)
            busy.add(slot)
            return slot

    def give_back(self, queue: str, slot: int) -> None:
        """Stop using a slot; it lingers with the process, then is released."""
        with self._lock:
            self._busy.get(queue, set()).discard(slot)
            if slot not in self._held.get(queue, set()):
                return  # the session that held it is gone, and its locks with it
            self._lingering[(queue, slot)] = time.monotonic()
            if self._releaser is None:
                self._releaser = threading.Thread(
                    target=self._release_lingering, name="wfb-slot-releaser", daemon=True
                )
                self._releaser.start()

    def _release_lingering(self) -> None:
        """Release the slots that lingered LINGER_SECONDS; stop when none lingers."""
        while True:
            time.sleep(LINGER_SECONDS / 2)
            with self._lock:
                now = time.monotonic()
                due = [
                    key for key, since in self._lingering.items() if now - since >= LINGER_SECONDS
                ]
                try:
                    for queue, slot in due:
                        del self._lingering[(queue, slot)]
                        self._held[queue].discard(slot)
                        if self._connection is not None and not self._connection.closed:
                            self._connection.execute(_GIVE_BACK, {"queue": queue, "slot": slot})
                except psycopg.Error:
                    self._drop()  # a closed session gives every lock it held back
                if not self._lingering:
                    self._releaser = None
                    return

    def close(self) -> None:
        """Give every slot back at once by ending the session that holds their locks."""
        with self._lock:
            self._drop()

    def _forget(self) -> None:
        self._held.clear()
        self._busy.clear()
        self._lingering.clear()

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._forget()


_holder = _Holder()
# A process on its way out gives its slots back before the interpreter tears down (a slow
# teardown, e.g. a full garbage collection on a loaded machine, must not keep other processes
# waiting on slots the lingering releaser, a daemon thread, will never give back).
atexit.register(_holder.close)


@contextmanager
def activity_slot(task_queue: str, limit: int, timeout: float | None) -> Iterator[int]:
    """Hold one of `task_queue`'s `limit` slots for the block; wait up to `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = 0.01
    while (slot := _holder.take(task_queue, limit)) is None:
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
        _holder.give_back(task_queue, slot)
