"""The engine runs workflows on its own event loop, whatever loop the launching thread runs.

A process that launches its worker from a thread with a running event loop (an async server's
start-up, a browser driver's loop) must not lend that loop to the runs: it may stay blocked for
long stretches, and every run submitted to it would wait with it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import DatabaseFactory

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from workflow_builder.runtime.engines import dbos

    async def main():
        dbos.launch_worker(sys.argv[1], executor_id="loop-test", queues=[])
        try:
            engine = dbos.engine_loop()
            print("own" if engine is not asyncio.get_running_loop() else "borrowed")
        finally:
            dbos.shutdown_worker()

    asyncio.run(main())
    """
)


def test_a_worker_launched_inside_a_running_loop_keeps_its_own(
    database_factory: DatabaseFactory,
) -> None:
    url = database_factory.create()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "own"
