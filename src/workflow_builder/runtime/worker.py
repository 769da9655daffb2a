"""A worker process: serves its projects' task queues, registers itself in workflow_workers,
heartbeats, resumes the runs of workers that went silent, and drains on SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import text

from workflow_builder.config import Settings, get_settings
from workflow_builder.db import get_database, system_session
from workflow_builder.executions.tracking import execution_finished
from workflow_builder.runtime import engine
from workflow_builder.runtime.coordination import mark_interrupted, wake

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
        # only; an empty list: only the system queues, for workflows outside any project.
        self.projects = list(projects) if projects is not None else None
        self.worker_id = self.settings.worker_id or default_worker_id()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Launch the engine for this worker's queues and start heartbeating."""
        url = get_database().url
        try:
            engine.migrate_engine(url)
            engine.launch_worker(url, executor_id=self.worker_id, queues=self._queues())
        except Exception as exc:
            self._register(status="error", error=f"{type(exc).__name__}: {exc}")
            raise
        self._register(status="running")
        self.reap()
        reconcile()
        self._heartbeat = threading.Thread(target=self._beat, name="wfb-heartbeat", daemon=True)
        self._heartbeat.start()
        log.info("worker %s serving %s", self.worker_id, self.projects or "every project")

    def stop(self, drain_seconds: float = 30.0) -> None:
        """Stop taking work, let running steps finish (up to `drain_seconds`), mark stopped."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=self.settings.heartbeat_seconds + 5)
        engine.shutdown_worker(drain_seconds)
        with system_session() as session:
            session.execute(
                text(
                    """update workflow_workers set status = 'stopped', stopped_at = now()
                       where worker_id like :prefix and status = 'running'"""
                ),
                {"prefix": f"{self.worker_id}@%"},
            )
        log.info("worker %s stopped", self.worker_id)

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
            return [SYSTEM_QUEUE, engine.admission_queue(SYSTEM_QUEUE)]
        rows = self._project_rows()
        missing = set(self.projects) - {project_id for project_id, _ in rows}
        if missing:
            raise ValueError(f"no such project: {', '.join(sorted(map(str, missing)))}")
        return [q for _, name in rows for q in (name, engine.admission_queue(name))]

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
        while not self._stop.wait(self.settings.heartbeat_seconds):
            try:
                self._register(status="running")
                self.reap()
                reconcile()
            except Exception:  # a missed beat is retried at the next one
                log.exception("worker heartbeat failed")

    # -- recovery ---------------------------------------------------------------------------

    def reap(self) -> list[str]:
        """Resume the pending runs of workers silent for too long; return their ids.

        The update claims each dead worker's rows once, so one live worker resumes its runs.
        """
        with system_session() as session:
            dead = (
                session.execute(
                    text(
                        """update workflow_workers set status = 'error', stopped_at = now(),
                         error_message = 'no heartbeat for ' ||
                           round(extract(epoch from now() - last_heartbeat_at)) || ' s'
                       where status = 'running'
                         and last_heartbeat_at < now() - make_interval(secs => :after)
                         and worker_id not like :mine
                       returning split_part(worker_id, '@', 1)"""
                    ),
                    {
                        "after": self.settings.worker_dead_after_seconds,
                        "mine": f"{self.worker_id}@%",
                    },
                )
                .scalars()
                .all()
            )
        executors = sorted(set(dead))
        if executors:
            client = engine.client()
            for workflow in client.list_workflows(
                status="PENDING", executor_id=executors, load_input=False, load_output=False
            ):
                client.resume_workflow(workflow.workflow_id)
                log.warning("resumed run %s of dead worker", workflow.workflow_id)
        return executors


def reconcile() -> int:
    """Close the runs the engine ended without the interpreter closing them (a run cancelled
    by its deadline while it waited, or an engine-level error); return how many."""
    with system_session() as session:
        ended = session.execute(
            text(
                f"""select e.id, e.engine_run_id, s.status, c.workflow_code
                    from workflow_executions e
                    join workflow_compiled_code c on c.id = e.compiled_code_id
                    join {engine.SYSTEM_SCHEMA}.workflow_status s
                      on s.workflow_uuid = e.engine_run_id
                    where e.status in ('pending', 'running')
                      and s.status in ('CANCELLED', 'ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')"""
            )
        ).all()
    for row in ended:
        if row.status == "CANCELLED":
            mark_interrupted(str(row.id))
            wake(row.engine_run_id, json.loads(row.workflow_code))
        else:
            with system_session() as session:
                execution_finished(
                    session,
                    execution_id=row.id,
                    status="failed",
                    error=f"the engine stopped the run ({row.status})",
                )
    return len(ended)
