"""A task queue's max_concurrent_activities holds across worker processes."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import psycopg
import pytest

from tests.runtime.conftest import Api, Peer, WorkerProcess, call, trigger
from tests.support import unique
from workflow_builder.db import Database


def _hold(url: str, queue: str, limit: int, seconds: float, spans: Any, ready: Any) -> None:
    from workflow_builder.db import Database, set_database
    from workflow_builder.runtime.slots import activity_slot

    set_database(Database(url))
    ready.wait(timeout=180)  # every process asks for a slot at the same moment
    with activity_slot(queue, limit, timeout=30):
        started = time.time()
        time.sleep(seconds)
        spans.put((started, time.time()))


class _SlowToDie:
    """Keeps a process in its interpreter teardown, where no daemon thread runs any more."""

    def __del__(self) -> None:
        time.sleep(10)


_DYING: list[_SlowToDie] = []


def _give_back_and_die_slowly(url: str, queue: str, given_back: Any) -> None:
    from workflow_builder.db import Database, set_database
    from workflow_builder.runtime.slots import activity_slot

    set_database(Database(url))
    with activity_slot(queue, 1, timeout=30):
        pass
    _DYING.append(_SlowToDie())  # torn down with this module, after the process began to exit
    given_back.set()  # the slot now lingers with this process; the process exits at once


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


@pytest.mark.parametrize(("limit", "processes"), [(1, 3), (2, 4)])
def test_slots_are_shared_by_separate_processes(db: Database, limit: int, processes: int) -> None:
    context = multiprocessing.get_context("spawn")
    spans = context.Queue()
    ready = context.Barrier(processes)
    queue = unique("slots")
    workers = [
        context.Process(target=_hold, args=(db.url, queue, limit, 0.4, spans, ready))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)  # spawned processes import the product first: slow under load
        assert worker.exitcode == 0
    recorded = [spans.get(timeout=5) for _ in range(processes)]
    assert _most_at_once(recorded) == limit


@pytest.mark.slow
def test_max_concurrent_activities_bounds_a_concurrent_for_each(
    api: Api, peer: Peer, db: Database, workers: list[WorkerProcess]
) -> None:
    project = api.call("POST", "/projects", 201, json={"name": unique("slots")}).json()
    queues = api.call("GET", "/task-queues?limit=200", 200).json()["items"]
    [queue] = [q for q in queues if q["name"] == project["task_queue_name"]]
    api.call("PATCH", f"/task-queues/{queue['id']}", 200, json={"max_concurrent_activities": 1})
    group = unique("group")
    definition = {
        "nodes": [
            trigger(),
            {"id": "each", "type": "for_each", "config": {"items": "input.n", "concurrency": 3}},
            call("slow", f"{peer.url}/slow/{unique('s')}?seconds=0.5&group={group}", input={}),
            {"id": "done", "type": "end", "config": {"output": "nodes.each.output.count"}},
        ],
        "edges": [
            {"id": "a", "source": "start", "target": "each"},
            {"id": "b", "source": "each", "target": "slow", "source_handle": "body"},
            {"id": "c", "source": "slow", "target": "each", "target_handle": "back"},
            {"id": "d", "source": "each", "target": "done", "source_handle": "done"},
        ],
    }
    workflow_id = api.deploy(definition, project_id=project["id"])
    worker = WorkerProcess(db, project["id"], unique("slots"))
    workers.append(worker)
    run = api.wait(api.start(workflow_id, {"n": [1, 2, 3]}), timeout=60)
    assert run["status"] == "completed", run
    assert run["outputs"] == 3
    assert peer.max_inflight[group] == 1


def test_a_process_on_its_way_out_gives_its_slots_back_at_once(db: Database) -> None:
    context = multiprocessing.get_context("spawn")
    given_back = context.Event()
    queue = unique("exit")
    dying = context.Process(target=_give_back_and_die_slowly, args=(db.url, queue, given_back))
    dying.start()
    assert given_back.wait(timeout=120)
    waited = time.monotonic()
    with psycopg.connect(db.url, autocommit=True) as conn:
        take = "select pg_try_advisory_lock(hashtext(%s), 0)"
        while not conn.execute(take, (queue,)).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() - waited < 8, "the exiting process kept its slot"
            time.sleep(0.05)
    dying.join(timeout=60)
    assert dying.exitcode == 0


def _advisory_locks(db: Database, pid: int) -> int:
    with psycopg.connect(db.url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and pid = %s", (pid,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_slot_lingers_for_the_next_call_then_is_released(db: Database) -> None:
    from workflow_builder.runtime import slots

    queue = unique("linger")
    with slots.activity_slot(queue, 5, timeout=5) as first:
        pid = slots._holder._connection.info.backend_pid  # type: ignore[union-attr]
    # Given back, but still held for this process's next call: no other slot is taken.
    with slots.activity_slot(queue, 5, timeout=5) as second:
        assert second == first
        assert _advisory_locks(db, pid) == 1
    deadline = time.monotonic() + 5
    while _advisory_locks(db, pid) and time.monotonic() < deadline:
        time.sleep(slots.LINGER_SECONDS)
    assert _advisory_locks(db, pid) == 0


def test_a_lingering_slot_beyond_a_lowered_limit_is_not_reused(db: Database) -> None:
    from workflow_builder.runtime import slots

    queue = unique("linger")
    with (
        slots.activity_slot(queue, 3, timeout=5),
        slots.activity_slot(queue, 3, timeout=5),
        slots.activity_slot(queue, 3, timeout=5) as third,
    ):
        assert third == 2
    # Slots 0-2 linger; with the limit now 1 only slot 0 may be used.
    with slots.activity_slot(queue, 1, timeout=5) as slot:
        assert slot == 0


def _lockable(db: Database, queue: str, limit: int) -> list[int]:
    """Return the slots of `queue` another session can take now (and gives back at once)."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        rows = conn.execute(
            "select s from generate_series(0, %(n)s - 1) s "
            "where pg_try_advisory_lock(hashtext(%(q)s), s)",
            {"n": limit, "q": queue},
        ).fetchall()
    return [int(row[0]) for row in rows]


