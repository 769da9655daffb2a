"""Hand-written DBOS peers of B3, B4, B5 and B8: the same work as the product's runs, written
directly on DBOS, in processes of their own, on a database of their own on the same server.

- `python -m bench.dbos_peer worker URL QUEUE=CONCURRENCY ...`: a DBOS worker process that
  registers the queues (global concurrency, polled every 50 ms as the product's task queues
  are) and runs what is enqueued on them until SIGTERM; prints `ready` once launched.
- `python -m bench.dbos_peer webhook URL PORT QUEUE`: a minimal FastAPI webhook (uvicorn, as
  `wfb api` runs) that checks an `X-API-Key` header and enqueues one run per request with a
  DBOS client, answering 202 with the run's id.
- `python -m bench.dbos_peer fanout URL BRANCHES SECONDS RUNS`: times the fan-out workflow
  started directly in this process; prints one JSON object.

The harness side (`PeerWorkers`, `enqueue_at_once`, `drain_rate`, ...) is below the
workflows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from dbos import DBOS, DBOSClient

APP = "bench-dbos-peer"
VERSION = "bench-peer-1"
# As the product's task queues (runtime/engines/dbos.py: QUEUE_POLLING_SECONDS).
QUEUE_POLLING_SECONDS = 0.05
# As the product's worker (runtime/engines/dbos.py: launch_worker).
EXECUTOR_THREADS = 64
API_KEY_ENV = "BENCH_PEER_API_KEY"


# -- the peer's workflows -----------------------------------------------------------------------


@DBOS.step()
def sleep_step(seconds: float) -> dict[str, Any]:
    """Sleep, as `bench.components:sleep` does."""
    time.sleep(seconds)
    return {}


@DBOS.workflow(name="peer_sleep")
def sleep_run(seconds: float) -> dict[str, Any]:
    """B3: one step sleeping `seconds`."""
    return sleep_step(seconds)


@DBOS.step()
def echo_step(body: dict[str, Any]) -> dict[str, Any]:
    """Hand back one field of the input, as B4's `transform` node does."""
    return {"order": body.get("order")}


@DBOS.workflow(name="peer_echo")
def echo_run(body: dict[str, Any]) -> dict[str, Any]:
    """B4: one step echoing the request's body."""
    return echo_step(body)


@DBOS.step()
def light_step(index: int, value: dict[str, Any]) -> dict[str, Any]:
    """A trivial step, as in the B1 floor."""
    return {"index": index, **value}


@DBOS.workflow(name="peer_chain")
def chain_run(steps: int) -> dict[str, Any]:
    """B5: `steps` sequential checkpointed steps."""
    value: dict[str, Any] = {}
    for index in range(steps):
        value = light_step(index, {"step": value.get("index")})
    return value


@DBOS.step()
async def async_sleep_step(seconds: float) -> dict[str, Any]:
    """A call of `seconds` that leaves the event loop free (B8's branches)."""
    await asyncio.sleep(seconds)
    return {}


@DBOS.workflow(name="peer_fan_out")
async def fan_out_run(branches: int, seconds: float) -> int:
    """B8: `branches` checkpointed calls at once, joined."""
    results = await asyncio.gather(*(async_sleep_step(seconds) for _ in range(branches)))
    return len(results)


# -- the processes ------------------------------------------------------------------------------


