"""B2: ten sequential fib(33) steps as a workflow, against the same ten calls in a bare Python
loop; the overhead of durable execution on CPU-bound work."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psycopg

from bench.harness import (
    ROOT,
    Spread,
    chain_definition,
    machine,
    progress,
    quick,
    repeat,
    server_url,
    stack,
    update_docs,
    wait_terminal,
)

SECTION = "B2 — 10 long steps"
BARE_LOOP = """
import json, sys, time
from bench.components import fib
n, steps = int(sys.argv[1]), int(sys.argv[2])
started = time.perf_counter()
for _ in range(steps):
    fib(n)
print(json.dumps(time.perf_counter() - started))
"""


def _settings() -> tuple[int, int, int]:
    """Return (n, steps, runs)."""
    return (20, 3, 2) if quick() else (33, 10, 5)


def bare_loop(n: int, steps: int) -> float:
    """Return the seconds of `steps` calls of fib(n) in a fresh Python process."""
    result = subprocess.run(
        [sys.executable, "-c", BARE_LOOP, str(n), str(steps)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(result.stdout.strip().splitlines()[-1]))


def section(n: int, steps: int, product: Spread, bare: Spread, where: str) -> str:
    """Return the Markdown section."""
    ratio = product.median / bare.median
    overhead = (ratio - 1) * 100
    verdict = "met" if overhead <= 2 else "missed"
    return f"""## {SECTION}

`python -m bench.long_steps` — {where}.

A workflow of {steps} sequential activity nodes, each computing `fib({n})` recursively (the
component `bench.components:fibonacci`, registered through `POST /api/v1/components`), run by
one `wfb worker` process and timed from the start request to the completed run. The baseline
is the same {steps} calls in a bare Python loop in a fresh process of the same interpreter,
while the product's API and worker sit idle. Runs alternate (workflow, loop); seconds,
median (min-max) of {product.count}.

| what | seconds | |
| --- | ---: | ---: |
| Workflow Builder: HTTP start -> completed | {product.cell()} | {ratio:.3f}x |
| bare Python loop | {bare.cell()} | 1.000x |

Result: overhead {overhead:+.1f} % over the bare loop (target ≤ 2 %: {verdict}).
"""


def main() -> None:
    """Measure both and update docs/benchmarks.md."""
    n, steps, runs = _settings()
    where = machine(server_url())
    bare_samples: list[float] = []
    with stack() as running:
        api = running.sign_up()
        project = api.project("b2")
        api.component("bench-fib", "fibonacci")
        running.start_worker(project["id"])
        definition = chain_definition(steps, "bench-fib")
        for node in definition["nodes"]:
            if node["type"] == "activity":
                node["config"] = {"n": n}
        workflow_id = api.deploy(definition, project)
        with psycopg.connect(running.database_url, autocommit=True) as conn:

            def one() -> float:
                bare_samples.append(bare_loop(n, steps))
                started = time.perf_counter()
                execution_id = api.start(workflow_id)
                status = wait_terminal(conn, execution_id, poll=0.005, timeout=600)
                elapsed = time.perf_counter() - started
                if status != "completed":
                    raise RuntimeError(f"run {execution_id} ended {status}")
                return elapsed

            progress(f"B2: fib({n}) x {steps}, {runs} runs")
            one()  # warm-up
            bare_samples.clear()
            product = repeat(runs, one, "B2 workflow")
    bare = Spread.of(bare_samples)
    text = section(n, steps, product, bare, where)
    print(text, flush=True)
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    main()
