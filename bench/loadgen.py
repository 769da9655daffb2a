"""An open-loop HTTP load generator, run as a process of its own.

`python -m bench.loadgen SPEC_JSON` where the spec is {"urls", "method", "headers", "body",
"rate", "seconds", "expect"}: requests go to the URLs in turn (as a load balancer would),
and are sent at `rate` per second on a fixed schedule,
whatever the answers' latency (open loop), and each latency is counted from the moment its
request was due, so a server that falls behind is not hidden by a client that waits for it.
Prints one JSON object: sent, errors (with a sample), latencies in ms (p50, p90, p99, max),
the achieved rate, and the ids the answers carried (`execution_id`) when asked to.

With "concurrency": N in the spec instead of "rate", the load is closed instead: N clients
each send their next request as soon as the last one is answered, for `seconds`; the rate is
then the answers per second (the most the server delivers), latencies counted from sending.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from typing import Any

import aiohttp


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[rank]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Send the load described by `spec` and return its summary."""
    if spec.get("concurrency"):
        return await closed(spec)
    rate = float(spec["rate"])
    urls = list(spec["urls"])
    total = int(rate * float(spec["seconds"]))
    expect = set(spec.get("expect", [200]))
    body = json.dumps(spec["body"]).encode() if spec.get("body") is not None else None
    headers = {**spec.get("headers", {})}
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    latencies: list[float] = []
    errors: list[str] = []
    ids: list[str] = []
    connector = aiohttp.TCPConnector(limit=int(spec.get("connections", 2000)))
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 30)))
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(due: float, url: str) -> None:
            try:
                async with session.request(
                    spec.get("method", "GET"), url, data=body, headers=headers
                ) as response:
                    payload = await response.read()
                    if response.status not in expect:
                        errors.append(f"{response.status} {payload[:200]!r}")
                        return
                    if spec.get("collect_ids"):
                        ids.append(json.loads(payload)["execution_id"])
            except Exception as exc:  # every failure is counted, none stops the load
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            latencies.append((time.perf_counter() - due) * 1000)

        tasks = []
        started = time.perf_counter()
        for index in range(total):
            due = started + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, urls[index % len(urls)])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return {
        "sent": total,
        "ok": len(latencies),
        "errors": len(errors),
        "error_sample": errors[:3],
        "seconds": elapsed,
        "rate": total / elapsed if elapsed else 0.0,
        "p50_ms": _percentile(latencies, 0.50),
        "p90_ms": _percentile(latencies, 0.90),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": max(latencies, default=float("nan")),
        "ids": ids,
    }


async def closed(spec: dict[str, Any]) -> dict[str, Any]:
    """Closed loop: `concurrency` clients sending back to back for `seconds`."""
    urls = list(spec["urls"])
    expect = set(spec.get("expect", [200]))
    headers = {**spec.get("headers", {})}
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=int(spec["concurrency"]))
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 30)))
    started = time.perf_counter()
    stop = started + float(spec["seconds"])
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client(index: int) -> None:
            sent = index
            while time.perf_counter() < stop:
                began = time.perf_counter()
                try:
                    url = urls[sent % len(urls)]
                    async with session.request(
                        spec.get("method", "GET"), url, headers=headers
                    ) as response:
                        payload = await response.read()
                        if response.status not in expect:
                            errors.append(f"{response.status} {payload[:200]!r}")
                            continue
                except Exception as exc:  # counted, the client goes on
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                finally:
                    sent += 1
                latencies.append((time.perf_counter() - began) * 1000)

        await asyncio.gather(*(client(i) for i in range(int(spec["concurrency"]))))
    elapsed = time.perf_counter() - started
    return {
        "sent": len(latencies) + len(errors),
        "ok": len(latencies),
        "errors": len(errors),
        "error_sample": errors[:3],
        "seconds": elapsed,
        "rate": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": _percentile(latencies, 0.50),
        "p90_ms": _percentile(latencies, 0.90),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": max(latencies, default=float("nan")),
        "ids": [],
    }


def main() -> None:
    """Read the spec from argv, run it, print the summary."""
    spec = json.loads(sys.argv[1])
    try:
        import uvloop

        summary = uvloop.run(run(spec))
    except ImportError:
        summary = asyncio.run(run(spec))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
