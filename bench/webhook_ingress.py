"""B4: webhook ingress. Webhook-triggered one-step runs under a rising request rate from a
separate load-generating process on loopback; the highest rate sustained with p99 < 1 s, no
errors, and the runs completing as fast as they arrive."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from bench import dbos_peer
from bench.costs import Meter, database_name
from bench.harness import (
    PeakRss,
    Spread,
    Stack,
    load,
    machine,
    progress,
    quick,
    server_url,
    stack,
    update_docs,
)

SECTION = "B4 — webhook ingress"
# One of each: with the pools of a second API process, an overloaded step would exceed the
# server's max_connections (100 here) before the product's own limits show.
API_PROCESSES = 1
WORKER_PROCESSES = 1
# After a step's last request, how long its runs may take to finish for the step to count as
# sustained (completions keeping up with arrivals).
CATCH_UP_SECONDS = 5.0
# The fixed load at which each system's CPU and transactions per run are measured.
COST_RATE = 10 if quick() else 50
COST_SECONDS = 2.0 if quick() else 5.0


@dataclass(frozen=True)
class Step:
    """One load step's outcome."""

    rate: float
    achieved: float
    p50_ms: float
    p99_ms: float
    errors: int
    completed: int
    sent: int
    catch_up_s: float

    @property
    def sustained(self) -> bool:
        """Whether the step meets every condition."""
        return (
            self.p99_ms < 1000
            and self.errors == 0
            and self.completed == self.sent
            and self.catch_up_s <= CATCH_UP_SECONDS
        )


RATES = [25, 50, 75, 100, 150, 200, 300, 440, 550, 700]


def _settings() -> tuple[list[int], float, int]:
    """Return (rates, seconds per step, repetitions of the whole ramp)."""
    if quick():
        return [10], 2.0, 1
    return RATES, 5.0, 2


def webhook_definition(path: str) -> dict[str, Any]:
    """Return a definition: a webhook trigger, one transform node, an end."""
    return {
        "format_version": 1,
        "nodes": [
            {
                "id": "start",
                "type": "trigger",
                "config": {
                    "kind": "webhook",
                    "path": path,
                    "auth": "api_key",
                    "rate_limit_per_second": 100_000,
                },
            },
            {
                "id": "echo",
                "type": "activity",
                "component": {"name": "transform"},
                "input": {"order": "input.order"},
            },
            {"id": "end", "type": "end", "config": {}},
        ],
        "edges": [
            {"id": "a", "source": "start", "target": "echo"},
            {"id": "b", "source": "echo", "target": "end"},
        ],
    }


def product_completed(running: Stack) -> Callable[[list[str]], int]:
    """Return a counter of the product's completed runs among some ids."""

    def count(ids: list[str]) -> int:
        with psycopg.connect(running.database_url, autocommit=True) as conn:
            row = conn.execute(
                "select count(*) from workflow_executions where id = any(%s::uuid[]) "
                "and status = 'completed'",
                (ids,),
            ).fetchone()
        return int(row[0]) if row else 0

    return count


def run_step(
    urls: list[str],
    key: str,
    rate: int,
    seconds: float,
    completed_of: Callable[[list[str]], int],
    extra_headers: dict[str, str] | None = None,
) -> Step:
    """Send one step of load to `urls` and wait for its runs; return the outcome."""
    summary = load(
        {
            "urls": urls,
            "method": "POST",
            "headers": {"X-API-Key": key, **(extra_headers or {})},
            "body": {"order": 42},
            "rate": rate,
            "seconds": seconds,
            "expect": [202],
            "collect_ids": True,
            "timeout": 10,
        }
    )
    if summary["errors"]:
        progress(f"B4 errors: {summary['error_sample']}")
    ids = summary["ids"]
    sent_done = time.monotonic()
    completed = 0
    while True:
        completed = completed_of(ids)
        waited = time.monotonic() - sent_done
        if completed == len(ids) or waited > CATCH_UP_SECONDS + 10:
            break
        time.sleep(0.1)
    return Step(
        rate,
        summary["rate"],
        summary["p50_ms"],
        summary["p99_ms"],
        summary["errors"],
        completed,
        summary["sent"],
        time.monotonic() - sent_done,
    )


def ramp(
    label: str, urls: list[str], key: str, rates: list[int], seconds: float, completed_of: Any
) -> list[Step]:
    """Run the load steps in turn until one is not sustained; return them."""
    steps: list[Step] = []
    for rate in rates:
        step = run_step(urls, key, rate, seconds, completed_of)
        steps.append(step)
        progress(
            f"B4 {label} at {rate}/s: p50 {step.p50_ms:.0f} ms, p99 {step.p99_ms:.0f} ms, "
            f"{step.errors} errors, {step.completed}/{step.sent} completed "
            f"{step.catch_up_s:.1f} s after the last request"
        )
        if not step.sustained:
            break
    return steps


