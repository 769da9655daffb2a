"""`python_code`: run a user's `def main(inputs)` in a separate, resource-limited process.

The code runs in a fresh `python -I` process (no user site-packages, no PYTHON* variables, an
empty environment, a throw-away working directory) with limits on CPU seconds (RLIMIT_CPU),
memory (RLIMIT_AS), wall time (the process group is killed) and output size. It is NOT a
security sandbox: the process runs as the worker's OS user and can reach the network and the
file system that user can. Run workers in a container or VM when the code is untrusted.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workflow_builder.activities.contract import ActivityContext, ActivityError, ComponentSpec

RUNNER = Path(__file__).with_name("_python_runner.py")
_MB = 1024 * 1024
_STDERR_TAIL = 4000
_READ_CHUNK = 65536

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "code": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200_000,
            "description": "Python source defining main(inputs) -> JSON-serializable value.",
        },
        "cpu_seconds": {"type": "integer", "minimum": 1, "maximum": 600, "default": 10},
        "memory_mb": {"type": "integer", "minimum": 64, "maximum": 16384, "default": 256},
        "wall_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600, "default": 30},
        "max_output_bytes": {
            "type": "integer",
            "minimum": 1024,
            "maximum": 64 * _MB,
            "default": _MB,
            "description": "Cap on what the code prints and on its JSON result, each.",
        },
    },
    "required": ["code"],
    "additionalProperties": False,
}

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "description": "Passed to main(inputs) as a dict.",
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "result": {"description": "What main(inputs) returned."},
        "stdout": {"type": "string", "description": "What the code printed."},
    },
    "required": ["result", "stdout"],
    "additionalProperties": False,
}

SPEC = ComponentSpec(
    name="python_code",
    display_name="Python code",
    description="Run a Python function main(inputs) in a separate process with CPU, memory, "
    "time and output limits.",
    component_type="activity",
    implementation_path="workflow_builder.activities.python_code:run",
    config_schema=CONFIG_SCHEMA,
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    tags=("code", "python"),
    capabilities=("code-execution",),
)


def _limit_exceeded(limit: str, value: float, message: str) -> ActivityError:
    return ActivityError(
        message,
        error_type="ResourceLimitExceeded",
        retryable=False,
        details={"limit": limit, "value": value},
    )


class _Outcome:
    """What the child left: its output, the tail of its stderr, and why it stopped."""

    def __init__(self) -> None:
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.timed_out = False
        self.output_exceeded = False
        self.returncode = 0


def _kill(process: subprocess.Popen[bytes]) -> None:
    # The code may have started processes of its own: kill the whole group it leads.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _communicate(
    process: subprocess.Popen[bytes], request: bytes, wall_seconds: float, stdout_cap: int
) -> _Outcome:
    """Feed stdin and drain stdout/stderr until the child exits, enforcing time and size."""
    assert process.stdin and process.stdout and process.stderr
    outcome = _Outcome()
    deadline = time.monotonic() + wall_seconds
    pending = memoryview(request)
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdin, selectors.EVENT_WRITE)
        selector.register(process.stdout, selectors.EVENT_READ)
        selector.register(process.stderr, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome.timed_out = True
                _kill(process)
                break
            for key, _ in selector.select(remaining):
                if key.fileobj is process.stdin:
                    try:
                        # At most PIPE_BUF bytes: a write that size never blocks once the
                        # selector reports the pipe writable, so the deadline still holds.
                        written = os.write(process.stdin.fileno(), pending[: select.PIPE_BUF])
                    except BrokenPipeError:
                        written = len(pending)
                    pending = pending[written:]
                    if not pending:
                        selector.unregister(process.stdin)
                        process.stdin.close()
                    continue
                chunk = os.read(key.fd, _READ_CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.fileobj is process.stdout:
                    outcome.stdout += chunk
                    if len(outcome.stdout) > stdout_cap:
                        outcome.output_exceeded = True
                        _kill(process)
                        break
                else:
                    outcome.stderr = (outcome.stderr + chunk)[-_STDERR_TAIL:]
            if outcome.output_exceeded:
                break
    outcome.returncode = process.wait()
    return outcome


def _failure(envelope: Mapping[str, Any], limits: Mapping[str, Any]) -> ActivityError:
    error, message = envelope["error"], envelope["message"]
    if error == "MemoryLimit":
        return _limit_exceeded(
            "memory_mb", limits["memory_mb"], f"memory_mb exceeded ({limits['memory_mb']} MB)"
        )
    if error == "OutputLimit":
        return _limit_exceeded(
            "max_output_bytes",
            limits["max_output_bytes"],
            f"max_output_bytes exceeded (output over {limits['max_output_bytes']} bytes)",
        )
    trace = envelope.get("traceback") or ""
    return ActivityError(
        f"{message}\n{trace}".strip(),
        error_type="UserCodeError",
        retryable=False,
        details={"traceback": trace},
    )


def _envelope(outcome: _Outcome, limits: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the successful envelope the child wrote, or raise why there is none."""
    if outcome.timed_out:
        wall = limits["wall_seconds"]
        raise _limit_exceeded("wall_seconds", wall, f"wall_seconds exceeded ({wall} s)")
    if outcome.output_exceeded:
        cap = limits["max_output_bytes"]
        raise _limit_exceeded(
            "max_output_bytes", cap, f"max_output_bytes exceeded (result over {cap} bytes)"
        )
    if outcome.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        cpu = limits["cpu_seconds"]
        raise _limit_exceeded("cpu_seconds", cpu, f"cpu_seconds exceeded ({cpu} s of CPU)")
    if outcome.returncode == -signal.SIGXFSZ:
        cap = limits["max_output_bytes"]
        raise _limit_exceeded(
            "max_output_bytes", cap, f"max_output_bytes exceeded (a file over {cap} bytes)"
        )
    try:
        envelope = json.loads(outcome.stdout)
    except ValueError:
        stderr = outcome.stderr.decode(errors="replace").strip()
        raise ActivityError(
            f"The code's process ended without a result (exit status {outcome.returncode})"
            + (f": {stderr}" if stderr else ""),
            error_type="UserCodeError",
            retryable=False,
        ) from None
    if not envelope["ok"]:
        raise _failure(envelope, limits)
    result: Mapping[str, Any] = envelope
    return result


def run(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Run `main(inputs)` in a limited child process; return {result, stdout}."""
    limits = {
        "cpu_seconds": config.get("cpu_seconds", 10),
        "memory_mb": config.get("memory_mb", 256),
        "wall_seconds": config.get("wall_seconds", 30),
        "max_output_bytes": config.get("max_output_bytes", _MB),
    }
    request = json.dumps({"code": config["code"], "inputs": dict(inputs)}).encode()
    command = [
        sys.executable,
        "-I",
        str(RUNNER),
        str(limits["cpu_seconds"]),
        str(limits["memory_mb"] * _MB),
        str(limits["max_output_bytes"]),
    ]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="wfb-code-") as workdir:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env={"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": workdir},
            start_new_session=True,
        )
        try:
            # The envelope holds both the result and the prints, each capped: allow both.
            outcome = _communicate(
                process, request, limits["wall_seconds"], 2 * limits["max_output_bytes"] + 4096
            )
        finally:
            _kill(process)
            process.wait()
    context.record_metric("duration_ms", (time.monotonic() - started) * 1000)
    envelope = _envelope(outcome, limits)
    return {"result": envelope["result"], "stdout": envelope["stdout"]}
