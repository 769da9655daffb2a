"""Temporal workers in a `wfb worker` process: one Temporal worker per task queue it serves.

They share one thread pool for activities (component calls block on I/O or CPU) and run on a
background event loop. A worker serving every project picks up a new project's task queue at
its next heartbeat. Stopping drains gracefully: Temporal stops handing this process tasks,
activities in flight get `drain_seconds` to finish, and the runs carry on on other workers —
Temporal owns who runs what, so nothing is handed over by hand.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import logging
import threading
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflow_builder
from workflow_builder.runtime.engines.temporal import client as temporal
from workflow_builder.runtime.engines.temporal.activities import ACTIVITIES
from workflow_builder.runtime.engines.temporal.workflows import RunWorkflow, TickWorkflow

log = logging.getLogger(__name__)

ACTIVITY_THREADS = 64

# The workflow code reads the product's own modules (the interpreter, the compiler's
# expressions) and the libraries they use; they are deterministic and stateless, so the sandbox
# shares them instead of re-importing them for every run.
_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "workflow_builder",
        "jmespath",
        "pydantic",
        "pydantic_core",
        "sqlalchemy",
        "typing_extensions",
    )
)


@functools.cache
def build_id() -> str:
    """This installation's code, as Temporal's build id: a hash of the product's own modules
    and the SDK's version. (Without one, the SDK hashes the bytecode of every module loaded,
    some 1,300 here, which takes seconds at each worker start.)"""
    digest = hashlib.sha256(metadata.version("temporalio").encode())
    package = Path(workflow_builder.__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return f"wfb-{digest.hexdigest()[:32]}"


class TemporalWorkers:
    """The Temporal workers of one process."""

    def __init__(self, identity: str) -> None:
        self.identity = identity
        self._workers: dict[str, Worker] = {}
        self._runs: dict[str, concurrent.futures.Future[None]] = {}
        self._activities = concurrent.futures.ThreadPoolExecutor(
            ACTIVITY_THREADS, thread_name_prefix="wfb-temporal-activity"
        )
        self._client: Client | None = None
        self._lock = threading.Lock()

    def connect(self) -> None:
        """Connect (raise TemporalUnavailable when the server does not answer)."""
        try:
            self._client = temporal.run_coroutine(temporal.connect(), timeout=30)
        except Exception as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            if "Connection refused" in str(error):
                reason = "connection refused"
            raise temporal.TemporalUnavailable(
                f"cannot reach Temporal at TEMPORAL_ADDRESS={temporal.address()} ({reason})"
            ) from error

    def serve(self, queues: list[str], drain_seconds: float = 30.0) -> None:
        """Serve these task queues (those served already go on)."""
        assert self._client is not None, "connect first"
        with self._lock:
            for queue in queues:
                if queue in self._workers:
                    continue
                worker = temporal.run_coroutine(self._make(queue, drain_seconds))
                self._workers[queue] = worker
                self._runs[queue] = asyncio.run_coroutine_threadsafe(
                    _run(worker, queue), temporal._background.loop()
                )

    async def _make(self, queue: str, drain_seconds: float) -> Worker:
        """A Temporal worker for `queue`, made on the event loop it will run on."""
        assert self._client is not None
        return Worker(
            self._client,
            task_queue=queue,
            workflows=[RunWorkflow, TickWorkflow],
            activities=ACTIVITIES,
            activity_executor=self._activities,
            max_concurrent_activities=ACTIVITY_THREADS,
            identity=self.identity,
            build_id=build_id(),
            workflow_runner=_RUNNER,
            graceful_shutdown_timeout=timedelta(seconds=drain_seconds),
        )

    @property
    def queues(self) -> list[str]:
        return list(self._workers)

    def stop(self) -> None:
        """Stop every worker, letting activities in flight finish (their drain time)."""
        with self._lock:
            workers, self._workers = self._workers, {}
        shutdowns = [
            asyncio.run_coroutine_threadsafe(w.shutdown(), temporal._background.loop())
            for w in workers.values()
        ]
        for shutdown in shutdowns:
            try:
                shutdown.result(timeout=120)
            except Exception:
                log.exception("a Temporal worker did not stop cleanly")
        self._activities.shutdown(wait=False, cancel_futures=True)


async def _run(worker: Any, queue: str) -> None:
    try:
        await worker.run()
    except Exception:
        log.exception("Temporal worker for task queue %s stopped", queue)