def cost_step(
    meter: Meter, urls: list[str], key: str, completed_of: Any
) -> tuple[dict[str, float], Step]:
    """Send COST_RATE requests/s for COST_SECONDS; return the cost per completed run."""
    steps: list[Step] = []
    cost = meter.measure(
        lambda: steps.append(run_step(urls, key, COST_RATE, COST_SECONDS, completed_of))
    )
    per_run = cost.per_run(max(1, steps[0].completed))
    per_run["cpu_ms"] = per_run.pop("processes_ms")
    return per_run, steps[0]


def measure(
    rates: list[int], seconds: float, repetitions: int
) -> tuple[list[list[Step]], dict[str, float], list[dict[str, float]]]:
    """Return the steps of each ramp, the peak RSS (MiB) of an API and of a worker, and the
    cost per run at COST_RATE."""
    ramps: list[list[Step]] = []
    costs: list[dict[str, float]] = []
    with stack(apis=API_PROCESSES) as running:
        api = running.sign_up()
        project = api.project("b4")
        api.limit_queue(project, 1000, 1000)
        key = api.call("POST", "/api-keys", 201, json={"name": "bench"})["key"]
        workers = [running.start_worker(project["id"]) for _ in range(WORKER_PROCESSES)]
        pids = {f"api{i}": p.pid for i, p in enumerate(running.api_processes)}
        pids.update({f"worker{i}": w.pid for i, w in enumerate(workers)})
        meter = Meter(
            server_url(),
            [database_name(running.database_url)],
            {"processes": lambda: list(pids.values())},
        )
        completed_of = product_completed(running)
        with PeakRss(pids) as rss:
            for repetition in range(repetitions):
                path = f"bench/{uuid.uuid4().hex[:8]}"
                api.deploy(webhook_definition(path), project, max_concurrent_executions=1000)
                urls = [f"{base}/hooks/{path}" for base in running.base_urls]
                per_run, _ = cost_step(meter, urls, key, completed_of)
                costs.append(per_run)
                progress(f"B4 product cost per run at {COST_RATE}/s: {per_run}")
                label = f"product ramp {repetition + 1}/{repetitions}"
                ramps.append(ramp(label, urls, key, rates, seconds, completed_of))
        peaks = {
            "api": max(rss.mib(f"api{i}") for i in range(len(running.api_processes))),
            "worker": max(rss.mib(f"worker{i}") for i in range(WORKER_PROCESSES)),
        }
    return ramps, peaks, costs


def measure_peer(
    rates: list[int], seconds: float, repetitions: int
) -> tuple[list[list[Step]], list[dict[str, float]]]:
    """The same ramps and cost steps against the hand-written FastAPI -> DBOS webhook."""
    ramps: list[list[Step]] = []
    costs: list[dict[str, float]] = []
    key = uuid.uuid4().hex
    queue = "peer-webhook"
    with (
        dbos_peer.peer_database("wfb_bench_dbos_b4") as url,
        dbos_peer.peer_workers(url, WORKER_PROCESSES, {queue: 1000}) as workers,
        dbos_peer.peer_webhook(url, queue, key) as (webhook, base),
    ):
        meter = Meter(
            server_url(),
            [database_name(url)],
            {"processes": lambda: [webhook.pid, *(w.pid for w in workers)]},
        )

        def completed_of(ids: list[str]) -> int:
            return dbos_peer.count_succeeded(url, ids)

        urls = [f"{base}/hooks/bench/peer"]
        for repetition in range(repetitions):
            per_run, _ = cost_step(meter, urls, key, completed_of)
            costs.append(per_run)
            progress(f"B4 DBOS peer cost per run at {COST_RATE}/s: {per_run}")
            label = f"DBOS peer ramp {repetition + 1}/{repetitions}"
            ramps.append(ramp(label, urls, key, rates, seconds, completed_of))
    return ramps, costs


def best_rate(steps: list[Step]) -> float:
    """Return the highest rate the ramp sustained (0 if none)."""
    return max((step.rate for step in steps if step.sustained), default=0.0)


