"""The Temporal adapter outside a run: the connection, starting, signalling, updating,
querying and cancelling runs, and schedules.

The Temporal client is asynchronous; the API and the workers call it from threads, so every
call runs on one background event loop per process (`call`). A run's workflow is started
only once the transaction that admitted it has committed (so its first activity finds its
row); a run whose start did not go through (Temporal away at that moment) is started by the
next worker heartbeat (`start_unstarted`), idempotently: a run's Temporal workflow id is its
execution id. The runs one transaction admits are started in one trip to the client's loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.orm import Session
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleSpec,
    ScheduleState,
    TLSConfig,
    WithStartWorkflowOperation,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from workflow_builder.config import Settings, get_settings
from workflow_builder.db import system_session
from workflow_builder.runtime.engines import EngineUnavailable
from workflow_builder.runtime.engines.temporal import names

log = logging.getLogger(__name__)

T = TypeVar("T")
RPC_SECONDS = 30.0
# The runs a transaction admitted, to start once it commits (in the session's `info`).
_STARTS = "wfb_temporal_starts"


class TemporalUnavailable(EngineUnavailable):
    """The Temporal server did not answer (the API answers 503 with Retry-After)."""


class _Loop:
    """A background event loop thread for the asynchronous client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="wfb-temporal-client", daemon=True
                ).start()
                self._loop = loop
            return self._loop


_background = _Loop()
_client_lock = threading.Lock()
_clients: dict[tuple[str, str], Client] = {}


def tls_config(settings: Settings) -> TLSConfig | bool:
    """Return the TLS settings of the connection (False: plain)."""
    cert, key, ca = settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca
    if cert or key or ca:
        return TLSConfig(
            client_cert=cert.read_bytes() if cert else None,
            client_private_key=key.read_bytes() if key else None,
            server_root_ca_cert=ca.read_bytes() if ca else None,
        )
    return bool(settings.temporal_tls or settings.temporal_api_key)


def address(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"


async def connect(settings: Settings | None = None) -> Client:
    """Connect to the configured Temporal frontend and namespace."""
    settings = settings or get_settings()
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        address(settings),
        namespace=settings.temporal_namespace,
        tls=tls_config(settings),
        api_key=api_key,
    )


def call(make: Callable[[Client], Awaitable[T]], timeout: float = RPC_SECONDS) -> T:
    """Run `make(client)` on the background loop and wait for it (TemporalUnavailable when the
    server does not answer)."""

    async def run() -> T:
        return await make(await _client())

    try:
        future = asyncio.run_coroutine_threadsafe(_coroutine(run()), _background.loop())
        return future.result(timeout=timeout)
    except (RPCError, RuntimeError, TimeoutError, ConnectionError) as error:
        if isinstance(error, RPCError) and not _unavailable(error):
            raise
        raise TemporalUnavailable(f"Temporal at {address()} did not answer: {error}") from error


def check_health(timeout: float = 3.0) -> None:
    """Raise TemporalUnavailable unless the frontend answers its health check in time."""
    if not call(lambda client: client.service_client.check_health(), timeout=timeout):
        raise TemporalUnavailable(f"Temporal at {address()} reports itself unhealthy")


async def _coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _unavailable(error: RPCError) -> bool:
    return error.status.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN")


async def _client() -> Client:
    settings = get_settings()
    key = (address(settings), settings.temporal_namespace)
    with _client_lock:
        known = _clients.get(key)
    if known is not None:
        return known
    client = await connect(settings)
    with _client_lock:
        _clients[key] = client
    return client


def temporal_cron(cron: str) -> str:
    """The product's cron (five fields, or six with seconds first, as DBOS reads them) in
    Temporal's spelling, where six fields end with a year and seconds come first only in seven."""
    fields = cron.split()
    if len(fields) == 6:
        return " ".join([*fields, "*"])
    return cron


def after_commit(session: Session, action: Callable[[], object]) -> None:
    """Run `action` once `session`'s transaction has committed (never if it rolls back)."""

    def run(_session: Session) -> None:
        try:
            action()
        except TemporalUnavailable as away:
            log.warning("%s; a worker heartbeat will do it once Temporal answers", away)

    event.listen(session, "after_commit", run, once=True)


