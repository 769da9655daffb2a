"""The peer for B1: the same 40 trivial steps as a Prefect 3 flow of 40 tasks.

Runs in its own virtual environment (Prefect's dependencies stay out of the product's), against
a `prefect server` the harness started on the same PostgreSQL; `PREFECT_API_URL` names it.
`python bench/prefect_flow.py STEPS RUNS` prints one JSON object: the seconds of each flow
run, from calling the flow to having its result.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from prefect import flow, task


@task
def light_step(index: int, value: dict[str, Any]) -> dict[str, Any]:
    """A trivial task: hand back its input."""
    return {"index": index, **value}


@flow
def forty_steps(steps: int) -> dict[str, Any]:
    """`steps` sequential tasks."""
    value: dict[str, Any] = {}
    for index in range(steps):
        value = light_step(index, {"previous": value.get("index")})
    return value


def main() -> None:
    """Time the flow `runs` times after one warm-up run."""
    steps, runs = int(sys.argv[1]), int(sys.argv[2])
    forty_steps(steps)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        forty_steps(steps)
        samples.append(time.perf_counter() - started)
    print(json.dumps({"flow": samples}), flush=True)


if __name__ == "__main__":
    main()
