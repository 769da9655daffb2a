"""Hand-written Temporal peers of B1, B3 and B4 on the Temporal engine: the same work written
directly with the temporalio SDK, in processes of their own, against the same Temporal server.

- `python -m bench.temporal_peer worker ADDRESS QUEUE`: a Temporal worker with the peer's
  workflows and activities (activities on a pool of 64 threads, as `wfb worker`'s) until
  SIGTERM; prints `ready` once polling.
- `python -m bench.temporal_peer webhook ADDRESS PORT QUEUE`: a minimal FastAPI webhook
  (uvicorn) that checks an `X-API-Key` header and starts one `PeerEcho` workflow per request,
  answering 202 with its id. An `X-Bench-Batch` header prefixes the ids, so the harness can
  count a batch's completions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import os
import signal
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# As the product's Temporal worker (runtime/engines/temporal/worker.py: ACTIVITY_THREADS).
ACTIVITY_THREADS = 64
API_KEY_ENV = "BENCH_PEER_API_KEY"
TIMEOUT = timedelta(seconds=60)


@activity.defn(name="peer_light")
def light(index: int, value: dict[str, Any]) -> dict[str, Any]:
    """A trivial activity: hand back its input (B1)."""
    return {"index": index, **value}


@activity.defn(name="peer_sleep")
def sleep(seconds: float) -> dict[str, Any]:
    """Sleep on a worker thread (B3)."""
    time.sleep(seconds)
    return {}


@activity.defn(name="peer_echo")
def echo(body: dict[str, Any]) -> dict[str, Any]:
    """Hand back one field of the body (B4)."""
    return {"order": body.get("order")}


@workflow.defn(name="PeerChain")
class PeerChain:
    """B1: `steps` sequential activities."""

    @workflow.run
    async def run(self, steps: int) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for index in range(steps):
            value = await workflow.execute_activity(
                light, args=[index, {"step": value.get("index")}], start_to_close_timeout=TIMEOUT
            )
        return value


@workflow.defn(name="PeerSleep")
class PeerSleep:
    """B3: one activity sleeping `seconds`."""

    @workflow.run
    async def run(self, seconds: float) -> dict[str, Any]:
        return await workflow.execute_activity(sleep, seconds, start_to_close_timeout=TIMEOUT)


@workflow.defn(name="PeerEcho")
class PeerEcho:
    """B4: one activity echoing the request's body."""

    @workflow.run
    async def run(self, body: dict[str, Any]) -> dict[str, Any]:
        return await workflow.execute_activity(echo, body, start_to_close_timeout=TIMEOUT)


WORKFLOWS = [PeerChain, PeerSleep, PeerEcho]
ACTIVITIES = [light, sleep, echo]


async def _worker(address: str, queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with concurrent.futures.ThreadPoolExecutor(ACTIVITY_THREADS) as executor:
        worker = Worker(
            client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=ACTIVITIES,
            activity_executor=executor,
            max_concurrent_activities=ACTIVITY_THREADS,
        )
        async with worker:
            print("ready", flush=True)
            await stop.wait()


def webhook(address: str, port: int, queue: str) -> None:
    """Serve the minimal webhook: check the key, start the workflow, answer 202."""
    import uvicorn
    from fastapi import FastAPI, Header, HTTPException

    key = os.environ[API_KEY_ENV]
    app = FastAPI()
    clients: list[Client] = []

    @app.post("/hooks/{path:path}", status_code=202)
    async def hook(
        path: str,
        body: dict[str, Any],
        x_api_key: str = Header(""),
        x_bench_batch: str = Header("batch"),
    ) -> dict[str, str]:
        if not hmac.compare_digest(x_api_key.encode(), key.encode()):
            raise HTTPException(401, "bad API key")
        if not clients:
            clients.append(await Client.connect(address))
        workflow_id = f"{x_bench_batch}-{uuid.uuid4()}"
        await clients[0].start_workflow("PeerEcho", body, id=workflow_id, task_queue=queue)
        return {"execution_id": workflow_id}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, log_level="warning")


def main() -> None:
    """Dispatch `worker` or `webhook`."""
    mode, address, *rest = sys.argv[1:]
    if mode == "worker":
        asyncio.run(_worker(address, rest[0]))
    elif mode == "webhook":
        webhook(address, int(rest[0]), rest[1])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
