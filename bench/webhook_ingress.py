"""B4: webhook ingress. Webhook-triggered one-step runs under a rising request rate from a
separate load-generating process on loopback; the highest rate sustained with p99 < 1 s, no
errors, and the runs completing as fast as they arrive."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.harness import (
    PeakRss,
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


def _settings() -> tuple[list[int], float, int]:
    """Return (rates, seconds per step, repetitions of the whole ramp)."""
    if quick():
        return [10], 2.0, 1
    return [25, 50, 75, 100, 150, 200, 300, 440, 550], 5.0, 5


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


def run_step(running: Stack, key: str, path: str, rate: int, seconds: float) -> Step:
    """Send one step of load and wait for its runs; return the outcome."""
    summary = load(
        {
            "urls": [f"{base}/hooks/{path}" for base in running.base_urls],
            "method": "POST",
            "headers": {"X-API-Key": key},
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
    with psycopg.connect(running.database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "select count(*) from workflow_executions where id = any(%s::uuid[]) "
                "and status = 'completed'",
                (ids,),
            ).fetchone()
            completed = int(row[0]) if row else 0
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


def measure(
    rates: list[int], seconds: float, repetitions: int
) -> tuple[list[list[Step]], dict[str, float]]:
    """Return the steps of each ramp and the peak RSS (MiB) of an API and of a worker."""
    ramps: list[list[Step]] = []
    with stack(apis=API_PROCESSES) as running:
        api = running.sign_up()
        project = api.project("b4")
        api.limit_queue(project, 1000, 1000)
        key = api.call("POST", "/api-keys", 201, json={"name": "bench"})["key"]
        workers = [running.start_worker(project["id"]) for _ in range(WORKER_PROCESSES)]
        pids = {f"api{i}": p.pid for i, p in enumerate(running.api_processes)}
        pids.update({f"worker{i}": w.pid for i, w in enumerate(workers)})
        with PeakRss(pids) as rss:
            for repetition in range(repetitions):
                path = f"bench/{uuid.uuid4().hex[:8]}"
                api.deploy(webhook_definition(path), project, max_concurrent_executions=1000)
                steps: list[Step] = []
                for rate in rates:
                    step = run_step(running, key, path, rate, seconds)
                    steps.append(step)
                    progress(
                        f"B4 ramp {repetition + 1}/{repetitions} at {rate}/s: "
                        f"p50 {step.p50_ms:.0f} ms, p99 {step.p99_ms:.0f} ms, "
                        f"{step.errors} errors, {step.completed}/{step.sent} completed "
                        f"{step.catch_up_s:.1f} s after the last request"
                    )
                    if not step.sustained:
                        break
                ramps.append(steps)
        peaks = {
            "api": max(rss.mib(f"api{i}") for i in range(len(running.api_processes))),
            "worker": max(rss.mib(f"worker{i}") for i in range(WORKER_PROCESSES)),
        }
    return ramps, peaks


def best_rate(steps: list[Step]) -> float:
    """Return the highest rate the ramp sustained (0 if none)."""
    return max((step.rate for step in steps if step.sustained), default=0.0)


def section(ramps: list[list[Step]], peaks: dict[str, float], where: str, seconds: float) -> str:
    """Return the Markdown section."""
    from bench.harness import Spread

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
    met = "met" if best.median >= 440 else "missed"
    table = "\n".join(lines)
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

Result: highest sustained rate {best.cell(0)} runs/s, median (min-max) (target ≥ 440 runs/s:
{met}; n8n publishes 220/s on 2 vCPU, a published figure not measured here).

The ramp closest to the median:

{table}

Peak RSS during B4: API {peaks["api"]:.0f} MiB, worker {peaks["worker"]:.0f} MiB.
"""


def main() -> None:
    """Measure and update docs/benchmarks.md."""
    rates, seconds, repetitions = _settings()
    where = machine(server_url())
    ramps, peaks = measure(rates, seconds, repetitions)
    text = section(ramps, peaks, where, seconds)
    print(text, flush=True)
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    main()
