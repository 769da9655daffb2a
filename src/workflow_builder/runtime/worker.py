"""Worker processes: register, hold a lease, resume orphaned runs, admit, hand over on stop.

No run depends on a particular worker coming back:

- **A worker that stops** (SIGTERM, Ctrl-C) stops taking runs and starting calls, lets the calls
  in flight finish and be recorded (up to its drain time), then stops the runs it executes
  without writing anything and puts them back on their task queues, where any worker — one
  running now or one started later — takes them and resumes them from their journals.
- **A worker that dies** stops renewing its lease. Another worker declares it dead once the
  lease is older than `WFB_WORKER_DEAD_AFTER_SECONDS` *and* that worker has itself been
  connected to the database for at least as long (so an outage that silenced everyone
  declares no one dead), and puts its runs back on their queues. A dead worker's runs move on
  within the dead-after time plus one heartbeat.
- **A worker cut off from the database** (an outage, a partition) stops starting calls as soon
  as its lease may have lapsed (see `lease.py`), before anyone may take its runs; anything it
  still tries to record is refused by the run's fence once the run has moved.

The lease is renewed by a thread of its own from the moment it is taken, so neither the
engine's start (seconds on a loaded machine) nor a slow maintenance pass makes a live worker
look dead. Maintenance runs on a second thread, at the same period, once the engine is up: it
admits waiting runs that fit under their workflow's limit (`admission.py`), closes runs whose
engine workflow ended without the interpreter closing them, and folds the counter and
statistics deltas runs recorded (`fold_statistics`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from uuid import UUID

from sqlalchemy import text

from workflow_builder.activities import sandbox
from workflow_builder.config import Settings, get_settings
from workflow_builder.db import get_database, system_session
from workflow_builder.runtime import admission
from workflow_builder.runtime.aio import retrying
from workflow_builder.runtime.engines import dbos as engine
from workflow_builder.runtime.lease import LEASE

log = logging.getLogger(__name__)

SYSTEM_QUEUE = "default"


def default_worker_id() -> str:
    """Return a worker id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """One worker process (or the in-process worker of `wfb up`)."""

    def __init__(
        self, projects: Sequence[UUID] | None = None, settings: Settings | None = None
    ) -> None:
        self.settings = settings or get_settings()
        # None: every project (and the system queues); a list: those projects' queues
        # only; an empty list: only the system queue, for workflows outside any project.
        self.projects = list(projects) if projects is not None else None
        self.worker_id = self.settings.worker_id or default_worker_id()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._maintenance: threading.Thread | None = None
        # Set once the engine serves this worker's queues: the heartbeat then also keeps the
        # registry rows fresh.
        self._serving = threading.Event()
        # Since when the heartbeat has reached the database without a failure (monotonic).
        self._connected_since: float | None = None

    @property
    def _lease_seconds(self) -> float:
        """How long a renewal keeps the lease valid here: a heartbeat short of the dead-after
        time, and never less than half of it."""
        after = self.settings.worker_dead_after_seconds
        return max(after - self.settings.heartbeat_seconds, after / 2)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def temporal(self) -> bool:
        return self.settings.engine == "temporal"

    def start(self) -> None:
        """Take the lease and keep renewing it, launch the engine for this worker's queues,
        start maintaining."""
        sandbox.announce(self.settings)
        try:
            if self.temporal:
                self._take_lease()
                self._heartbeat = _thread(self._beat, "wfb-heartbeat")
                self._start_temporal()
            else:
                url = get_database().url
                engine.migrate_engine(url)
                self._take_lease()
                self._heartbeat = _thread(self._beat, "wfb-heartbeat")
                engine.launch_worker(url, executor_id=self.worker_id, queues=self._queues())
        except Exception as exc:
            self.stop_threads()
            self._register(status="error", error=f"{type(exc).__name__}: {exc}")
            raise
        # The engine runs runs already: a database that blinks now must not stop the worker.
        retrying(lambda: self._register(status="running"), "registering the worker")
        self._serving.set()
        self._connected_since = time.monotonic()
        self.maintain()
        self._maintenance = _thread(self._maintain_often, "wfb-maintenance")
        log.info("worker %s serving %s", self.worker_id, self.projects or "every project")

    def _start_temporal(self) -> None:
        from workflow_builder.runtime.engines.temporal.worker import TemporalWorkers

        self._temporal = TemporalWorkers(self.worker_id)
        self._temporal.connect()
        self._temporal.serve(self._temporal_queues(), self.settings.worker_drain_seconds)

    def _temporal_queues(self) -> list[str]:
        """The task queues a Temporal worker polls (every project's, when it serves all)."""
        if self.projects is None:
            return [SYSTEM_QUEUE, *(name for _, name in self._project_rows())]
        return self._queues() or []

    def stop(self, drain_seconds: float = 30.0) -> None:
        """Stop taking runs and starting calls, let calls in flight finish (up to
        `drain_seconds`), hand the runs executing here over, mark the worker stopped."""
        self._stop.set()
        if self.temporal:
            self.stop_threads()  # no maintenance pass serves a task queue from here on
            self._temporal.stop()
            self._mark_stopped()
            return
        engine.stop_dequeuing()
        LEASE.revoke()  # no call starts from here on; those in flight finish and are recorded
        deadline = time.monotonic() + drain_seconds
        while engine.calls_in_flight() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.05)  # the last results' writes follow their calls within a few loop turns
        handed = engine.hand_over_local_runs()
        self.stop_threads()
        try:
            self._hand_over()
            self._mark_stopped()
        except Exception:
            log.exception(
                "worker %s could not hand its runs over; another worker will", self.worker_id
            )
        engine.shutdown_worker()
        LEASE.release()
        log.info("worker %s stopped (%d runs handed over)", self.worker_id, len(handed))

    def stop_threads(self) -> None:
        """Stop renewing the lease and maintaining (a pass under way ends first, for a few
        seconds at most); nothing is handed over or marked."""
        self._stop.set()
        for thread in (self._heartbeat, self._maintenance):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=self.settings.heartbeat_seconds + 5)

    def _mark_stopped(self) -> None:
        with system_session() as session:
            session.execute(
                text(
                    """update worker_leases set status = 'stopped', stopped_at = now()
                       where executor_id = :me"""
                ),
                {"me": self.worker_id},
            )
            session.execute(
                text(
                    """update workflow_workers set status = 'stopped', stopped_at = now()
                       where worker_id like :prefix and status = 'running'"""
                ),
                {"prefix": f"{self.worker_id}@%"},
            )

    def _hand_over(self) -> None:
        """Put this executor's unfinished runs back on their task queues."""
        with system_session() as session:
            rows = session.execute(
                text(
                    f"""select workflow_uuid, queue_name
                        from {engine.SYSTEM_SCHEMA}.workflow_status
                        where executor_id = :me and status = 'PENDING' and name = :run"""
                ),
                {"me": self.worker_id, "run": engine.RUN_WORKFLOW},
            ).all()
        _resume(rows)

    # -- the lease --------------------------------------------------------------------------

    def _take_lease(self) -> None:
        with system_session() as session:
            session.execute(
                text(
                    """insert into worker_leases (executor_id) values (:me)
                       on conflict (executor_id) do update set status = 'running',
                         renewed_at = now(), started_at = now(), stopped_at = null"""
                ),
                {"me": self.worker_id},
            )
        if not self.temporal:  # Temporal fences its own workers; the row says who is alive
            LEASE.manage(self._lease_seconds)

    def _renew(self) -> None:
        """Renew the lease; if another worker declared this one dead meanwhile, its runs have
        moved on: stop executing them here and take a new lease."""
        sent = time.monotonic()
        with system_session() as session:
            renewed = session.execute(
                text(
                    """update worker_leases set renewed_at = now()
                       where executor_id = :me and status = 'running' returning 1"""
                ),
                {"me": self.worker_id},
            ).first()
        if renewed is None:
            if not self.temporal:
                log.warning("worker %s was declared dead; dropping its runs here", self.worker_id)
                engine.hand_over_local_runs()
            self._take_lease()
        elif not self.temporal:
            LEASE.renewed(sent, self._lease_seconds)

    # -- registry ---------------------------------------------------------------------------

    def _project_rows(self) -> list[tuple[UUID, str]]:
        with system_session() as session:
            if self.projects is None:
                rows = session.execute(
                    text("select id, task_queue_name from projects where is_active")
                ).all()
            else:
                rows = session.execute(
                    text("select id, task_queue_name from projects where id = any(:ids)"),
                    {"ids": self.projects},
                ).all()
        return [(row.id, row.task_queue_name) for row in rows]

    def _queues(self) -> list[str] | None:
        if self.projects is None:
            return None
        if not self.projects:
            return [SYSTEM_QUEUE]
        rows = self._project_rows()
        missing = set(self.projects) - {project_id for project_id, _ in rows}
        if missing:
            raise ValueError(f"no such project: {', '.join(sorted(map(str, missing)))}")
        return [name for _, name in rows]

    def _register(self, *, status: str, error: str | None = None) -> None:
        """Insert or refresh this worker's row for each project it serves."""
        with system_session() as session:
            for project_id, queue in self._project_rows():
                session.execute(
                    text(
                        """insert into workflow_workers (project_id, worker_id, task_queue_name,
                             status, last_heartbeat_at, error_message)
                           values (:p, :w, :q, :s, now(), :e)
                           on conflict (worker_id) do update set status = excluded.status,
                             last_heartbeat_at = now(), error_message = excluded.error_message,
                             stopped_at = null"""
                    ),
                    {
                        "p": project_id,
                        "w": f"{self.worker_id}@{project_id}",
                        "q": queue,
                        "s": status,
                        "e": error,
                    },
                )

    def _beat(self) -> None:
        """Renew the lease (and, once the engine serves, the registry rows) every heartbeat,
        and nothing else: nothing slow may come between two renewals."""
        while not self._stop.wait(self.settings.heartbeat_seconds):
            try:
                self._renew()
                if self._connected_since is None:
                    self._connected_since = time.monotonic()
                if self._serving.is_set():
                    self._register(status="running")
            except Exception as exc:  # a missed beat is retried at the next one
                self._connected_since = None
                log.warning("worker %s heartbeat failed: %s", self.worker_id, exc)

    def _maintain_often(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_seconds):
            try:
                self.maintain()
            except Exception as exc:  # a failed pass is tried again at the next one
                log.warning("worker %s maintenance failed: %s", self.worker_id, exc)

    # -- recovery ---------------------------------------------------------------------------

    def maintain(self) -> None:
        """One maintenance pass (every heartbeat period, on a thread apart from the lease's):
        declare silent workers dead (once this worker has been connected long enough to
        judge), resume orphaned runs, admit waiting runs, close runs the engine ended. (On
        Temporal, which owns who runs what: declare silent workers dead in the registry, serve
        new projects' task queues, admit waiting runs, start the admitted runs whose start did
        not go through.) On both, fold the runs' counter and statistics deltas."""
        after = self.settings.worker_dead_after_seconds
        connected = self._connected_since
        fold_statistics()
        # The registry says which workers went silent on either engine (on Temporal their runs
        # move on by Temporal's own timeouts; only the rows are ours to mark).
        if connected is not None and time.monotonic() - connected >= after:
            self.declare_dead()
        if self.temporal:
            from workflow_builder.runtime.engines.temporal.client import start_unstarted

            self._temporal.serve(self._temporal_queues(), self.settings.worker_drain_seconds)
            admission.admit_everything_waiting()
            start_unstarted()
            return
        resume_orphans(exclude=self.worker_id)
        admission.admit_everything_waiting()
        reconcile()

    def declare_dead(self) -> list[str]:
        """Mark workers whose lease is older than the dead-after time as dead; return them."""
        with system_session() as session:
            dead = list(
                session.execute(
                    text(
                        """update worker_leases set status = 'dead', stopped_at = now()
                           where status = 'running' and executor_id <> :me
                             and renewed_at < now() - make_interval(secs => :after)
                           returning executor_id"""
                    ),
                    {"me": self.worker_id, "after": self.settings.worker_dead_after_seconds},
                ).scalars()
            )
            for executor_id in dead:
                session.execute(
                    text(
                        """update workflow_workers set status = 'error', stopped_at = now(),
                             error_message = 'no heartbeat for ' ||
                               round(extract(epoch from now() - last_heartbeat_at)) || ' s'
                           where worker_id like :prefix and status = 'running'"""
                    ),
                    {"prefix": f"{executor_id}@%"},
                )
        for executor_id in dead:
            log.warning("worker %s declared dead: its runs move on", executor_id)
        return dead