class TemporalEngine:
    """The runtime's view of Temporal outside a run (see `engines.Engine`)."""

    name = "temporal"
    # A started run's signals, items and variables live in its workflow's state.
    holds_run_state = True

    def enqueue_run(
        self, session: Session, *, execution_id: str, queue: str, run_id: str | None = None
    ) -> None:
        """Start the run's workflow once `session` commits. The runs a transaction admits are
        started together, one after another in one trip to the client's event loop (not one
        trip each)."""
        batch: list[tuple[str, str]] | None = session.info.get(_STARTS)
        if batch is None:
            started: list[tuple[str, str]] = []
            session.info[_STARTS] = batch = started

            def start() -> None:
                if session.info.get(_STARTS) is started:
                    del session.info[_STARTS]
                    self.start_runs(started)

            def discard(_session: Session) -> None:
                if session.info.get(_STARTS) is started:
                    del session.info[_STARTS]

            after_commit(session, start)
            event.listen(session, "after_rollback", discard, once=True)
        batch.append((execution_id, queue))

    def start_run(self, execution_id: str, queue: str) -> str:
        """Start the run's workflow (nothing if it runs already); return its run id."""
        handle = call(lambda client: _start(client, execution_id, queue))
        return str(handle.result_run_id or handle.run_id or execution_id)

    def start_runs(self, runs: list[tuple[str, str]]) -> None:
        """Start these runs' workflows (execution id, task queue), one after another; those
        a failure leaves unstarted are started by a worker heartbeat (`start_unstarted`)."""

        async def start_all(client: Client) -> None:
            for execution_id, queue in runs:
                await _start(client, execution_id, queue)

        call(start_all, timeout=RPC_SECONDS + len(runs))

    def register_queue(self, task_queue: str, max_concurrent_workflows: int) -> None:
        """Nothing: a Temporal task queue exists as soon as a worker polls it (admission holds
        its `max_concurrent_workflows`)."""

    def cancel_run(self, execution_id: str, run_id: str) -> None:
        """Ask the run's workflow to stop (its row is closed already)."""

        async def cancel(client: Client) -> None:
            try:
                await client.get_workflow_handle(names.workflow_id(execution_id)).cancel()
            except RPCError as error:
                if error.status.name != "NOT_FOUND":
                    raise

        call(cancel)

    def signal_run(
        self, session: Session, *, execution_id: str, queue: str, name: str, payload: Any
    ) -> None:
        """Signal a started run (signal-with-start: a run admitted whose workflow has not
        started yet starts with it)."""
        call(
            lambda client: client.start_workflow(
                names.RUN_WORKFLOW,
                names.run_argument(execution_id),
                id=names.workflow_id(execution_id),
                task_queue=queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                start_signal=name,
                start_signal_args=[payload],
            )
        )

    def add_item(self, *, execution_id: str, queue: str, request: Mapping[str, Any]) -> Any:
        """Add a work item to a started run's queue (update-with-start); return the answer."""

        async def add(client: Client) -> Any:
            start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
                names.RUN_WORKFLOW,
                names.run_argument(execution_id),
                id=names.workflow_id(execution_id),
                task_queue=queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            return await client.execute_update_with_start_workflow(
                names.ADD_ITEM, dict(request), start_workflow_operation=start
            )

        return call(add)

    def query_run(self, execution_id: str, name: str) -> Any:
        """Ask a started run's workflow a query."""
        return call(lambda client: client.get_workflow_handle(execution_id).query(name))

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
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                names.TICK_WORKFLOW,
                schedule_id,
                id=f"wfb-tick-{schedule_id}",
                task_queue=queue,
                run_timeout=timedelta(minutes=10),
            ),
            spec=ScheduleSpec(cron_expressions=[temporal_cron(cron)], time_zone_name=timezone),
            state=ScheduleState(
                limited_actions=remaining is not None, remaining_actions=remaining or 0
            ),
        )

        async def create(client: Client) -> None:
            handle = client.get_schedule_handle(names.schedule_id(schedule_id))
            try:
                await handle.delete()
            except RPCError as error:
                if error.status.name != "NOT_FOUND":
                    raise
            await client.create_schedule(
                names.schedule_id(schedule_id), schedule, trigger_immediately=fire_now
            )

        call(create)

    def delete_schedule(self, schedule_id: str) -> None:
        async def delete(client: Client) -> None:
            try:
                await client.get_schedule_handle(names.schedule_id(schedule_id)).delete()
            except RPCError as error:
                if error.status.name != "NOT_FOUND":
                    raise

        call(delete)

    def resume_runs(self, run_ids_by_queue: Mapping[str, list[str]]) -> None:
        """Nothing: Temporal hands a worker's runs to other workers itself."""


async def _start(client: Client, execution_id: str, queue: str) -> Any:
    """Start a run's workflow (nothing if it runs already)."""
    return await client.start_workflow(
        names.RUN_WORKFLOW,
        names.run_argument(execution_id),
        id=names.workflow_id(execution_id),
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


TEMPORAL_ENGINE = TemporalEngine()


def start_unstarted() -> int:
    """Start the admitted runs whose workflow never started (Temporal was away when they were
    admitted); return how many."""
    with system_session() as session:
        rows = session.execute(
            text(
                """select e.id, q.name as queue from workflow_executions e
                   join workflows w on w.id = e.workflow_id
                   join task_queues q on q.id = w.task_queue_id
                   where e.status = 'pending' and e.admitted_at is not null
                     and e.completed_at is null and e.engine_run_id like e.id::text || '%'
                     and e.parent_execution_id is null
                     and e.admitted_at < now() - interval '5 seconds'"""
            )
        ).all()
    for row in rows:
        TEMPORAL_ENGINE.start_run(str(row.id), row.queue)
    return len(rows)


def run_coroutine(coroutine: Coroutine[Any, Any, T], timeout: float = RPC_SECONDS) -> T:
    """Run a coroutine on the client's background loop (for worker start-up)."""
    return asyncio.run_coroutine_threadsafe(coroutine, _background.loop()).result(timeout)