def test_every_slot_is_released_after_many_overlapping_calls(db: Database) -> None:
    """A process taking a slot while it holds others never locks one it holds a second time
    (a session's advisory locks are re-entrant: one release would leave it locked forever)."""
    from workflow_builder.runtime import slots

    queue = unique("reentrant")
    # Enough takes for the statement to be prepared and planned generically.
    for _ in range(12):
        with (
            slots.activity_slot(queue, 6, timeout=5),
            slots.activity_slot(queue, 6, timeout=5),
            slots.activity_slot(queue, 6, timeout=5),
        ):
            pass
        time.sleep(slots.LINGER_SECONDS * 3)
    deadline = time.monotonic() + 10
    while (free := _lockable(db, queue, 6)) != list(range(6)) and time.monotonic() < deadline:
        time.sleep(slots.LINGER_SECONDS)
    assert free == list(range(6))


def test_calls_of_one_process_arriving_together_get_distinct_slots(db: Database) -> None:
    """Calls asking at once share round trips (one asks for every waiting call); each still
    gets a slot of its own, never more than the limit at once, and all are released after."""
    import threading

    from workflow_builder.runtime import slots

    queue = unique("together")
    limit = 4
    start = threading.Barrier(10)
    lock = threading.Lock()
    using: set[int] = set()
    shared: list[int] = []
    most = [0]

    def one() -> None:
        start.wait(timeout=30)
        with slots.activity_slot(queue, limit, timeout=30) as slot:
            with lock:
                if slot in using:
                    shared.append(slot)
                using.add(slot)
                most[0] = max(most[0], len(using))
            time.sleep(0.05)
            with lock:
                using.discard(slot)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not shared
    assert most[0] == limit
    deadline = time.monotonic() + 10
    while (free := _lockable(db, queue, limit)) != list(range(limit)) and (
        time.monotonic() < deadline
    ):
        time.sleep(slots.LINGER_SECONDS)
    assert free == list(range(limit))


def test_a_lost_slot_connection_does_not_fail_the_call(db: Database) -> None:
    """The database blinking (here: the process's slot connection cut) makes a call wait for
    its slot, not fail."""
    from workflow_builder.runtime import slots

    queue = unique("blink")
    with slots.activity_slot(queue, 2, timeout=5):
        pid = slots._holder._connection.info.backend_pid  # type: ignore[union-attr]
    deadline = time.monotonic() + 5
    while _advisory_locks(db, pid) and time.monotonic() < deadline:
        time.sleep(slots.LINGER_SECONDS)
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(%s)", (pid,))
    with slots.activity_slot(queue, 2, timeout=5) as slot:
        assert slot == 0
