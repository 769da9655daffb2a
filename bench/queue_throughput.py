"""B3: queue throughput. Runs of one `sleep(0.1)` step, all enqueued at once, drained with
N = 2, 10 and 100 concurrent slots; runs per second as a share of the ideal N x 10."""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import UUID

import psycopg

from bench import dbos_peer
from bench.costs import SETTLE_SECONDS, Cost, Meter, database_name
from bench.harness import (
    PeakRss,
    Process,
    Spread,
    Stack,
    chain_definition,
    machine,
    progress,
    quick,
    server_url,
    stack,
    update_docs,
    wait_all_closed,
)

SECTION = "B3 — queue throughput"
STEP_SECONDS = 0.1
# One per core: a worker process is CPU-bound (Python) long before PostgreSQL is.
WORKER_PROCESSES = 2


# The peer's worker processes (one in the smoke run, which only checks the harness).
PEER_WORKERS = 1 if quick() else WORKER_PROCESSES
# The concurrency at which the product is measured beside the hand-written DBOS peer.
PEER_SLOTS = 100


def _settings() -> tuple[dict[int, int], int]:
    """Return ({slots: runs per repetition}, repetitions)."""
    if quick():
        return {2: 6, PEER_SLOTS: 20}, 1
    # Enough runs for a few seconds of ideal work at small N, where the ideal rate is low; at
    # N = 100 the ideal drain of 10,000 takes 10 s, but at the measured rate a repetition takes
    # many seconds, so 500 runs per repetition keep `make bench` within its time (see the doc).
    return {2: 60, 10: 200, PEER_SLOTS: 500}, 3


@dataclass(frozen=True)
class Row:
    """The results at one concurrency."""

    slots: int
    runs: int
    rate: Spread  # runs per second

    @property
    def ideal(self) -> float:
        """Return the ideal rate: every slot always busy with a 0.1 s step."""
        return self.slots / STEP_SECONDS


def enqueue_at_once(running: Stack, user_id: str, workflow_id: str, runs: int) -> float:
    """Record and enqueue `runs` runs in one transaction; return the wall time of its commit."""
    from workflow_builder.db import user_session
    from workflow_builder.runtime.service import insert_execution

    with user_session(UUID(user_id)) as session:
        for _ in range(runs):
            insert_execution(
                session,
                user_id=UUID(user_id),
                workflow_id=UUID(workflow_id),
                inputs={},
                enqueue=True,
            )
    with psycopg.connect(running.database_url) as conn:
        row = conn.execute("select extract(epoch from clock_timestamp())").fetchone()
    return float(row[0]) if row else time.time()


def drain_rate(running: Stack, workflow_id: str, runs: int, committed: float) -> float:
    """Wait for every run to close; return runs per second from commit to the last close."""
    with psycopg.connect(running.database_url, autocommit=True) as conn:
        counts = wait_all_closed(conn, workflow_id, runs, timeout=runs * 2 + 120)
        if counts.get("completed", 0) != runs:
            errors = conn.execute(
                "select error, count(*) from workflow_executions where workflow_id = %s "
                "and status <> 'completed' group by error order by 2 desc limit 3",
                (workflow_id,),
            ).fetchall()
            engine_errors = conn.execute(
                "select left(s.error, 300), count(*) from dbos.workflow_status s "
                "join workflow_executions e on e.engine_run_id = s.workflow_uuid "
                "where e.workflow_id = %s and s.status <> 'SUCCESS' group by 1 limit 3",
                (workflow_id,),
            ).fetchall()
            raise RuntimeError(
                f"not every run completed: {counts}; errors: {errors}; engine: {engine_errors}"
            )
        row = conn.execute(
            "select extract(epoch from max(completed_at)) from workflow_executions "
            "where workflow_id = %s",
            (workflow_id,),
        ).fetchone()
    last = float(row[0]) if row else time.time()
    return runs / (last - committed)


@dataclass(frozen=True)
class Side:
    """One system's figures at N = PEER_SLOTS: runs/s and, per run, CPU-ms and commits."""

    rate: Spread
    worker_ms: Spread
    database_ms: Spread
    commits: Spread


def _side(samples: list[tuple[float, Cost]], runs: int) -> Side:
    per_run = [cost.per_run(runs) for _, cost in samples]
    return Side(
        Spread.of([rate for rate, _ in samples]),
        Spread.of([p["workers_ms"] for p in per_run]),
        Spread.of([p["database_ms"] for p in per_run]),
        Spread.of([p["commits"] for p in per_run]),
    )


def _product_workers(running: Stack, project_id: str) -> list[Process]:
    return [running.start_worker(project_id) for _ in range(WORKER_PROCESSES)]


