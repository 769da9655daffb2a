"""The floor for B1: 40 trivial steps as a hand-written DBOS workflow, timed in its own process.

Run by `bench.light_steps` as `python -m bench.dbos_floor DATABASE_URL STEPS RUNS`; prints one
JSON object: the seconds of each run, from starting the workflow to having its result, once
started directly and once through a queue polled as often as the product's queues.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from dbos import DBOS

QUEUE_POLLING_SECONDS = 0.05


@DBOS.step()
def light_step(index: int, value: dict[str, Any]) -> dict[str, Any]:
    """A trivial step: hand back its input, as the product's transform does."""
    return {"index": index, **value}


@DBOS.workflow()
def forty_steps(steps: int) -> dict[str, Any]:
    """`steps` sequential checkpointed steps."""
    value: dict[str, Any] = {}
    for index in range(steps):
        value = light_step(index, {"previous": value.get("index")})
    return value


def main() -> None:
    """Time the workflow, started directly and through a queue."""
    url, steps, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    config: Any = {
        "name": "bench-dbos-floor",
        "system_database_url": url,
        "run_migrations": True,
    }
    DBOS(config=config)
    DBOS.launch()
    queue = DBOS.register_queue("bench-floor", polling_interval_sec=QUEUE_POLLING_SECONDS)
    DBOS.start_workflow(forty_steps, steps).get_result()  # warm-up
    direct, queued = [], []
    for _ in range(runs):
        started = time.perf_counter()
        DBOS.start_workflow(forty_steps, steps).get_result()
        direct.append(time.perf_counter() - started)
    for _ in range(runs):
        started = time.perf_counter()
        queue.enqueue(forty_steps, steps).get_result(polling_interval_sec=0.002)
        queued.append(time.perf_counter() - started)
    print(json.dumps({"direct": direct, "queued": queued}), flush=True)
    DBOS.destroy()


if __name__ == "__main__":
    main()