def _launch(url: str, queues: dict[str, int]) -> None:
    config: Any = {
        "name": APP,
        "system_database_url": url,
        "application_version": VERSION,
        "executor_id": f"peer-{uuid.uuid4().hex[:8]}",
        # The harness copies the peer's databases from a migrated template.
        "run_migrations": False,
        "max_executor_threads": EXECUTOR_THREADS,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    for name, concurrency in queues.items():
        DBOS.register_queue(
            name,
            global_concurrency=concurrency,
            polling_interval_sec=QUEUE_POLLING_SECONDS,
            on_conflict="always_update",
        )


def _wait_for_sigterm() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def worker(url: str, specs: Sequence[str]) -> None:
    """Run a DBOS worker on the queues `NAME=CONCURRENCY` until SIGTERM."""
    queues = {name: int(limit) for name, limit in (spec.split("=", 1) for spec in specs)}
    _launch(url, queues)
    print("ready", flush=True)
    _wait_for_sigterm()
    DBOS.destroy(workflow_completion_timeout_sec=0)


def webhook(url: str, port: int, queue: str) -> None:
    """Serve the minimal webhook: check the key, enqueue, answer 202."""
    import uvicorn
    from fastapi import FastAPI, Header, HTTPException

    key = os.environ[API_KEY_ENV]
    client = DBOSClient(system_database_url=url, application_name=APP)
    app = FastAPI()

    @app.post("/hooks/{path:path}", status_code=202)
    def hook(path: str, body: dict[str, Any], x_api_key: str = Header("")) -> dict[str, str]:
        if not hmac.compare_digest(x_api_key.encode(), key.encode()):
            raise HTTPException(401, "bad API key")
        handle = client.enqueue(
            {"workflow_name": "peer_echo", "queue_name": queue, "app_version": VERSION}, body
        )
        return {"execution_id": handle.get_workflow_id()}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    print("ready", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, log_level="warning")


# -- the harness side ---------------------------------------------------------------------------


def _python_env() -> dict[str, str]:
    from bench.harness import ROOT

    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


def _wait_ready(process: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while "ready" not in process.output():
        process.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.name} never got ready:\n{process.output()}")
        time.sleep(0.05)


_template: list[str] = []
# The smoke run (--quick) shares one peer database and one peer worker among the benchmarks.
_shared: dict[str, Any] = {}


def _peer_template() -> str:
    """Return a database with DBOS's system tables (made once per process) to copy from."""
    if not _template:
        import atexit

        import psycopg

        from bench.harness import _drop_database, server_url, with_database

        admin = server_url()
        name = f"wfb_bench_dbos_template_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        atexit.register(_drop_database, admin, name)
        DBOS.migrate(with_database(admin, name))
        _template.append(name)
    return _template[0]


@contextlib.contextmanager
def peer_database(prefix: str) -> Iterator[str]:
    """Yield the URL of a database for the peer, with DBOS's tables (shared in quick mode)."""
    from bench.harness import quick, scratch_database

    if not quick():
        with scratch_database(prefix, template=_peer_template()) as url:
            yield url
        return
    if "url" not in _shared:
        import atexit

        resources = contextlib.ExitStack()
        _shared["url"] = resources.enter_context(
            scratch_database("wfb_bench_dbos", template=_peer_template())
        )
        atexit.register(resources.close)
    yield _shared["url"]


@contextlib.contextmanager
def peer_workers(url: str, count: int, queues: dict[str, int]) -> Iterator[list[Any]]:
    """Start `count` peer worker processes on `url` serving `queues`; stop them afterwards.

    In quick mode, one worker (started once, stopped at exit) serves every benchmark: it
    listens to every queue, so new ones are only registered.
    """
    from bench.harness import Process, quick

    if quick() and "worker" in _shared:
        client = DBOSClient(system_database_url=url, application_name=APP)
        try:
            for name, limit in queues.items():
                client.register_queue(
                    name, global_concurrency=limit, polling_interval_sec=QUEUE_POLLING_SECONDS
                )
        finally:
            client.destroy()
        yield [_shared["worker"]]
        return
    specs = [f"{name}={limit}" for name, limit in queues.items()]
    processes: list[Any] = [
        Process(
            [sys.executable, "-m", "bench.dbos_peer", "worker", url, *specs],
            _python_env(),
            f"dbos-peer-worker{index}",
        )
        for index in range(count)
    ]
    try:
        for process in processes:
            _wait_ready(process)
        if quick():
            import atexit

            _shared["worker"] = processes[0]
            atexit.register(processes[0].stop)
            processes = processes[1:]
        yield [_shared["worker"], *processes] if quick() else processes
    finally:
        for process in processes:
            process.stop()


@contextlib.contextmanager
def peer_webhook(url: str, queue: str, key: str) -> Iterator[tuple[Any, str]]:
    """Start the peer's webhook process; yield it and its base URL."""

    from bench.harness import Process, free_port

    port = free_port()
    process = Process(
        [sys.executable, "-m", "bench.dbos_peer", "webhook", url, str(port), queue],
        {**_python_env(), API_KEY_ENV: key},
        "dbos-peer-webhook",
    )
    base = f"http://127.0.0.1:{port}"
    from bench.harness import wait_healthy

    try:
        wait_healthy(process, base, "the peer webhook", timeout=120)
        yield process, base
    finally:
        process.stop()


def _engine(url: str) -> Any:
    import sqlalchemy

    return sqlalchemy.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=None
    )


