"""A worker's lease is renewed on time from the moment it is taken, whatever else the worker
is busy with: starting its engine (which takes seconds on a loaded machine) or a slow
maintenance pass (serving a new project's task queue, folding statistics behind a lock).

A lease that lapses makes a live worker look dead: `wfb_workers_live` drops, other workers
mark its registry rows as failed and, on DBOS, take its runs over.

In process, against the test database: the engine's start and the maintenance pass are
replaced by slow stand-ins (the fault injected); the lease, its thread and the database are
real. The Temporal settings keep the worker off the process-wide DBOS lease that the
session's own worker holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from tests.support import unique
from workflow_builder.config import Settings
from workflow_builder.db import Database, system_session
from workflow_builder.runtime.worker import Worker

HEARTBEAT = 0.2
DEAD_AFTER = 1.0
SLOW = 3 * DEAD_AFTER


def lease_age(worker_id: str) -> float | None:
    """Seconds since the worker's lease was last renewed (None before it has one)."""
    with system_session() as session:
        age = session.execute(
            text(
                """select extract(epoch from clock_timestamp() - renewed_at)
                   from worker_leases where executor_id = :me and status = 'running'"""
            ),
            {"me": worker_id},
        ).scalar()
    return None if age is None else float(age)


def oldest_lease_while(worker_id: str, busy: threading.Event) -> float:
    """The largest lease age seen while `busy` is set (it must be set already)."""
    oldest = 0.0
    while busy.is_set():
        age = lease_age(worker_id)
        if age is not None:
            oldest = max(oldest, age)
        time.sleep(0.05)
    return oldest


@pytest.fixture
def worker(db: Database) -> Iterator[Worker]:
    running = Worker(
        [],
        settings=Settings(
            engine="temporal",
            heartbeat_seconds=HEARTBEAT,
            worker_dead_after_seconds=DEAD_AFTER,
            worker_id=unique("lease"),
        ),
    )
    yield running
    running.stop_threads()
    with system_session() as session:
        session.execute(
            text("delete from worker_leases where executor_id = :me"), {"me": running.worker_id}
        )


def test_the_lease_is_renewed_while_the_engine_starts(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    starting = threading.Event()

    def slow_start() -> None:
        starting.set()
        time.sleep(SLOW)
        starting.clear()

    monkeypatch.setattr(worker, "_start_temporal", slow_start)
    monkeypatch.setattr(worker, "maintain", lambda: None)
    thread = threading.Thread(target=worker.start)
    thread.start()
    assert starting.wait(10)
    oldest = oldest_lease_while(worker.worker_id, starting)
    thread.join(10)
    assert oldest < DEAD_AFTER, f"the lease went {oldest:.2f} s unrenewed during the start"


def test_a_slow_maintenance_pass_does_not_hold_the_lease_back(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "_start_temporal", lambda: None)
    busy = threading.Event()
    passes = 0

    def slow_pass() -> None:
        nonlocal passes
        passes += 1
        if passes == 2:  # the first pass is the start's; the second the maintenance thread's
            busy.set()
            time.sleep(SLOW)
            busy.clear()

    monkeypatch.setattr(worker, "maintain", slow_pass)
    worker.start()
    deadline = time.monotonic() + 10
    while not busy.is_set():
        assert time.monotonic() < deadline, "no maintenance pass after the start"
        time.sleep(0.01)
    oldest = oldest_lease_while(worker.worker_id, busy)
    assert oldest < DEAD_AFTER, f"the lease went {oldest:.2f} s unrenewed during maintenance"
    # And maintenance goes on after the slow pass.
    deadline = time.monotonic() + 10
    while passes < 4:
        assert time.monotonic() < deadline, f"maintenance stopped after {passes} passes"
        time.sleep(0.05)
