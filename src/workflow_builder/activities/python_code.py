"""`python_code`: run a tenant's `def main(inputs)` in a sandbox, with resource limits.

The code runs in the system Python inside a bubblewrap sandbox (see `sandbox.py`): fresh
namespaces, nobody's uid, a read-only file system without the product, no network, an empty
environment, with limits on CPU seconds (RLIMIT_CPU), memory (RLIMIT_AS), processes
(RLIMIT_NPROC), open files (RLIMIT_NOFILE), file size (RLIMIT_FSIZE), wall time (the sandbox is
killed) and output size (bounded reads). Where no sandbox can be built the call fails with a
non-retryable `SandboxUnavailable` error, unless the administrator set
WFB_UNSAFE_CODE_EXECUTION=1: then the code runs as the worker's user in a `python -I` process
with the same limits but processes, which is only fit for an installation of trusted users.
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

from workflow_builder.activities import egress_proxy, sandbox
from workflow_builder.activities.contract import ActivityContext, ActivityError, ComponentSpec
from workflow_builder.config import Settings, get_settings

# The runner is passed with -c: the sandbox holds no file of the product.
RUNNER_SOURCE = Path(__file__).with_name("_python_runner.py").read_text()
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
        "network": {
            "type": "boolean",
            "default": False,
            "description": "Let the code open outbound connections, through the installation's "
            "egress policy. Off: the code has no network at all.",
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
    description="Run a Python function main(inputs) in a sandbox (no network, no access to the "
    "installation) with CPU, memory, process, time and output limits.",
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


def _python_args(limits: Mapping[str, Any], processes: int, network: bool = False) -> list[str]:
    return [
        "-I",
        "-B",
        "-c",
        RUNNER_SOURCE,
        str(limits["cpu_seconds"]),
        str(limits["memory_mb"] * _MB),
        str(limits["max_output_bytes"]),
        str(processes),
        str(sandbox.MAX_OPEN_FILES),
        str(int(network)),
    ]


def _drain(fd: int) -> bytes:
    """Read what a pipe holds now, without waiting for writers that may still hold it."""
    os.set_blocking(fd, False)
    data = bytearray()
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, _READ_CHUNK):
            data += chunk
    return bytes(data)


def _filter_pipe() -> int | None:
    """A pipe's read end holding the sandbox's seccomp program (it fits the pipe's buffer)."""
    program = sandbox.seccomp_filter()
    if program is None:
        return None
    read_end, write_end = os.pipe()
    os.write(write_end, program)
    os.close(write_end)
    return read_end


def _run_sandboxed(
    settings: Settings,
    request: bytes,
    limits: Mapping[str, Any],
    proxy: egress_proxy.EgressProxy | None = None,
) -> _Outcome:
    sandbox.check(settings)
    status_read, status_write = os.pipe()
    seccomp = _filter_pipe()
    try:
        command = sandbox.command(
            settings,
            _python_args(limits, sandbox.MAX_PROCESSES, network=proxy is not None),
            tmp_mb=limits["memory_mb"],
            status_fd=status_write,
            egress_socket=proxy.path if proxy else None,
            seccomp_fd=seccomp,
        )
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd="/",
                env={},
                start_new_session=True,
                pass_fds=(status_write,) if seccomp is None else (status_write, seccomp),
                **sandbox.process_user(),
            )
        except OSError as exc:
            raise sandbox.unavailable(f"bubblewrap could not be started ({exc})") from None
        os.close(status_write)
        status_write = -1
        outcome = _communicate_then_kill(process, request, limits)
        status = _drain(status_read)
    finally:
        os.close(status_read)
        if status_write >= 0:
            os.close(status_write)
        if seccomp is not None:
            os.close(seccomp)
    stderr = outcome.stderr.decode(errors="replace").strip()
    # bwrap fails before the code's process exists (no namespaces) or while it sets up the
    # sandbox for it (a mount refused): then it exits 1 having said why, and nothing ran.
    setup_failed = outcome.returncode == 1 and not outcome.stdout and stderr.startswith("bwrap:")
    if not outcome.timed_out and (setup_failed or not sandbox.started(status)):
        raise sandbox.unavailable(f"bubblewrap could not create the sandbox ({stderr})")
    # bwrap reports a process that a signal ended as exit status 128 + the signal.
    if outcome.returncode > 128:
        outcome.returncode = 128 - outcome.returncode
    return outcome


def _run_unconfined(request: bytes, limits: Mapping[str, Any]) -> _Outcome:
    """WFB_UNSAFE_CODE_EXECUTION=1: a plain child process of the worker, as its user."""
    with tempfile.TemporaryDirectory(prefix="wfb-code-") as workdir:
        process = subprocess.Popen(
            [sys.executable, *_python_args(limits, processes=0)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env={"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": workdir},
            start_new_session=True,
        )
        return _communicate_then_kill(process, request, limits)


def _communicate_then_kill(
    process: subprocess.Popen[bytes], request: bytes, limits: Mapping[str, Any]
) -> _Outcome:
    try:
        # The envelope holds both the result and the prints, each capped: allow both.
        return _communicate(
            process, request, limits["wall_seconds"], 2 * limits["max_output_bytes"] + 4096
        )
    finally:
        _kill(process)
        process.wait()


def run(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Run `main(inputs)` in a sandboxed, limited child process; return {result, stdout}."""
    limits = {
        "cpu_seconds": config.get("cpu_seconds", 10),
        "memory_mb": config.get("memory_mb", 256),
        "wall_seconds": config.get("wall_seconds", 30),
        "max_output_bytes": config.get("max_output_bytes", _MB),
    }
    settings = get_settings()
    request = json.dumps({"code": config["code"], "inputs": dict(inputs)}).encode()
    started = time.monotonic()
    if settings.unsafe_code_execution:
        outcome = _run_unconfined(request, limits)
    elif config.get("network"):
        connect = egress_proxy.policy_connector()
        if connect is None:
            raise ActivityError(
                "network: python_code cannot reach the network on this installation: "
                "outbound connections from tenant code go only through the egress policy, "
                "which this worker does not have. Remove `network`, or make the call with "
                "http_request.",
                error_type="NetworkNotAvailable",
                retryable=False,
                details={"field": "network"},
            )
        with egress_proxy.EgressProxy(connect) as proxy:
            outcome = _run_sandboxed(settings, request, limits, proxy)
    else:
        outcome = _run_sandboxed(settings, request, limits)
    context.record_metric("duration_ms", (time.monotonic() - started) * 1000)
    envelope = _envelope(outcome, limits)
    return {"result": envelope["result"], "stdout": envelope["stdout"]}
