"""Component implementations the benchmarks register through the API (`bench.components:...`).

Workers import them from this checkout (the harness puts it on their PYTHONPATH).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from workflow_builder.activities.contract import ActivityContext


def fib(n: int) -> int:
    """Return the n-th Fibonacci number, the slow recursive way (CPU-bound on purpose)."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fibonacci(
    config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext
) -> Any:
    """Compute fib(config.n)."""
    return {"value": fib(int(config.get("n", inputs.get("n", 33))))}


def sleep(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Sleep config.seconds (default 0.1)."""
    time.sleep(float(config.get("seconds", 0.1)))
    return {}


def noop(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Return nothing, at once."""
    return {}
