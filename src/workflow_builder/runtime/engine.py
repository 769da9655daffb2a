"""The only module that configures DBOS: launching a worker, and the client the API uses.

Every process of one installation shares the application name and the application version,
which is the interpreter's compatibility version, not a build hash: restarts and upgrades
that keep the interpreter compatible never strand runs waiting on a signal or a timer.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any

from dbos import DBOS, DBOSClient

from workflow_builder.compiler import INTERPRETER_VERSION
from workflow_builder.db import Database, get_database

log = logging.getLogger(__name__)

APP_NAME = "workflow-builder"
APP_VERSION = INTERPRETER_VERSION.replace("/", "-")
SYSTEM_SCHEMA = "dbos"
# Connections of the engine's own pool in a worker process (its steps' checkpoints, queues).
ENGINE_POOL_SIZE = 16
# How often a worker looks for new work on a queue: the floor of a run's start latency.
QUEUE_POLLING_SECONDS = 0.05

_launch_lock = threading.Lock()
_launched_url: str | None = None


def migrate_engine(url: str) -> None:
    """Create or upgrade the engine's own schema (`dbos`) in the product's database.

    `service_role` gets access to it, so that system work can enqueue a run in the same
    transaction that records it.
    """
    DBOS.migrate(url, schema=SYSTEM_SCHEMA, application_role="service_role")


def launch_worker(url: str, *, executor_id: str, queues: list[str] | None = None) -> None:
    """Start the engine in this process as worker `executor_id`.

    `queues` restricts which task queues it serves (None: all of them, present and future).
    """
    global _launched_url
    with _launch_lock:
        if _launched_url is not None:
            if _launched_url != url:
                raise RuntimeError("this process already runs a worker for another database")
            return
        from workflow_builder.runtime import interpreter  # noqa: F401  (registers workflows)

        config: Any = {
            "name": APP_NAME,
            "system_database_url": url,
            "dbos_system_schema": SYSTEM_SCHEMA,
            "executor_id": executor_id,
            "application_version": APP_VERSION,
            "run_migrations": True,
            "max_executor_threads": 256,
            "sys_db_pool_size": ENGINE_POOL_SIZE,
            # No ping per checkout (a round trip on every engine read and write): the engine
            # retries its operations on a lost connection, and recycled connections are fresh.
            "db_engine_kwargs": {"pool_pre_ping": False, "pool_recycle": 1800},
            "scheduler_polling_interval_sec": 5.0,
            "notification_listener_polling_interval_sec": 0.2,
        }
        DBOS(config=config)
        if queues is not None:
            DBOS.listen_queues(queues)
        DBOS.launch()
        _launched_url = url
        log.info("engine worker %s launched (version %s)", executor_id, APP_VERSION)


def shutdown_worker(timeout_seconds: float = 0) -> None:
    """Stop the engine in this process; unfinished runs stay durable for another worker."""
    global _launched_url
    with _launch_lock:
        if _launched_url is None:
            return
        DBOS.destroy(workflow_completion_timeout_sec=int(timeout_seconds))
        _launched_url = None


def worker_running() -> bool:
    """Return whether this process runs an engine worker."""
    return _launched_url is not None


def client() -> DBOSClient:
    """Return the engine client of the process's database: enqueue, send, events, cancel,
    resume and fork, with or without a worker in this process."""
    return _client(get_database())


@lru_cache(maxsize=4)
def _client(database: Database) -> DBOSClient:
    return DBOSClient(
        system_database_engine=database.engine,
        application_name=APP_NAME,
        dbos_system_schema=SYSTEM_SCHEMA,
    )


def schedule_name(schedule_id: str) -> str:
    """Return the engine's name for a workflow_scheduled_workflows row."""
    return f"wfb-schedule-{schedule_id}"


def admission_queue(task_queue: str) -> str:
    """Return the name of the queue that admits runs of `task_queue`'s workflows."""
    return f"{task_queue}:admission"
