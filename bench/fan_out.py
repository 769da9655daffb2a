"""B8: parallel fan-out. Ten component calls of 0.5 s on parallel branches into a join, from
the start request to the completed run; beside a hand-written DBOS workflow running as many
0.5 s steps at once (`asyncio.gather`), on the same PostgreSQL server in the same invocation."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

import psycopg

from bench import dbos_peer
from bench.costs import Cost, Meter, database_name
from bench.harness import (
    ROOT,
    TERMINAL,
    Spread,
    machine,
    progress,
    quick,
    server_url,
    stack,
    update_docs,
)

SECTION = "B8 — parallel fan-out"
TARGET_SECONDS = 0.7


def _settings() -> tuple[int, float, int]:
    """Return (branches, seconds per call, timed runs)."""
    return (3, 0.2, 2) if quick() else (10, 0.5, 7)


def fan_out_definition(branches: int, seconds: float) -> dict[str, Any]:
    """Return a definition: a trigger, `branches` sleeping calls in parallel, a join, an end."""
    names = [f"call{index}" for index in range(branches)]
    return {
        "format_version": 1,
        "nodes": [
            {"id": "start", "type": "trigger", "config": {"kind": "manual"}},
            *[
                {
                    "id": name,
                    "type": "activity",
                    "component": {"name": "bench-sleep"},
                    "config": {"seconds": seconds},
                }
                for name in names
            ],
            {"id": "join", "type": "join"},
            {"id": "end", "type": "end", "config": {}},
        ],
        "edges": [
            *[{"id": f"s-{n}", "source": "start", "target": n} for n in names],
            *[{"id": f"{n}-j", "source": n, "target": "join"} for n in names],
            {"id": "j-e", "source": "join", "target": "end"},
        ],
    }


def measure_product(branches: int, seconds: float, runs: int) -> tuple[Spread, Cost]:
    """Return the seconds of each run (HTTP start -> completed) and the cost of them all."""
    with stack() as running:
        api = running.sign_up()
        project = api.project("b8")
        api.component("bench-sleep", "sleep")
        api.limit_queue(project, 100, 100)
        worker = running.start_worker(project["id"])
        workflow_id = api.deploy(fan_out_definition(branches, seconds), project)
        samples: list[float] = []
        with psycopg.connect(running.database_url, autocommit=True) as conn:
            polls = [0]

            def one() -> float:
                started = time.perf_counter()
                execution_id = api.start(workflow_id)
                query = "select status from workflow_executions where id = %s"
                while True:
                    row = conn.execute(query, (execution_id,)).fetchone()
                    polls[0] += 1
                    if row and row[0] in TERMINAL:
                        break
                    time.sleep(0.002)
                if row[0] != "completed":
                    raise RuntimeError(f"run {execution_id} ended {row[0]}")
                return time.perf_counter() - started

            one()  # warm-up
            meter = Meter(
                server_url(),
                [database_name(running.database_url)],
                {"workers": lambda: [worker.pid]},
            )

            def window() -> None:
                for index in range(runs):
                    samples.append(one())
                    progress(f"B8 product: run {index + 1}/{runs}: {samples[-1]:.3f} s")

            polls[0] = 0
            cost = meter.measure(window)
    return Spread.of(samples), replace(cost, commits=max(0.0, cost.commits - polls[0]))


def measure_peer(branches: int, seconds: float, runs: int) -> tuple[Spread, Cost, Spread | None]:
    """Return the peer's seconds through a queue (enqueue -> done) with their cost, and its
    seconds started directly in its own process."""
    queue = "peer-fan-out"
    samples: list[float] = []
    with dbos_peer.peer_database("wfb_bench_dbos_b8") as url:
        with dbos_peer.peer_workers(url, 1, {queue: 100}) as workers:
            client = dbos_peer.PeerClient(url)
            try:

                def one() -> float:
                    started = time.perf_counter()
                    status = client.run("peer_fan_out", queue, branches, seconds)
                    if status != "SUCCESS":
                        raise RuntimeError(f"peer run ended {status}")
                    return time.perf_counter() - started

                one()  # warm-up
                meter = Meter(
                    server_url(), [database_name(url)], {"workers": lambda: [workers[0].pid]}
                )

                def window() -> None:
                    for index in range(runs):
                        samples.append(one())
                        progress(f"B8 DBOS peer: run {index + 1}/{runs}: {samples[-1]:.3f} s")

                client.polls = 0
                cost = meter.measure(window)
                cost = replace(cost, commits=max(0.0, cost.commits - client.polls))
            finally:
                client.close()
        if quick():
            # The smoke run's peer database is shared with a running peer worker.
            return Spread.of(samples), cost, None
        sizes = [str(branches), str(seconds), str(runs)]
        result = subprocess.run(
            [sys.executable, "-m", "bench.dbos_peer", "fanout", url, *sizes],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"the direct DBOS fan-out failed:\n{result.stderr[-3000:]}")
    direct = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
    return Spread.of(samples), cost, Spread.of(direct)


def section(
    branches: int,
    seconds: float,
    product: Spread,
    cost: Cost,
    peer: Spread,
    peer_cost: Cost,
    direct: Spread | None,
    where: str,
) -> str:
    """Return the Markdown section."""
    ours, theirs = cost.per_run(product.count), peer_cost.per_run(peer.count)

    def row(label: str, a: float, b: float) -> str:
        return (
            f"| {label} | {a:.2f} | {b:.2f} | {a / b:.2f}x |"
            if b
            else f"| {label} | {a:.2f} | {b:.2f} | n/a |"
        )

    met = "met" if product.median <= TARGET_SECONDS else "missed"
    versus = product.median / peer.median
    direct_row = (
        f"| hand-written DBOS, started directly | {direct.cell()} "
        f"| {direct.median / peer.median:.2f}x |\n"
        if direct
        else ""
    )
    return f"""## {SECTION}

