"""Durability under faults, with real processes: a PostgreSQL server of this module's own that
goes away and comes back, worker processes stopped with SIGTERM and killed with SIGKILL, and a
loopback HTTP service that counts every call the runs make.

The promises: a run never depends on one worker process coming back; it never fails because
the database blinked; a call runs again only when it was in flight at a worker's death; and the
history always shows the call that really counted.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.pgserver import PrivateServer
from tests.runtime.conftest import Peer
from tests.runtime.stack import HttpApi, Stack
from tests.support import unique

pytestmark = [pytest.mark.slow]


@pytest.fixture
def stack(server: PrivateServer) -> Iterator[Stack]:
    running = Stack(server)
    yield running
    running.close()


def counted_chain(peer: Peer, tag: str, nodes: list[str], seconds: float) -> dict[str, Any]:
    """A workflow calling the peer once per node, with a key of its own per run and node; its
    output is what each call answered (the peer's count for that key when it answered)."""
    calls = [
        {
            "id": node,
            "type": "activity",
            "component": {"name": "http_request"},
            "config": {
                "method": "GET",
                "url": f"{peer.url}/slow/{tag}-{{run}}-{node}?seconds={seconds}",
                "timeout_seconds": 60,
            },
            "input": {"path_params": "{run: input.run}"},
        }
        for node in nodes
    ]
    ids = ["start", *nodes, "done"]
    return {
        "nodes": [
            {
                "id": "start",
                "type": "trigger",
                "config": {"kind": "manual", "input_schema": {"type": "object"}},
            },
            *calls,
            {
                "id": "done",
                "type": "end",
                "config": {
                    "output": "{"
                    + ", ".join(f"{n}: nodes.{n}.output.body.count" for n in nodes)
                    + "}"
                },
            },
        ],
        "edges": [{"id": f"{a}-{b}", "source": a, "target": b} for a, b in itertools.pairwise(ids)],
    }


def check_histories(
    api: HttpApi, peer: Peer, tag: str, runs: dict[str, str], nodes: list[str]
) -> dict[str, int]:
    """Assert every run completed and its history shows, for each call, the answer of the
    call the peer counted last; return how many times each call key reached the peer."""
    counts: dict[str, int] = {}
    for run, execution_id in runs.items():
        body = api.wait(execution_id, timeout=240)
        steps = {s["node_id"]: s for s in body["steps"]}
        assert body["status"] == "completed", (
            body["status"],
            body.get("error"),
            {n: (s["status"], s.get("error")) for n, s in steps.items()},
        )
        for node in nodes:
            key = f"{tag}-{run}-{node}"
            counts[key] = peer.count(key)
            step = steps[node]
            assert step["status"] == "completed", step
            assert step["outputs"]["body"]["count"] == counts[key], (key, step)
            assert body["outputs"][node] == counts[key], (key, body["outputs"])
    return counts


def test_an_outage_longer_than_dead_after_fails_no_run_and_repeats_no_call(
    stack: Stack, server: PrivateServer, peer: Peer
) -> None:
    api = stack.sign_up()
    stack.start_worker()
    stack.start_worker()
    tag = unique("outage")
    nodes = ["a", "b", "c"]
    workflow_id = api.deploy(counted_chain(peer, tag, nodes, 0.3))
    runs = {str(n): api.start(workflow_id, {"run": str(n)}) for n in range(16)}
    deadline = time.monotonic() + 60
    while not any(k.startswith(tag) for k, _, _ in list(peer.calls)):
        assert time.monotonic() < deadline, "no call started"
        time.sleep(0.05)
    server.stop("fast")
    time.sleep(5)  # longer than the workers' dead-after time (3 s)
    server.start()
    counts = check_histories(api, peer, tag, runs, nodes)
    # No worker died: no call ran twice.
    assert counts == dict.fromkeys(counts, 1)


def test_a_blip_in_the_middle_of_runs_fails_none(
    stack: Stack, server: PrivateServer, peer: Peer
) -> None:
    api = stack.sign_up()
    stack.start_worker()
    tag = unique("blip")
    nodes = ["a", "b"]
    workflow_id = api.deploy(counted_chain(peer, tag, nodes, 0.2))
    runs = {str(n): api.start(workflow_id, {"run": str(n)}) for n in range(10)}
    time.sleep(0.5)
    server.stop("immediate")  # like a crash: every connection cut at once
    time.sleep(2)
    server.start()
    counts = check_histories(api, peer, tag, runs, nodes)
    assert counts == dict.fromkeys(counts, 1)


def test_killed_workers_repeat_only_the_calls_in_flight_and_every_run_completes(
    stack: Stack, peer: Peer
) -> None:
    api = stack.sign_up()
    stack.start_worker()
    stack.start_worker()
    tag = unique("crash")
    nodes = ["a", "b"]
    workflow_id = api.deploy(counted_chain(peer, tag, nodes, 0.2))
    runs = {str(n): api.start(workflow_id, {"run": str(n)}) for n in range(200)}
    kills: list[float] = []
    for _ in range(4):
        time.sleep(2.5)
        victim = next(w for w in stack.workers if w.alive())
        kills.append(time.time())
        victim.kill()
        stack.start_worker(wait=False)
    counts = check_histories(api, peer, tag, runs, nodes)
    repeated = {key for key, count in counts.items() if count > 1}
    assert all(count <= 2 for count in counts.values())
    # A call ran again only if its first attempt was in flight (arrived at the peer, its
    # result not yet recorded) when a worker was killed.
    first_arrival = {}
    for key, arrived, _ in sorted(peer.calls, key=lambda c: c[1]):
        first_arrival.setdefault(key, arrived)
    for key in repeated:
        assert any(first_arrival[key] <= killed for killed in kills), key


def test_sigterm_the_moment_a_worker_registers_still_drains_and_stops_it(
    stack: Stack, server: PrivateServer
) -> None:
    stack.sign_up()
    worker = stack.start_worker(wait=False)
    deadline = time.monotonic() + 120
    with psycopg.connect(stack.url, autocommit=True) as conn:
        query = "select count(*) from worker_leases where status = 'running'"
        while not conn.execute(query).fetchone()[0]:  # type: ignore[index]
            assert worker.alive() and time.monotonic() < deadline, worker.output()
            time.sleep(0.002)
    worker.signal(signal.SIGTERM)  # while it may still be finishing its start
    assert worker.wait(timeout=60) == 0, worker.output()
    with psycopg.connect(stack.url, autocommit=True) as conn:
        status = conn.execute("select status from worker_leases").fetchall()
    assert status == [("stopped",)]


def test_sigterm_hands_waiting_runs_to_workers_started_later(
    stack: Stack, server: PrivateServer
) -> None:
    api = stack.sign_up()
    first = stack.start_worker()
    waits = api.deploy(
        {
            "signals": [{"name": "go"}],
            "work_queues": [{"name": "jobs"}],
            "nodes": [
                {"id": "start", "type": "trigger", "config": {"kind": "manual"}},
                {"id": "signal", "type": "wait_for_signal", "config": {"signal": "go"}},
                {
                    "id": "item",
                    "type": "work_queue",
                    "config": {"queue": "jobs", "operation": "wait_for_item"},
                },
                {"id": "timer", "type": "delay", "config": {"seconds": 6}},
                {
                    "id": "done",
                    "type": "end",
                    "config": {"output": "[nodes.signal.output.payload, nodes.item.output.item]"},
                },
            ],
            "edges": [
                {"id": "e1", "source": "start", "target": "signal"},
                {"id": "e2", "source": "start", "target": "item"},
                {"id": "e3", "source": "start", "target": "timer"},
                {"id": "e4", "source": "signal", "target": "done"},
                {"id": "e5", "source": "item", "target": "done"},
                {"id": "e6", "source": "timer", "target": "done"},
            ],
        }
    )
    runs = [api.start(waits) for _ in range(3)]
    for run in runs:
        api.wait_for_step(run, "timer", "waiting")
        api.wait_for_step(run, "signal", "waiting")
    first.signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0, first.output()
    with psycopg.connect(stack.url, autocommit=True) as conn:
        status = conn.execute("select status from worker_leases").fetchall()
    assert status == [("stopped",)]
    stack.start_worker()  # a new worker, with an id of its own
    with psycopg.connect(stack.url, autocommit=True) as conn:
        row = conn.execute(
            "select started_at from worker_leases where status = 'running'"
        ).fetchone()
    assert row is not None
    resumed_from = row[0]
    for index, run in enumerate(runs):
        api.call("POST", f"/executions/{run}/signals/go", 202, json={"n": index})
        api.call("POST", f"/executions/{run}/work-queues/jobs/items", 201, json={"item": index})
    for index, run in enumerate(runs):
        body = api.wait(run, timeout=60)
        assert body["status"] == "completed", body
        assert body["outputs"] == [{"n": index}, index]
        # The timer kept its wake-up time across the hand-over (it did not start again).
        timer = next(s for s in body["steps"] if s["node_id"] == "timer")
        due = datetime.fromisoformat(timer["started_at"]) + timedelta(seconds=6)
        fired = datetime.fromisoformat(timer["completed_at"])
        assert fired - max(due, resumed_from) < timedelta(seconds=4), (timer, resumed_from)


def test_signals_and_items_sent_before_a_run_starts_are_delivered(stack: Stack) -> None:
    api = stack.sign_up()
    stack.start_worker()
    workflow_id = api.deploy(
        {
            "signals": [{"name": "go"}],
            "work_queues": [{"name": "jobs"}],
            "nodes": [
                {"id": "start", "type": "trigger", "config": {"kind": "manual"}},
                {"id": "signal", "type": "wait_for_signal", "config": {"signal": "go"}},
                {
                    "id": "item",
                    "type": "work_queue",
                    "config": {"queue": "jobs", "operation": "wait_for_item"},
                },
                {
                    "id": "done",
                    "type": "end",
                    "config": {"output": "[nodes.signal.output.payload, nodes.item.output.item]"},
                },
            ],
            "edges": [
                {"id": "e1", "source": "start", "target": "signal"},
                {"id": "e2", "source": "signal", "target": "item"},
                {"id": "e3", "source": "item", "target": "done"},
            ],
        },
        max_concurrent_executions=1,
    )
    first = api.start(workflow_id)
    api.wait_for_step(first, "signal", "waiting")
    second = api.start(workflow_id)  # waits for admission behind the first
    assert api.execution(second)["status"] == "pending"
    api.call("POST", f"/executions/{second}/signals/go", 202, json={"early": True})
    api.call("POST", f"/executions/{second}/work-queues/jobs/items", 201, json={"item": "early"})
    api.call("POST", f"/executions/{first}/signals/go", 202, json={"early": False})
    api.call("POST", f"/executions/{first}/work-queues/jobs/items", 201, json={"item": "first"})
    assert api.wait(first)["outputs"] == [{"early": False}, "first"]
    assert api.wait(second)["outputs"] == [{"early": True}, "early"]


def test_parallel_branches_run_at_once(stack: Stack, peer: Peer) -> None:
    api = stack.sign_up()
    stack.start_worker()
    group = unique("fanout")
    branches = ["a", "b", "c"]
    workflow_id = api.deploy(
        {
            "nodes": [
                {"id": "start", "type": "trigger", "config": {"kind": "manual"}},
                *[
                    {
                        "id": b,
                        "type": "activity",
                        "component": {"name": "http_request"},
                        "config": {"url": f"{peer.url}/slow/{group}-{b}?seconds=1&group={group}"},
                    }
                    for b in branches
                ],
                {"id": "join", "type": "join"},
                {"id": "done", "type": "end"},
            ],
            "edges": [
                *[{"id": f"s-{b}", "source": "start", "target": b} for b in branches],
                *[{"id": f"{b}-j", "source": b, "target": "join"} for b in branches],
                {"id": "j-d", "source": "join", "target": "done"},
            ],
        }
    )
    run = api.wait(api.start(workflow_id))
    assert run["status"] == "completed", run
    assert peer.max_inflight[group] == 3
    steps = {s["node_id"]: s for s in run["steps"]}
    first = min(steps[b]["started_at"] for b in branches)
    assert steps["join"]["completed_at"] > first
    spans = [(a, e) for k, a, e in peer.calls if k.startswith(group)]
    assert max(e for _, e in spans) - min(a for a, _ in spans) < 1.5