def measure(
    slots_runs: dict[int, int], repetitions: int
) -> tuple[list[Row], dict[str, float], Side, Side]:
    """Return a row per concurrency, the peak RSS (MiB) of the API and of one worker, and the
    product's and the DBOS peer's figures at N = PEER_SLOTS."""
    rows: list[Row] = []
    product: list[tuple[float, Cost]] = []
    peer: list[tuple[float, Cost]] = []
    peer_runs = slots_runs[PEER_SLOTS]
    with stack() as running, dbos_peer.peer_database("wfb_bench_dbos_b3") as peer_url:
        api = running.sign_up()
        project = api.project("b3")
        api.component("bench-sleep", "sleep")
        workers = _product_workers(running, project["id"])
        pids = {"api": running.api_process.pid}
        pids.update({f"worker{i}": w.pid for i, w in enumerate(workers)})
        definition = chain_definition(1, "bench-sleep")
        definition["nodes"][1]["config"] = {"seconds": STEP_SECONDS}
        with PeakRss(pids) as rss:
            for slots, runs in slots_runs.items():
                if slots == PEER_SLOTS:
                    continue
                api.limit_queue(project, slots, slots)
                samples = []
                for repetition in range(repetitions):
                    workflow_id = api.deploy(definition, project, max_concurrent_executions=slots)
                    committed = enqueue_at_once(running, api.user_id, workflow_id, runs)
                    rate = drain_rate(running, workflow_id, runs, committed)
                    samples.append(rate)
                    progress(
                        f"B3 N={slots}: {repetition + 1}/{repetitions}: {rate:.1f} runs/s "
                        f"({rate / (slots / STEP_SECONDS):.0%} of ideal)"
                    )
                rows.append(Row(slots, runs, Spread.of(samples)))
            api.limit_queue(project, PEER_SLOTS, PEER_SLOTS)
            admin = server_url()
            product_meter = Meter(
                admin,
                [database_name(running.database_url)],
                {"workers": lambda: [w.pid for w in running.workers or workers]},
                profile="b3-product",
            )
            for repetition in range(repetitions):
                # The product, then the peer, each alone on the server (the other's workers
                # stopped, so their idle polling costs neither).
                if not running.workers and running.shared_worker is None:
                    workers[:] = _product_workers(running, project["id"])
                workflow_id = api.deploy(definition, project, max_concurrent_executions=PEER_SLOTS)
                rate: list[float] = []
                committed: list[float] = []

                def enqueue(workflow_id: str = workflow_id, at: list[float] = committed) -> None:
                    at.append(enqueue_at_once(running, api.user_id, workflow_id, peer_runs))

                def window(
                    workflow_id: str = workflow_id,
                    rate: list[float] = rate,
                    at: list[float] = committed,
                ) -> None:
                    rate.append(drain_rate(running, workflow_id, peer_runs, at[0]))

                cost = product_meter.measure(window, enqueue)
                product.append((rate[0], cost))
                progress(
                    f"B3 N={PEER_SLOTS} product {repetition + 1}/{repetitions}: "
                    f"{rate[0]:.1f} runs/s, {cost.per_run(peer_runs)}"
                )
                running.stop_workers()
                peer.append(_peer_window(peer_url, peer_runs, repetition))
                progress(
                    f"B3 N={PEER_SLOTS} DBOS peer {repetition + 1}/{repetitions}: "
                    f"{peer[-1][0]:.1f} runs/s, {peer[-1][1].per_run(peer_runs)}"
                )
        rows.append(Row(PEER_SLOTS, peer_runs, Spread.of([rate for rate, _ in product])))
        peaks = {
            "api": rss.mib("api"),
            "worker": max(rss.mib(f"worker{i}") for i in range(WORKER_PROCESSES)),
        }
    return rows, peaks, _side(product, peer_runs), _side(peer, peer_runs)


def _peer_window(url: str, runs: int, repetition: int) -> tuple[float, Cost]:
    """Run the DBOS peer once at N = PEER_SLOTS: its workers started, measured, stopped."""
    queue = f"peer-b3-{repetition}"
    with dbos_peer.peer_workers(url, PEER_WORKERS, {queue: PEER_SLOTS}) as processes:
        meter = Meter(
            server_url(),
            [database_name(url)],
            {"workers": lambda: [p.pid for p in processes]},
            profile="b3-peer",
        )
        rate: list[float] = []
        committed: list[float] = []

        def enqueue() -> None:
            committed.append(
                dbos_peer.enqueue_at_once(url, "peer_sleep", queue, [STEP_SECONDS], runs)
            )

        def window() -> None:
            last = dbos_peer.wait_queue_drained(url, queue, runs, timeout=runs * 2 + 120)
            rate.append(runs / (last - committed[0]))

        cost = meter.measure(window, enqueue)
    return rate[0], cost


