"""The runtime's asynchronous path to the database, and the one retry rule for its writes.

Runs execute as asyncio tasks on one event loop per worker process; their journal writes and
reads go through `AsyncPool`: plain psycopg connections in autocommit mode, running as
`service_role` (the system, which bypasses row-level security, as `system_session()` does).

**A database that blinks never fails a run.** A statement that meets a transient error —
the server refusing connections, restarting, "too many clients", a connection cut, a
serialization failure — is sent again after a pause that grows to `MAX_PAUSE_SECONDS`, for as
long as it takes; only the run's own cancellation stops the wait. Every runtime statement is
written to be idempotent for that reason: a statement whose connection broke after the server
committed it may run twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.rows import DictRow, dict_row

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_PAUSE_SECONDS = 0.05
MAX_PAUSE_SECONDS = 2.0
# SQLSTATEs that mean "try again later", not "this statement is wrong": too many clients,
# the server shutting down or starting up, a serialization failure or deadlock; and the whole
# class 08 (connection exceptions).
_TRANSIENT_STATES = frozenset({"53300", "53400", "57P01", "57P02", "57P03", "40001", "40P01"})


def transient(error: BaseException) -> bool:
    """Whether a database error is one a retry can outlive (the server, not the statement)."""
    original = getattr(error, "orig", None)  # SQLAlchemy wraps the driver's error
    if isinstance(original, psycopg.Error):
        error = original
    if not isinstance(error, psycopg.Error):
        return False
    state = error.sqlstate
    if state is None:  # no answer from a server at all: refused, cut, timed out
        return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
    return state.startswith("08") or state in _TRANSIENT_STATES


def retrying(attempt: Callable[[], T], what: str) -> T:
    """Call `attempt` (idempotent, on this thread) again and again through transient database
    errors, as `AsyncPool` does for its statements."""
    pause = FIRST_PAUSE_SECONDS
    warned = False
    while True:
        try:
            return attempt()
        except Exception as error:
            if not transient(error):
                raise
            if not warned:
                log.warning("database unavailable for %s (%s); retrying", what, error)
                warned = True
            time.sleep(pause * random.uniform(0.8, 1.2))
            pause = min(pause * 2, MAX_PAUSE_SECONDS)


class AsyncPool:
    """Up to `size` autocommit connections for one event loop, opened on demand."""

    def __init__(self, url: str, *, size: int = 10, application_name: str = "wfb-runtime") -> None:
        self.url = url
        self.size = size
        self.application_name = application_name
        self._idle: list[psycopg.AsyncConnection[DictRow]] = []
        self._open = 0
        self._available: asyncio.Condition | None = None

    async def _connect(self) -> psycopg.AsyncConnection[DictRow]:
        return await psycopg.AsyncConnection.connect(
            self.url,
            autocommit=True,
            row_factory=dict_row,
            options="-c role=service_role",
            application_name=self.application_name,
            connect_timeout=10,
        )

    async def _take(self) -> psycopg.AsyncConnection[DictRow]:
        if self._available is None:
            self._available = asyncio.Condition()
        async with self._available:
            while not self._idle and self._open >= self.size:
                await self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return await self._connect()
        except BaseException:
            await self._give_back(None)
            raise

    async def _give_back(self, connection: psycopg.AsyncConnection[DictRow] | None) -> None:
        assert self._available is not None
        async with self._available:
            if connection is not None and not connection.closed:
                self._idle.append(connection)
            else:
                self._open -= 1
            self._available.notify()

    async def execute_once(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run one statement (its own transaction) once; return its rows."""
        connection = await self._take()
        try:
            cursor = await connection.execute(sql, params or {})
            rows = await cursor.fetchall() if cursor.description else []
        except BaseException:
            if not connection.closed:
                await connection.close()
            await self._give_back(None)
            raise
        await self._give_back(connection)
        return rows

    async def transaction_once(
        self, statements: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[list[dict[str, Any]]]:
        """Run statements in one transaction, sent together with its BEGIN and COMMIT (one
        round trip: no lock the statements take waits for this process to answer); return
        each statement's rows."""
        connection = await self._take()
        try:
            results: list[list[dict[str, Any]]] = []
            cursors = []
            # Not connection.transaction(): in a pipeline it waits for its BEGIN and COMMIT.
            async with connection.pipeline():
                await connection.execute("begin")
                for sql, params in statements:
                    cursors.append(await connection.execute(sql, params))
                await connection.execute("commit")
            # A failed statement raised above; the server skipped the COMMIT behind it, and the
            # connection, its transaction aborted, is closed below.
            for cursor in cursors:
                results.append(await cursor.fetchall() if cursor.description else [])
        except BaseException:
            if not connection.closed:
                await connection.close()
            await self._give_back(None)
            raise
        await self._give_back(connection)
        return results

    async def transaction(
        self, statements: Sequence[tuple[str, Mapping[str, Any]]], *, what: str = "transaction"
    ) -> list[list[dict[str, Any]]]:
        """Run an idempotent transaction, again and again through transient errors."""
        return await self._retrying(lambda: self.transaction_once(statements), what)

    async def execute(
        self, sql: str, params: Mapping[str, Any] | None = None, *, what: str = "statement"
    ) -> list[dict[str, Any]]:
        """Run one idempotent statement, again and again through transient errors."""
        return await self._retrying(lambda: self.execute_once(sql, params), what)

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], what: str) -> T:
        pause = FIRST_PAUSE_SECONDS
        since: float | None = None
        while True:
            try:
                rows = await attempt()
            except Exception as error:
                if not transient(error):
                    raise
                if since is None:
                    since = time.monotonic()
                    log.warning("database unavailable for %s (%s); retrying", what, error)
                await asyncio.sleep(pause * random.uniform(0.8, 1.2))
                pause = min(pause * 2, MAX_PAUSE_SECONDS)
                continue
            if since is not None:
                log.warning("database back for %s after %.1f s", what, time.monotonic() - since)
            return rows

    async def close(self) -> None:
        """Close the idle connections."""
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        for connection in idle:
            await connection.close()