`python -m bench.fan_out` — {where}.

A workflow of {branches} activity nodes on parallel branches from the trigger, each calling a
component that sleeps {seconds} s (`bench.components:sleep`, on a worker thread), into a `join`
and an `end`; one `wfb worker` process, the task queue allowing 100 concurrent calls. Clock:
from just before `POST /api/v1/workflows/{{id}}/executions` to the execution row reading
`completed` (polled every 2 ms). The peer (`bench/dbos_peer.py`, `peer_fan_out`): an async
`@DBOS.workflow` awaiting {branches} async `@DBOS.step`s of `asyncio.sleep({seconds})` with
`asyncio.gather`, in one DBOS worker process on a queue polled every 50 ms, enqueued with
`DBOSClient.enqueue` and its status row polled every 2 ms; also started directly in a process
of its own. One warm-up run each, then {product.count} timed runs; CPU and transactions over the
timed runs (worker process and the whole PostgreSQL server; the product's API process is not
counted, nor are the harness's own status polls).

| system | seconds per run, median (min-max) | vs the DBOS peer through its queue |
| --- | ---: | ---: |
| Workflow Builder: HTTP start -> completed | {product.cell()} | {versus:.2f}x |
| hand-written DBOS, through a DBOS queue | {peer.cell()} | 1.00x |
{direct_row}
| per run | Workflow Builder | hand-written DBOS (queued) | ratio |
| --- | ---: | ---: | ---: |
{row("worker CPU-ms", ours["workers_ms"], theirs["workers_ms"])}
{row("database CPU-ms", ours["database_ms"], theirs["database_ms"])}
{row("transactions (xact_commit)", ours["commits"], theirs["commits"])}

Result: {product.median:.3f} s for {branches} parallel calls of {seconds} s (target ≤
{TARGET_SECONDS} s: {met}); {product.median / peer.median:.2f}x the hand-written DBOS workflow
through a queue.
"""


def main() -> None:
    """Measure both and update docs/benchmarks.md."""
    branches, seconds, runs = _settings()
    where = machine(server_url())
    product, cost = measure_product(branches, seconds, runs)
    peer, peer_cost, direct = measure_peer(branches, seconds, runs)
    text = section(branches, seconds, product, cost, peer, peer_cost, direct, where)
    print(text, flush=True)
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    main()
