"""The runtime's short path to the database: single statements on autocommit connections.

A worker records every node it runs (history row, call statistics, run start and finish).
Through SQLAlchemy sessions each record costs a checkout ping, BEGIN, the role switch, the
statement and COMMIT; here it is the statement alone, in one round trip, on a small pool of
plain psycopg connections.

The connections commit without waiting for the WAL flush (`synchronous_commit = off`). Every
runtime write is followed by the engine's checkpoint of the step that made it, committed
synchronously; WAL is flushed in order, so once that checkpoint is durable so is the write, and
a crash before it re-runs the step, whose writes are idempotent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row

# Older connections are closed when returned, so a server-side change (a failover, a new
# setting) reaches the pool within this many seconds.
RECYCLE_SECONDS = 1800.0


class PoolTimeout(psycopg.OperationalError):
    """Every connection of the pool stayed busy for the whole wait."""


class DirectPool:
    """Up to `max_size` autocommit connections, opened on demand and kept while idle."""

    def __init__(self, url: str, *, max_size: int = 10, wait_seconds: float = 30.0) -> None:
        self.url = url
        self.max_size = max_size
        self.wait_seconds = wait_seconds
        self._idle: list[tuple[psycopg.Connection[DictRow], float]] = []
        self._open = 0
        self._available = threading.Condition()

    def _connect(self) -> psycopg.Connection[DictRow]:
        return psycopg.connect(
            self.url,
            autocommit=True,
            row_factory=dict_row,
            # The system's role, which bypasses RLS, as system_session() switches to.
            options="-c synchronous_commit=off -c role=service_role",
            application_name="wfb-runtime",
        )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[DictRow]]:
        """Lend a connection for the block (opening one if none is idle and there is room)."""
        taken: tuple[psycopg.Connection[DictRow], float] | None = None
        with self._available:
            deadline = time.monotonic() + self.wait_seconds
            while not self._idle and self._open >= self.max_size:
                left = deadline - time.monotonic()
                if left <= 0 or not self._available.wait(left):
                    raise PoolTimeout(
                        f"all {self.max_size} runtime connections stayed busy for "
                        f"{self.wait_seconds} s"
                    )
            if self._idle:
                taken = self._idle.pop()
            else:
                self._open += 1
        if taken is None:
            try:
                taken = (self._connect(), time.monotonic())
            except BaseException:
                self._release(None)
                raise
        try:
            yield taken[0]
        finally:
            self._release(taken)

    def _release(self, taken: tuple[psycopg.Connection[DictRow], float] | None) -> None:
        keep = (
            taken is not None
            and not taken[0].closed
            and taken[0].info.transaction_status == TransactionStatus.IDLE
            and time.monotonic() - taken[1] < RECYCLE_SECONDS
        )
        if taken is not None and not keep:
            taken[0].close()
        with self._available:
            if keep:
                assert taken is not None
                self._idle.append(taken)
            else:
                self._open -= 1
            self._available.notify()

    def execute(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run one statement (its own transaction); return its rows.

        A connection found broken is dropped and the statement sent once more on a new one,
        so the statement must be idempotent.
        """
        for attempt in (1, 2):
            with self.connection() as connection:
                try:
                    cursor = connection.execute(sql, params)
                    return cursor.fetchall() if cursor.description else []
                except psycopg.OperationalError:
                    if attempt == 2 or not connection.closed:
                        raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the idle connections (busy ones close when returned)."""
        with self._available:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for connection, _ in idle:
            connection.close()