def _thread(target: Callable[[], None], name: str) -> threading.Thread:
    """Start a daemon thread running `target`; return it."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def resume_orphans(exclude: str | None = None) -> int:
    """Put back on their queues the unfinished runs of executors that hold no lease (stopped,
    dead, or never registered); return how many."""
    with system_session() as session:
        rows = session.execute(
            text(
                f"""select s.workflow_uuid, s.queue_name
                    from {engine.SYSTEM_SCHEMA}.workflow_status s
                    where s.status = 'PENDING' and s.name = :run
                      and s.executor_id is distinct from :me
                      and not exists (select 1 from worker_leases l
                                      where l.executor_id = s.executor_id
                                        and l.status = 'running')"""
            ),
            {"run": engine.RUN_WORKFLOW, "me": exclude},
        ).all()
    _resume(rows)
    return len(rows)


def _resume(rows: Sequence[tuple[str, str | None]]) -> None:
    by_queue: dict[str, list[str]] = defaultdict(list)
    for run_id, queue in rows:
        by_queue[queue or SYSTEM_QUEUE].append(run_id)
    if by_queue:
        engine.DBOS_ENGINE.resume_runs(by_queue)
        log.info("resumed %d runs on their queues", len(rows))


def fold_statistics() -> int:
    """Move the counter and statistics deltas runs recorded into `projects`,
    `workflow_compiled_code` and `activity_statistics` (migration 0061); return how many.
    The API folds before it reads them, so this only keeps the deltas few."""
    from workflow_builder.statistics.service import fold_counters

    with system_session() as session:
        return fold_counters(session)


def reconcile() -> int:
    """Close the runs whose engine workflow ended without the interpreter closing them (an
    engine-level error, or a cancel that reached only the engine); return how many."""
    from workflow_builder.runtime.service import close_execution

    with system_session() as session:
        ended = session.execute(
            text(
                f"""select e.id, s.status from workflow_executions e
                    join {engine.SYSTEM_SCHEMA}.workflow_status s
                      on s.workflow_uuid = e.engine_run_id
                    where e.completed_at is null
                      and s.status in ('CANCELLED', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')"""
            )
        ).all()
        for row in ended:
            if row.status == "CANCELLED":
                close_execution(session, execution_id=row.id, status="canceled", error="canceled")
            else:
                close_execution(
                    session,
                    execution_id=row.id,
                    status="failed",
                    error=f"the engine stopped the run ({row.status})",
                )
    return len(ended)
