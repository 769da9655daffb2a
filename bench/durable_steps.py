"""B5: durable steps per second against the database's own limit: pgbench transactions that
each insert one row, with the same number of clients, on the same PostgreSQL server."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from bench.harness import (
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
from bench.queue_throughput import drain_rate, enqueue_at_once

SECTION = "B5 — durable steps vs the database"
CLIENTS = 2 if quick() else 10
STEPS = 5 if quick() else 20
# One per core, as in B3.
WORKER_PROCESSES = 2
PGBENCH_SCRIPT = "\\set v random(1, 1000000)\ninsert into bench_rows (v) values (:v);\n"


def _settings() -> tuple[int, float, int]:
    """Return (runs per repetition, pgbench seconds, repetitions)."""
    return (4, 1.0, 1) if quick() else (40, 5.0, 5)


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


def section(steps_rate: Spread, tps: Spread, runs: int, where: str) -> str:
    """Return the Markdown section."""
    share = steps_rate.median / tps.median
    met = "met" if share >= 0.5 else "missed"
    return f"""## {SECTION}

`python -m bench.durable_steps` — {where}.

Durable steps: {runs} runs of a workflow of {STEPS} sequential `transform` nodes, enqueued at
once on a task queue limited to {CLIENTS} concurrent runs, served by {WORKER_PROCESSES}
`wfb worker` processes; rate = {runs} x {STEPS} node steps / (last `completed_at` - commit).
Each node step is one engine checkpoint plus its `execution_steps` row and statistics.
Database limit:
`pgbench -n -c {CLIENTS} -j 2` with a script inserting one row per transaction, on a database of
its own on the same server (synchronous commit, as the product's checkpoints use).
{tps.count} repetitions each, alternating.

| what | per second, median (min-max) |
| --- | ---: |
| durable node steps, {CLIENTS} runs at a time | {steps_rate.cell(0)} |
| pgbench single-row inserts, {CLIENTS} clients | {tps.cell(0)} |

Result: {share:.0%} of the database's insert rate (target ≥ 50 %: {met}).
"""


def main() -> None:
    """Measure both and update docs/benchmarks.md."""
    runs, seconds, repetitions = _settings()
    where = machine(server_url())
    rates: list[float] = []
    tps: list[float] = []
    with scratch_database("wfb_bench_pgbench") as pgbench_url, stack() as running:
        api = running.sign_up()
        project = api.project("b5")
        api.limit_queue(project, CLIENTS, CLIENTS)
        for _ in range(WORKER_PROCESSES):
            running.start_worker(project["id"])
        definition = chain_definition(STEPS, "transform", {"step": "input.step"})
        for repetition in range(repetitions):
            workflow_id = api.deploy(definition, project, max_concurrent_executions=CLIENTS)
            committed = enqueue_at_once(running, api.user_id, workflow_id, runs)
            rates.append(drain_rate(running, workflow_id, runs, committed) * STEPS)
            tps.append(pgbench_tps(pgbench_url, CLIENTS, seconds))
            progress(
                f"B5 {repetition + 1}/{repetitions}: {rates[-1]:.0f} steps/s, "
                f"pgbench {tps[-1]:.0f} tps"
            )
    text = section(Spread.of(rates), Spread.of(tps), runs, where)
    print(text, flush=True)
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    sys.exit(main())
