"""B5: durable steps per second beside a hand-written DBOS workflow of as many steps, and
against the database's own limit: pgbench transactions that each insert one row, with the
same number of clients, on the same PostgreSQL server."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from bench import dbos_peer
from bench.costs import Cost, Meter, database_name
from bench.harness import (
    Process,
    Spread,
    chain_definition,
    machine,
    progress,
    quick,
    scratch_database,
    server_url,
    stack,
    update_docs,
)
from bench.queue_throughput import Side, _side, drain_rate, enqueue_at_once, side_by_side

SECTION = "B5 — durable steps vs the database"
CLIENTS = 2 if quick() else 10
STEPS = 5 if quick() else 20
# One per core, as in B3.
WORKER_PROCESSES = 2
PEER_WORKERS = 1 if quick() else WORKER_PROCESSES
PGBENCH_SCRIPT = "\\set v random(1, 1000000)\ninsert into bench_rows (v) values (:v);\n"


def _settings() -> tuple[int, float, int]:
    """Return (runs per repetition, pgbench seconds, repetitions)."""
    return (4, 1.0, 1) if quick() else (40, 5.0, 3)


def pgbench_path() -> str:
    """Return pgbench: the server's, else the one pgserver bundles."""
    found = shutil.which("pgbench")
    if found:
        return found
    import pgserver

    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    if bundled.exists():
        return str(bundled)
    raise RuntimeError("pgbench not found (install postgresql-client or pgserver)")


def pgbench_tps(url: str, clients: int, seconds: float) -> float:
    """Return pgbench's transactions/s for single-row inserts with `clients` clients."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table if not exists bench_rows (id bigserial primary key, v int)")
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(PGBENCH_SCRIPT)
        script.flush()
        result = subprocess.run(
            [
                pgbench_path(),
                "-n",
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(max(1, round(seconds))),
                "-f",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    found = re.search(r"tps = ([\d.]+)", result.stdout)
    if result.returncode != 0 or not found:
        raise RuntimeError(f"pgbench failed:\n{result.stdout}\n{result.stderr}")
    return float(found.group(1))


def section(product: Side, peer: Side, tps: Spread, runs: int, where: str) -> str:
    """Return the Markdown section."""
    share = product.rate.median / tps.median
    versus = product.rate.median / peer.rate.median
    peer_share = peer.rate.median / tps.median
    met = "met" if versus >= 0.8 else "missed"
    comparison = side_by_side(product, peer, "hand-written DBOS").replace(
        "| runs/s |", "| durable steps/s |"
    )
    comparison = comparison.replace("| per run,", f"| per run ({STEPS} steps),")
    return f"""## {SECTION}

`python -m bench.durable_steps` — {where}.

Durable steps: {runs} runs of a workflow of {STEPS} sequential activity nodes calling a
component that returns at once (`bench.components:noop`; each call is journaled, where a
`transform` node is pure and needs no checkpoint), enqueued at
once on a task queue limited to {CLIENTS} concurrent runs, served by {WORKER_PROCESSES}
`wfb worker` processes; rate = {runs} x {STEPS} node steps / (last `completed_at` - commit).
The hand-written DBOS peer (`bench/dbos_peer.py`, `peer_chain`) does the same: a
`@DBOS.workflow` of {STEPS} sequential `@DBOS.step`s each handing back its input, {runs} runs
enqueued in one transaction on a DBOS queue of global concurrency {CLIENTS} polled every 50 ms,
{WORKER_PROCESSES} worker processes, a database of its own on the same server. Each repetition
measures the product, stops its workers, starts the peer's and measures it; CPU and
transactions per run as in B3. The database's own limit: `pgbench -n -c {CLIENTS} -j 2` with a
script inserting one row per transaction, on a database of its own on the same server
(synchronous commit). {tps.count} repetitions each, alternating.

{comparison}

| what | per second, median (min-max) |
| --- | ---: |
| Workflow Builder: durable node steps, {CLIENTS} runs at a time | {product.rate.cell(0)} |
| hand-written DBOS: durable steps, {CLIENTS} runs at a time | {peer.rate.cell(0)} |
| pgbench single-row inserts, {CLIENTS} clients | {tps.cell(0)} |

Result: {versus:.2f}x the hand-written DBOS workflow's steps/s (target ≥ 0.8x: {met}); the
product reaches {share:.1%} of pgbench's insert rate, the peer {peer_share:.1%}.

What was changed for these figures and where the rest of the cost is: "B3 and B5 on DBOS" under
Profiles.
"""


def _peer_window(url: str, runs: int, repetition: int) -> tuple[float, Cost]:
    queue = f"peer-b5-{repetition}"
    with dbos_peer.peer_workers(url, PEER_WORKERS, {queue: CLIENTS}) as processes:
        meter = Meter(
            server_url(),
            [database_name(url)],
            {"workers": lambda: [p.pid for p in processes]},
            profile="b5-peer",
        )
        rate: list[float] = []
        committed: list[float] = []

        def enqueue() -> None:
            committed.append(dbos_peer.enqueue_at_once(url, "peer_chain", queue, [STEPS], runs))

        def window() -> None:
            last = dbos_peer.wait_queue_drained(url, queue, runs, timeout=runs * 5 + 120)
            rate.append(runs * STEPS / (last - committed[0]))

        cost = meter.measure(window, enqueue)
    return rate[0], cost


def main() -> None:
    """Measure both and update docs/benchmarks.md."""
    runs, seconds, repetitions = _settings()
    where = machine(server_url())
    product: list[tuple[float, Cost]] = []
    peer: list[tuple[float, Cost]] = []
    tps: list[float] = []
    with (
        scratch_database("wfb_bench_pgbench") as pgbench_url,
        dbos_peer.peer_database("wfb_bench_dbos_b5") as peer_url,
        stack() as running,
    ):
        api = running.sign_up()
        project = api.project("b5")
        api.limit_queue(project, CLIENTS, CLIENTS)
        api.component("bench-noop", "noop")
        definition = chain_definition(STEPS, "bench-noop", {"step": "input.step"})
        workers: list[Process] = []
        meter = Meter(
            server_url(),
            [database_name(running.database_url)],
            {"workers": lambda: [w.pid for w in workers]},
            profile="b5-product",
        )
        for repetition in range(repetitions):
            workers[:] = [running.start_worker(project["id"]) for _ in range(WORKER_PROCESSES)]
            workflow_id = api.deploy(definition, project, max_concurrent_executions=CLIENTS)
            rate: list[float] = []
            committed: list[float] = []

            def enqueue(workflow_id: str = workflow_id, at: list[float] = committed) -> None:
                at.append(enqueue_at_once(running, api.user_id, workflow_id, runs))

            def window(
                workflow_id: str = workflow_id,
                rate: list[float] = rate,
                at: list[float] = committed,
            ) -> None:
                rate.append(drain_rate(running, workflow_id, runs, at[0]) * STEPS)

            cost = meter.measure(window, enqueue)
            product.append((rate[0], cost))
            running.stop_workers()
            peer.append(_peer_window(peer_url, runs, repetition))
            tps.append(pgbench_tps(pgbench_url, CLIENTS, seconds))
            progress(
                f"B5 {repetition + 1}/{repetitions}: {product[-1][0]:.0f} steps/s "
                f"{cost.per_run(runs)}, DBOS peer {peer[-1][0]:.0f} steps/s "
                f"{peer[-1][1].per_run(runs)}, pgbench {tps[-1]:.0f} tps"
            )
    text = section(_side(product, runs), _side(peer, runs), Spread.of(tps), runs, where)
    print(text, flush=True)
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    sys.exit(main())