def side_by_side(product: Side, peer: Side, peer_name: str) -> str:
    """Return the table of the product beside a peer: rate, CPU-ms and commits per run."""
    lines = [
        f"| per run, median (min-max) | Workflow Builder | {peer_name} | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, ours, theirs, digits in (
        ("runs/s", product.rate, peer.rate, 1),
        ("worker CPU-ms per run", product.worker_ms, peer.worker_ms, 2),
        ("database CPU-ms per run", product.database_ms, peer.database_ms, 2),
        ("transactions per run (xact_commit)", product.commits, peer.commits, 2),
    ):
        lines.append(
            f"| {label} | {ours.cell(digits)} | {theirs.cell(digits)} "
            f"| {ratio(ours.median, theirs.median)} |"
        )
    return "\n".join(lines)


def ratio(ours: float, theirs: float) -> str:
    """Return ours / theirs as '1.23x' ('n/a' when theirs is 0)."""
    return f"{ours / theirs:.2f}x" if theirs else "n/a"


def section(rows: list[Row], peaks: dict[str, float], where: str, product: Side, peer: Side) -> str:
    """Return the Markdown section."""
    lines = [
        "| N slots | runs per repetition | runs/s, median (min-max) | ideal N x 10 "
        "| share of ideal |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row.slots} | {row.runs:,} | {row.rate.cell(1)} | {row.ideal:,.0f} "
            f"| {row.rate.median / row.ideal:.0%} ({row.rate.low / row.ideal:.0%}-"
            f"{row.rate.high / row.ideal:.0%}) |"
        )
    top = rows[-1]
    share = top.rate.median / top.ideal
    throughput = product.rate.median / peer.rate.median
    cpu = (product.worker_ms.median + product.database_ms.median) / (
        peer.worker_ms.median + peer.database_ms.median
    )
    commits = product.commits.median / peer.commits.median if peer.commits.median else 0.0
    verdict = (
        f"{throughput:.2f}x the hand-written DBOS peer's throughput at N = {PEER_SLOTS} "
        f"(target ≥ 0.75x: {'met' if throughput >= 0.75 else 'missed'}); CPU per run "
        f"(workers + database) {cpu:.2f}x (target ≤ 1.5x: {'met' if cpu <= 1.5 else 'missed'}); "
        f"transactions per run {commits:.2f}x (target ≤ 1.3x: "
        f"{'met' if commits <= 1.3 else 'missed'}); {share:.0%} of the ideal N x 10"
    )
    table = "\n".join(lines)
    comparison = side_by_side(product, peer, "hand-written DBOS")
    return f"""## {SECTION}

`python -m bench.queue_throughput` — {where}.

A workflow of one activity node that sleeps {STEP_SECONDS} s (`bench.components:sleep`). The
project's task queue gets `max_concurrent_workflows` = `max_concurrent_activities` = N (and the
workflow `max_concurrent_executions` = N, so no admission queue throttles it); all runs of a
repetition are recorded and enqueued in one transaction (`insert_execution(..., enqueue=True)`,
as the API does per request) and become visible at its commit. {WORKER_PROCESSES} `wfb worker`
processes serve the queue, one per core.
Rate = runs / (last `completed_at` - commit time). Small N drains slowly (N x 10 runs/s at
best), so it uses fewer runs (2-3 s of ideal work each); N = {PEER_SLOTS} uses {top.runs:,} runs
per repetition. {top.rate.count} repetitions each.

{table}

At N = {PEER_SLOTS}, beside the hand-written DBOS peer (`bench/dbos_peer.py`: a `@DBOS.workflow`
calling one `@DBOS.step` that sleeps {STEP_SECONDS} s, on a DBOS queue of global concurrency
{PEER_SLOTS} polled every 50 ms as the product's are, the same {top.runs:,} runs enqueued in one
transaction with `DBOSClient.enqueue_in_transaction`, {WORKER_PROCESSES} worker processes, a
database of its own on the same server; rate = runs / (last `updated_at` - commit)). Each
repetition measures the product, stops its workers, then starts the peer's (so neither
system's idle polling lands in the other's window). CPU is read from /proc: the worker
processes' (with their children) and the whole PostgreSQL server's (every backend, the WAL
writer, the checkpointer), over the window from the enqueue's commit to the last run's end
(the enqueueing transaction's own CPU is not counted on either side); transactions
are the `pg_stat_database.xact_commit` delta of the system's database, read after an
{SETTLE_SECONDS:.0f}-second settle, less what its idle workers commit anyway over the settle and
the window (queue polling, heartbeats), so it counts what the runs added; CPU is not reduced.

{comparison}

Result: {verdict}.

What was changed for these figures and where the rest of the cost is: "B3 and B5 on DBOS" under
Profiles.

Peak RSS during B3: API {peaks["api"]:.0f} MiB, worker {peaks["worker"]:.0f} MiB.
"""


def main() -> None:
    """Measure each concurrency and update docs/benchmarks.md."""
    slots_runs, repetitions = _settings()
    where = machine(server_url())
    rows, peaks, product, peer = measure(slots_runs, repetitions)
    text = section(rows, peaks, where, product, peer)
    print(text, flush=True)
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    main()