def ramp_table(ramps: list[list[Step]]) -> str:
    """Return the table of the ramp closest to the median best rate."""
    best = Spread.of([best_rate(steps) for steps in ramps])
    lines = [
        "| requested /s | achieved /s | p50 ms | p99 ms | errors | completed / sent "
        "| last run done after | sustained |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    median_ramp = min(ramps, key=lambda steps: abs(best_rate(steps) - best.median))
    for step in median_ramp:
        lines.append(
            f"| {step.rate:.0f} | {step.achieved:.0f} | {step.p50_ms:.0f} | {step.p99_ms:.0f} "
            f"| {step.errors} | {step.completed:,} / {step.sent:,} | {step.catch_up_s:.1f} s "
            f"| {'yes' if step.sustained else 'no'} |"
        )
    return "\n".join(lines)


def cost_rows(ours: list[dict[str, float]], theirs: list[dict[str, float]], peer: str) -> str:
    """Return the table of CPU-ms and transactions per run of both systems at COST_RATE."""
    lines = [
        f"| per run at {COST_RATE} requests/s, median (min-max) | Workflow Builder | {peer} "
        "| ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, field in (
        ("API + worker CPU-ms per run", "cpu_ms"),
        ("database CPU-ms per run", "database_ms"),
        ("transactions per run (xact_commit)", "commits"),
    ):
        a = Spread.of([c[field] for c in ours])
        b = Spread.of([c[field] for c in theirs])
        shown = f"{a.median / b.median:.2f}x" if b.median else "n/a"
        lines.append(f"| {label} | {a.cell(2)} | {b.cell(2)} | {shown} |")
    return "\n".join(lines)


def section(
    ramps: list[list[Step]],
    peer_ramps: list[list[Step]],
    costs: list[dict[str, float]],
    peer_costs: list[dict[str, float]],
    peaks: dict[str, float],
    where: str,
    seconds: float,
) -> str:
    """Return the Markdown section."""
    best = Spread.of([best_rate(steps) for steps in ramps])
    peer_best = Spread.of([best_rate(steps) for steps in peer_ramps])
    versus = best.median / peer_best.median if peer_best.median else 0.0
    met = "met" if versus >= 0.8 else "missed"
    top = max(step.rate for steps in ramps + peer_ramps for step in steps)
    capped = (
        " (the peer sustained the ramp's top rate: its own limit is higher)"
        if peer_best.median >= top
        else ""
    )
    return f"""## {SECTION}

`python -m bench.webhook_ingress` — {where}.

A workflow whose trigger is a webhook (`auth: api_key`) and whose one node is a `transform`.
A separate load-generating process (`bench/loadgen.py`, aiohttp on uvloop) posts
`{{"order": 42}}` with an `X-API-Key` header to `/hooks/<path>` at a fixed rate (open loop),
to {API_PROCESSES} `wfb api` process, in steps of {seconds:.0f} s of rising
rate; {WORKER_PROCESSES} `wfb worker` process runs the runs. A step is sustained when every
request is answered `202` with p99 < 1 s and every run it started has completed within
{CATCH_UP_SECONDS:.0f} s of the step's last request. The ramp stops at the first step that is
not. {best.count} ramps, each on a newly deployed webhook.

The peer (`bench/dbos_peer.py`): a minimal hand-written FastAPI app under uvicorn, one
process, whose `POST /hooks/{{path}}` compares the `X-API-Key` header with a key it was given
and enqueues one run with `DBOSClient.enqueue` (answering 202 with the run's id); one DBOS
worker process runs a `@DBOS.workflow` of one `@DBOS.step` handing back the body's `order`.
Same load generator, same ramp, same PostgreSQL server (a database of its own), run after the
product's. Before each ramp, each system takes {COST_RATE} requests/s for {COST_SECONDS:.0f} s
to measure its cost per run (CPU of the API/webhook and worker processes and of the whole
PostgreSQL server from /proc; transactions as in B3).

| system | highest sustained runs/s, median (min-max) |
| --- | ---: |
| Workflow Builder | {best.cell(0)} |
| hand-written FastAPI -> DBOS enqueue | {peer_best.cell(0)} |

{cost_rows(costs, peer_costs, "hand-written DBOS")}

Result: highest sustained rate {best.median:.0f} runs/s, {versus:.2f}x the hand-written
webhook's {peer_best.median:.0f} runs/s (target ≥ 0.8x: {met}){capped}.

The product's ramp closest to the median:

{ramp_table(ramps)}

The peer's ramp closest to the median:

{ramp_table(peer_ramps)}

Peak RSS during B4: API {peaks["api"]:.0f} MiB, worker {peaks["worker"]:.0f} MiB.
"""


def main() -> None:
    """Measure and update docs/benchmarks.md."""
    rates, seconds, repetitions = _settings()
    where = machine(server_url())
    ramps, peaks, costs = measure(rates, seconds, repetitions)
    peer_ramps, peer_costs = measure_peer(rates, seconds, repetitions)
    text = section(ramps, peer_ramps, costs, peer_costs, peaks, where, seconds)
    print(text, flush=True)
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    main()