def enqueue_at_once(url: str, workflow: str, queue: str, args: Sequence[Any], runs: int) -> float:
    """Enqueue `runs` runs of `workflow(*args)` in one transaction (as the product's B3 does);
    return the wall time of its commit (the server's clock)."""
    engine = _engine(url)
    client = DBOSClient(system_database_engine=engine, application_name=APP)
    try:
        with engine.begin() as conn:
            for _ in range(runs):
                client.enqueue_in_transaction(
                    conn,
                    {"workflow_name": workflow, "queue_name": queue, "app_version": VERSION},
                    *args,
                )
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute("select extract(epoch from clock_timestamp())").fetchone()
        return float(row[0]) if row else time.time()
    finally:
        client.destroy()
        engine.dispose()


class PeerClient:
    """Enqueues single peer runs and waits for each (the harness's side of B8)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        self.client = DBOSClient(system_database_url=url, application_name=APP)
        self.conn = psycopg.connect(url, autocommit=True)
        # Status polls sent (each one is a transaction of the peer's database).
        self.polls = 0

    def run(self, workflow: str, queue: str, *args: Any, poll: float = 0.002) -> str:
        """Enqueue one run and poll its status every `poll` seconds until it ends; return its
        status."""
        handle = self.client.enqueue(
            {"workflow_name": workflow, "queue_name": queue, "app_version": VERSION}, *args
        )
        query = "select status from dbos.workflow_status where workflow_uuid = %s"
        while True:
            row = self.conn.execute(query, (handle.get_workflow_id(),)).fetchone()
            self.polls += 1
            if row and row[0] not in ("ENQUEUED", "PENDING", "DELAYED"):
                return str(row[0])
            time.sleep(poll)

    def close(self) -> None:
        """Close the client and the connection."""
        self.client.destroy()
        self.conn.close()


def wait_queue_drained(url: str, queue: str, runs: int, timeout: float) -> float:
    """Wait until `runs` runs of `queue` succeeded; return the epoch of the last one's end."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "select count(*) filter (where status = 'SUCCESS'), "
                "count(*) filter (where status in ('ERROR', 'CANCELLED', "
                "'MAX_RECOVERY_ATTEMPTS_EXCEEDED')), max(updated_at) "
                "from dbos.workflow_status where queue_name = %s",
                (queue,),
            ).fetchone()
            assert row is not None
            done, failed, last = int(row[0]), int(row[1]), row[2]
            if failed:
                raise RuntimeError(f"{failed} peer runs on {queue} failed")
            if done >= runs:
                return float(last) / 1000
            if time.monotonic() > deadline:
                raise TimeoutError(f"peer queue {queue}: {done}/{runs} done")
            time.sleep(0.1)


def count_succeeded(url: str, ids: Sequence[str]) -> int:
    """Return how many of the peer runs `ids` succeeded."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from dbos.workflow_status where workflow_uuid = any(%s) "
            "and status = 'SUCCESS'",
            (list(ids),),
        ).fetchone()
    return int(row[0]) if row else 0


def time_fan_out(url: str, branches: int, seconds: float, runs: int) -> list[float]:
    """Launch the peer in this process; return the seconds of `runs` fan-out runs, each from
    its start to its result (after one warm-up run)."""
    _launch(url, {})
    try:
        samples = []
        for index in range(runs + 1):
            started = time.perf_counter()
            DBOS.start_workflow(fan_out_run, branches, seconds).get_result()
            if index:
                samples.append(time.perf_counter() - started)
        return samples
    finally:
        DBOS.destroy(workflow_completion_timeout_sec=0)


def main() -> None:
    """Dispatch `worker`, `webhook` or `fanout`."""
    mode, url, *rest = sys.argv[1:]
    if mode == "worker":
        worker(url, rest)
    elif mode == "webhook":
        webhook(url, int(rest[0]), rest[1])
    elif mode == "fanout":
        import json

        samples = time_fan_out(url, int(rest[0]), float(rest[1]), int(rest[2]))
        print(json.dumps({"seconds": samples}), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
