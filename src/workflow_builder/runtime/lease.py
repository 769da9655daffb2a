"""A worker's lease on its runs: no component call starts once it may have lapsed.

A worker renews its lease with every heartbeat. Another worker may resume its runs only after
the lease has gone unrenewed for `WFB_WORKER_DEAD_AFTER_SECONDS` as the database counts it,
and only once that other worker has itself been connected for as long (see `worker.py`). The
lease is considered lapsed here, locally, a margin *before* that: its validity is counted from
the moment the renewal was sent, which precedes the database's timestamp of it. A worker cut
off from the database (an outage, a partition) therefore stops starting calls before anyone
else may take its runs, and the run's own fence (its engine's ownership token) stops anything it
still tries to record afterwards.
"""

from __future__ import annotations

import asyncio
import threading
import time


class Lease:
    """This process's lease; valid forever until a worker starts managing it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._valid_until: float | None = None  # monotonic; None: not managed

    def manage(self, valid_for: float) -> None:
        """Start managing: the lease is valid for `valid_for` seconds from now."""
        self.renewed(time.monotonic(), valid_for)

    def renewed(self, sent_at: float, valid_for: float) -> None:
        """A renewal sent at `sent_at` (monotonic) succeeded."""
        with self._lock:
            until = sent_at + valid_for
            if self._valid_until is None or until > self._valid_until:
                self._valid_until = until

    def revoke(self) -> None:
        """The lease is gone (the worker stops, or was declared dead)."""
        with self._lock:
            self._valid_until = 0.0

    def release(self) -> None:
        """Stop managing (valid forever again): for tests and processes without a worker."""
        with self._lock:
            self._valid_until = None

    def valid(self) -> bool:
        with self._lock:
            return self._valid_until is None or time.monotonic() < self._valid_until

    async def ready(self) -> None:
        """Return once the lease is valid (at once, normally)."""
        while not self.valid():
            await asyncio.sleep(0.1)


LEASE = Lease()
