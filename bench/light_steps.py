"""B1: one workflow of 40 sequential trivial activity nodes, from the start request to the
completed run; beside the same 40 steps as a hand-written DBOS workflow and as a Prefect 3
flow, on the same PostgreSQL server in the same invocation."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.harness import (
    ROOT,
    Process,
    Spread,
    free_port,
    machine,
    progress,
    quick,
    repeat,
    scratch_database,
    server_url,
    stack,
    update_docs,
    wait_terminal,
)

SECTION = "B1 — 40 light steps"
PREFECT_VENV = ROOT / ".venv-bench-prefect"
PREFECT_REQUIREMENT = "prefect>=3,<4"


def _settings() -> tuple[int, int]:
    """Return (steps, runs)."""
    return (5, 2) if quick() else (40, 7)


def measure_product(steps: int, runs: int) -> tuple[Spread, Spread]:
    """Return the client-side seconds and the database's own duration of each run."""
    from bench.harness import chain_definition

    with stack() as running:
        api = running.sign_up()
        project = api.project("b1")
        running.start_worker(project["id"])
        definition = chain_definition(steps, "transform", {"step": "input.step"})
        workflow_id = api.deploy(definition, project)
        database: list[float] = []
        with psycopg.connect(running.database_url, autocommit=True) as conn:

            def one() -> float:
                started = time.perf_counter()
                execution_id = api.start(workflow_id, {"step": 1})
                status = wait_terminal(conn, execution_id)
                elapsed = time.perf_counter() - started
                if status != "completed":
                    raise RuntimeError(f"run {execution_id} ended {status}")
                row = conn.execute(
                    "select duration_ms from workflow_executions where id = %s", (execution_id,)
                ).fetchone()
                database.append(float(row[0]) / 1000 if row else float("nan"))
                return elapsed

            one()  # warm-up: first imports, plan cache, connection pools
            database.clear()
            client = repeat(runs, one, "B1 product")
        return client, Spread.of(database)


