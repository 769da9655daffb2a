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

Calls arriving together share round trips: the call that asks the database takes a slot for
each call of the process waiting on that queue at that moment (up to the free ones), and hands
the spares to the others as lingering slots; slots due for release go in one statement per
queue. A call waits out the database blinking (its connection lost, the server restarting) as
it waits for a busy slot, within its timeout.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from workflow_builder.activities.contract import ActivityError
from workflow_builder.db import get_database
from workflow_builder.runtime.aio import transient

log = logging.getLogger(__name__)

# Calls of one worker process that may hold a slot at once (its activity threads).
MAX_HELD_PER_PROCESS = 128
# How long a given-back slot stays with the process for its next call before being released.
LINGER_SECONDS = 0.05

# Up to %(count)s free slots, locked. The CASE makes sure a slot this session holds already is
# never locked again (the planner may evaluate an AND's operands in any order, and a second
# lock on a re-entrant advisory lock would outlive the one release).
_TAKE = """select slot from generate_series(0, %(limit)s - 1) slot
           where case when slot = any(%(held)s::int[]) then false
                      else pg_try_advisory_lock(hashtext(%(queue)s), slot) end
           limit %(count)s"""
_GIVE_BACK = """select pg_advisory_unlock(hashtext(%(queue)s), slot)
                from unnest(%(slots)s::int[]) slot"""


class _Holder:
    """The process's lock-holding connection and, per queue, the slots it holds: those its
    calls use, and those lingering after a call gave them back (or taken for a call that
    another round trip served first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None
        self._url: str | None = None
        self._held: dict[str, set[int]] = {}
        self._busy: dict[str, set[int]] = {}
        self._lingering: dict[tuple[str, int], float] = {}
        self._releaser: threading.Thread | None = None
        # Calls of this process asking for a slot of each queue right now.
        self._counting = threading.Lock()
        self._wanting: dict[str, int] = {}

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

    def _want(self, queue: str, change: int) -> int:
        with self._counting:
            wanting = self._wanting.get(queue, 0) + change
            if wanting:
                self._wanting[queue] = wanting
            else:
                self._wanting.pop(queue, None)
            return wanting

    def take(self, queue: str, limit: int) -> int | None:
        """Return a free slot of `queue`, now held by this process, or None if all are busy."""
        self._want(queue, 1)
        try:
            return self._take(queue, limit)
        finally:
            self._want(queue, -1)

    def _take(self, queue: str, limit: int) -> int | None:
        with self._lock:
            connection = self._connect()  # first: a new connection forgets the held slots
            held = self._held.setdefault(queue, set())
            busy = self._busy.setdefault(queue, set())
            for slot in sorted(held - busy):
                if slot < limit:  # a lingering slot, still within a limit that may have shrunk
                    busy.add(slot)
                    self._lingering.pop((queue, slot), None)
                    return slot
            room = limit - len(busy)
            if room <= 0:
                return None
            # A slot for every call of this process waiting on the queue: one round trip.
            count = max(1, min(self._want(queue, 0), room))
            try:
                rows = connection.execute(
                    _TAKE, {"limit": limit, "held": list(held), "queue": queue, "count": count}
                ).fetchall()
            except psycopg.OperationalError:
                self._drop()
                raise
            if not rows:
                return None
            slot, *spares = (int(row[0]) for row in rows)
            held.add(slot)
            busy.add(slot)
            if spares:
                held.update(spares)
                self._linger(queue, spares)
            return slot

    def give_back(self, queue: str, slot: int) -> None:
        """Stop using a slot; it lingers with the process, then is released."""
        with self._lock:
            self._busy.get(queue, set()).discard(slot)
            if slot not in self._held.get(queue, set()):
                return  # the session that held it is gone, and its locks with it
            self._linger(queue, [slot])

    def _linger(self, queue: str, slots: list[int]) -> None:
        """Keep `slots` for LINGER_SECONDS, then release them (with the lock held)."""
        since = time.monotonic()
        for slot in slots:
            self._lingering[(queue, slot)] = since
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
                due: dict[str, list[int]] = {}
                for (queue, slot), since in list(self._lingering.items()):
                    if now - since >= LINGER_SECONDS:
                        del self._lingering[(queue, slot)]
                        self._held[queue].discard(slot)
                        due.setdefault(queue, []).append(slot)
                try:
                    for queue, slots in due.items():
                        if self._connection is not None and not self._connection.closed:
                            self._connection.execute(_GIVE_BACK, {"queue": queue, "slots": slots})
                except psycopg.Error:
                    self._drop()  # a closed session gives every lock it held back
                if not self._lingering:
                    self._releaser = None
                    return

    def close(self) -> None:
        """Give every slot back at once by ending the session that holds their locks. Bounded:
        a thread stuck in a statement (the database unreachable) does not hold the exit up."""
        locked = self._lock.acquire(timeout=2)
        try:
            self._drop()
        finally:
            if locked:
                self._lock.release()

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


def _take(task_queue: str, limit: int) -> int | None:
    """Take a slot; the database blinking (its connection lost, the server restarting) is
    waited out like busy slots, within the call's timeout, rather than failing the call."""
    try:
        return _holder.take(task_queue, limit)
    except Exception as error:
        if not transient(error):
            raise
        log.warning("database unavailable for an activity slot (%s); waiting", error)
        return None


@contextmanager
def activity_slot(task_queue: str, limit: int, timeout: float | None) -> Iterator[int]:
    """Hold one of `task_queue`'s `limit` slots for the block; wait up to `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = 0.01
    while (slot := _take(task_queue, limit)) is None:
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
