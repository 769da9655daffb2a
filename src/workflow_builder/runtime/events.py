"""Wake-ups for runs that wait: one LISTEN connection per worker process.

The database announces on channel `wfb_run` whatever a waiting run may be waiting for, with a
payload `<kind>:<execution id>`:

- `signal` — a signal was sent to the run (a row in `execution_signals`);
- `item` — an item was added to one of its work queues;
- `child` — one of its children finished;
- `closed` — the run itself was closed from outside (cancelled, or terminated by its parent);
- `stop` — its parent asked it to stop (parent-close policy `request_cancel`).

Triggers send the first four (see migration 0012), so no path that changes those rows can
forget to. A notification only says "look again": a waiter always re-reads the database, and
re-reads anyway every `RECHECK_SECONDS` and after the listening connection is re-established,
so a notification lost while the connection was down delays a wake-up but never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator

import psycopg

from workflow_builder.runtime.aio import FIRST_PAUSE_SECONDS, MAX_PAUSE_SECONDS

log = logging.getLogger(__name__)

CHANNEL = "wfb_run"
RECHECK_SECONDS = 30.0


class RunEvents:
    """Dispatches the channel's notifications to the runs of this process that wait."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._handlers: dict[str, Callable[[str], None]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        """Start listening on the running event loop (once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    @contextlib.contextmanager
    def watch(self, execution_id: str) -> Iterator[asyncio.Event]:
        """Yield an event set whenever something is announced for the run."""
        event = asyncio.Event()
        self._waiters[execution_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(execution_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[execution_id]

    def handle(self, execution_id: str, handler: Callable[[str], None] | None) -> None:
        """Call `handler(kind)` for every announcement for the run (None: stop calling)."""
        if handler is None:
            self._handlers.pop(execution_id, None)
        else:
            self._handlers[execution_id] = handler

    def _dispatch(self, kind: str, execution_id: str) -> None:
        handler = self._handlers.get(execution_id)
        if handler is not None:
            handler(kind)
        for event in self._waiters.get(execution_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    async def _listen(self) -> None:
        pause = FIRST_PAUSE_SECONDS
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, application_name="wfb-events"
                ) as connection:
                    await connection.execute(f"listen {CHANNEL}")
                    self.connected.set()
                    pause = FIRST_PAUSE_SECONDS
                    # Anything announced while the connection was down is looked for again.
                    self._wake_all()
                    async for notify in connection.notifies():
                        kind, _, execution_id = notify.payload.partition(":")
                        self._dispatch(kind, execution_id)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.connected.clear()
                log.debug("run events connection lost (%s); reconnecting", error)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE_SECONDS)