def measure_dbos(steps: int, runs: int) -> tuple[Spread, Spread]:
    """Return the hand-written DBOS workflow's seconds, started directly and through a queue."""
    with scratch_database("wfb_bench_dbos") as url:
        result = subprocess.run(
            [sys.executable, "-m", "bench.dbos_floor", url, str(steps), str(runs)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"the DBOS floor failed:\n{result.stderr[-3000:]}")
    samples = _last_json(result.stdout)
    progress(f"B1 DBOS direct: {samples['direct']}")
    return Spread.of(samples["direct"]), Spread.of(samples["queued"])


def _last_json(output: str) -> dict[str, Any]:
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            value: dict[str, Any] = json.loads(line)
            return value
    raise RuntimeError(f"no result in:\n{output[-3000:]}")


def prefect_python() -> Path:
    """Return the Python of the Prefect venv, creating it (pip install) when missing."""
    python = PREFECT_VENV / "bin" / "python"
    marker = PREFECT_VENV / ".installed"
    if not marker.exists():
        progress(f"installing {PREFECT_REQUIREMENT} into {PREFECT_VENV.name}")
        subprocess.run([sys.executable, "-m", "venv", str(PREFECT_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", PREFECT_REQUIREMENT, "asyncpg"],
            check=True,
        )
        marker.touch()
    return python


@contextlib.contextmanager
def prefect_server(python: Path, database_url: str) -> Iterator[dict[str, str]]:
    """Run `prefect server start` on `database_url`; yield the environment of its clients."""
    port = free_port()
    home = tempfile.mkdtemp(prefix="wfb-bench-prefect-")
    asyncpg_url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    env = {
        **os.environ,
        "PREFECT_HOME": home,
        "PREFECT_API_DATABASE_CONNECTION_URL": asyncpg_url,
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    server = Process([str(python.with_name("prefect")), "server", "start"], env, "prefect")
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            server.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"prefect server never answered:\n{server.output()}")
            time.sleep(0.5)
        yield {**env, "PREFECT_API_URL": api_url}
    finally:
        server.stop()


def measure_prefect(steps: int, runs: int) -> Spread:
    """Return the seconds of the Prefect 3 flow, against a Prefect server on the same PG."""
    python = prefect_python()
    with scratch_database("wfb_bench_prefect") as url, prefect_server(python, url) as env:
        result = subprocess.run(
            [str(python), str(ROOT / "bench" / "prefect_flow.py"), str(steps), str(runs)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"the Prefect flow failed:\n{result.stderr[-3000:]}")
    samples = _last_json(result.stdout)["flow"]
    progress(f"B1 Prefect: {samples}")
    return Spread.of(samples)


def section(
    steps: int,
    product: Spread,
    database: Spread,
    direct: Spread,
    queued: Spread,
    prefect: Spread | None,
    where: str,
) -> str:
    """Return the Markdown section."""
    ratio_dbos = product.median / direct.median
    ratio_queued = product.median / queued.median
    speedup = prefect.median / product.median if prefect else float("nan")
    rows = "\n".join(
        f"| {label} | {spread.cell()} | {spread.median / product.median:.2f}x |"
        for label, spread in (
            ("Workflow Builder: HTTP start -> completed", product),
            ("Workflow Builder: the run's own `duration_ms` (insert -> closed)", database),
            (f"hand-written DBOS workflow, {steps} `@DBOS.step`s, start -> result", direct),
            ("the same DBOS workflow through a DBOS queue polled every 50 ms", queued),
            (f"Prefect 3 flow of {steps} `@task`s, `prefect server` on the same PG", prefect),
        )
        if spread is not None
    )
    verdict = (
        f"target ≤ 0.25 s: {'met' if product.median <= 0.25 else 'missed'}; "
        f"≤ 0.5x the hand-written DBOS workflow (pure nodes need no checkpoint): "
        f"{'met' if ratio_dbos <= 0.5 else 'missed'} ({ratio_dbos:.2f}x)"
    )
    if prefect is not None:
        verdict += (
            f"; ≥ 10x faster than Prefect: {'met' if speedup >= 10 else 'missed'} ({speedup:.1f}x)"
        )
    else:
        verdict += "; Prefect not run in this invocation (WFB_BENCH_SKIP_PEERS=1)"
    return f"""## {SECTION}

`python -m bench.light_steps` — {where}.

One workflow of {steps} sequential `transform` nodes (each evaluates one input expression and
hands it back), started with `POST /api/v1/workflows/{{id}}/executions` on a `wfb api` process
and run by one `wfb worker` process; the clock runs from just before the POST to the moment the
execution row reads `completed` (the harness polls the row every 2 ms). Each system runs once
to warm up, then {product.count} timed runs; seconds, median (min-max).

| system | seconds per run | vs this product |
| --- | ---: | ---: |
{rows}

Result: {verdict}. Against the DBOS workflow started through a queue (as the product's runs
are), the product takes {ratio_queued:.2f}x.

Published figures for 40 light steps on a 2-vCPU AWS m4.large (not measured here): Hatchet
1.22 s, Windmill 2.09 s, Temporal 2.97 s, Prefect 4.87 s, Airflow 116 s.

How the peers run: the DBOS floor is `bench/dbos_floor.py` in a process of its own with its own
database on the same server; Prefect 3 runs from its own virtual environment
(`.venv-bench-prefect`, created on first use with `pip install '{PREFECT_REQUIREMENT}'`) as
`bench/prefect_flow.py`, calling the flow in-process against a `prefect server start
--no-services` whose database (`PREFECT_API_DATABASE_CONNECTION_URL`, asyncpg) is another
database on the same PostgreSQL server. Prefect's timing starts at the flow call, so it does
not include any queueing: it is the lower bound of a Prefect run.
"""


def main() -> None:
    """Measure all three and update docs/benchmarks.md."""
    steps, runs = _settings()
    where = machine(server_url())
    progress(f"B1: {steps} steps, {runs} runs each: the product")
    product, database = measure_product(steps, runs)
    progress("B1: the hand-written DBOS workflow")
    direct, queued = measure_dbos(steps, runs)
    prefect = None
    if os.environ.get("WFB_BENCH_SKIP_PEERS") != "1":
        progress("B1: Prefect 3")
        prefect = measure_prefect(steps, runs)
    text = section(steps, product, database, direct, queued, prefect, where)
    print(text, flush=True)
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    main()
