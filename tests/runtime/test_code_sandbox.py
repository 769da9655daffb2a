"""A tenant's python_code attacking the installation, through real runs on a `wfb worker`
process that holds what an attacker wants: the database URL in its environment, the signing
key in its data directory, the product's database on loopback, its source and virtual
environment on disk. Each payload fails with the error docs/security.md documents."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

import workflow_builder
from tests.api.conftest import sign_up
from tests.runtime.conftest import Api, WorkerProcess, trigger
from tests.support import unique
from workflow_builder.db import Database
from workflow_builder.runtime.worker import Worker

SIGNING_KEY = "signing-key-the-tenant-must-not-read"


class Target:
    """A project served by its own `wfb worker`, and what a payload is aimed at."""

    def __init__(self, api: Api, project_id: str, worker: WorkerProcess, data_dir: Path) -> None:
        self.api = api
        self.project_id = project_id
        self.worker = worker
        self.data_dir = data_dir

    def run(self, code: str, args: dict[str, Any] | None = None, **config: Any) -> dict[str, Any]:
        """Run a one-node workflow whose python_code gets `args` as inputs['args']."""
        definition = {
            "nodes": [
                trigger(),
                {
                    "id": "payload",
                    "type": "activity",
                    "component": {"name": "python_code"},
                    "config": {"code": code, **config},
                    "input": {"args": "input"},
                    "retry": {"maximum_attempts": 3, "initial_interval": 0.1},
                },
                {"id": "done", "type": "end", "config": {"output": "nodes.payload.output"}},
            ],
            "edges": [
                {"id": "a", "source": "start", "target": "payload"},
                {"id": "b", "source": "payload", "target": "done"},
            ],
        }
        return self.api.run(definition, args or {}, project_id=self.project_id)

    def alive(self) -> bool:
        return self.worker.process.poll() is None


def _serve(client: TestClient, db: Database, env: dict[str, str]) -> Iterator[Target]:
    api = Api(client, sign_up(client, role="developer"))
    project = api.call("POST", "/projects", 201, json={"name": unique("attacker")}).json()
    with tempfile.TemporaryDirectory(prefix="wfb-sandbox-test-") as data_dir:
        (Path(data_dir) / "secret_key").write_text(SIGNING_KEY)
        env = {"WFB_DATA_DIR": data_dir, **env}
        worker = WorkerProcess(db, project["id"], unique("sandbox"), env=env)
        worker.wait_registered(timeout=60)
        try:
            yield Target(api, project["id"], worker, Path(data_dir))
        finally:
            worker.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def target(client: TestClient, worker: Worker, db: Database) -> Iterator[Target]:
    yield from _serve(client, db, {})


def step(run: dict[str, Any]) -> dict[str, Any]:
    [found] = [s for s in run["steps"] if s["node_id"] == "payload"]
    return dict(found)


def refused(target: Target, code: str, args: dict[str, Any], **config: Any) -> str:
    """Run the payload; it must fail at once (not retried) and the worker live on."""
    run = target.run(code, args, **config)
    assert run["status"] == "failed", run
    payload = step(run)
    assert payload["status"] == "failed" and payload["attempts"] == 1
    assert target.alive()
    return str(payload["error"])


def test_the_worker_s_environment_cannot_be_read(target: Target) -> None:
    code = "def main(inputs):\n    return open(f\"/proc/{inputs['args']['pid']}/environ\").read()\n"
    pid = target.worker.process.pid
    error = refused(target, code, {"pid": pid})
    assert f"FileNotFoundError: [Errno 2] No such file or directory: '/proc/{pid}/environ'" in error
    assert "DATABASE_URL" not in error


def test_the_code_s_parent_is_the_sandbox_s_own_init_with_an_empty_environment(
    target: Target,
) -> None:
    code = (
        "import os, signal\n\n"
        "def main(inputs):\n"
        "    parent = os.getppid()\n"
        "    environ = open(f'/proc/{parent}/environ', 'rb').read().decode()\n"
        "    os.kill(parent, signal.SIGKILL)\n"
        "    return [parent, environ, sorted(p for p in os.listdir('/proc') if p.isdigit())]\n"
    )
    run = target.run(code)
    assert run["status"] == "completed", run
    assert run["outputs"]["result"] == [1, "", ["1", "2"]]
    assert target.alive()


def test_the_data_directory_s_signing_key_cannot_be_read(target: Target) -> None:
    key = target.data_dir / "secret_key"
    code = "def main(inputs):\n    return open(inputs['args']['path']).read()\n"
    error = refused(target, code, {"path": str(key)})
    assert f"FileNotFoundError: [Errno 2] No such file or directory: '{key}'" in error
    assert SIGNING_KEY not in error


def test_the_product_s_database_on_loopback_cannot_be_reached(target: Target, db: Database) -> None:
    url = urlparse(db.url)
    code = (
        "import socket\n\n"
        "def main(inputs):\n"
        "    socket.create_connection((inputs['args']['host'], inputs['args']['port']), 2)\n"
    )
    error = refused(target, code, {"host": url.hostname, "port": url.port})
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in error


def test_the_sandbox_has_no_network_interface_but_its_own_loopback(target: Target) -> None:
    code = (
        "import socket\n\n"
        "def main(inputs):\n"
        "    return [name for _, name in socket.if_nameindex()]\n"
    )
    run = target.run(code)
    assert run["outputs"]["result"] == ["lo"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("venv", "FileNotFoundError: [Errno 2] No such file or directory"),
        ("source", "FileNotFoundError: [Errno 2] No such file or directory"),
        ("/etc/passwd", "FileNotFoundError: [Errno 2] No such file or directory"),
        ("/usr/lib/python3", "OSError: [Errno 30] Read-only file system"),
        ("/", "OSError: [Errno 30] Read-only file system"),
    ],
)
def test_nothing_outside_tmp_can_be_written(target: Target, where: str, expected: str) -> None:
    directories = {
        "venv": Path(sys.executable).parent,
        "source": Path(workflow_builder.__file__).parent,
    }
    path = (
        Path("/etc/passwd")
        if where == "/etc/passwd"
        else directories.get(where, Path(where)) / unique("planted")
    )
    passwd = Path("/etc/passwd").read_bytes()
    code = (
        "def main(inputs):\n    open(inputs['args']['path'], 'a').write('owned:x:0:0::/:/bin/sh')\n"
    )
    try:
        error = refused(target, code, {"path": str(path)})
    finally:
        if path != Path("/etc/passwd") and path.exists():
            path.unlink()
    assert expected in error
    assert Path("/etc/passwd").read_bytes() == passwd


def test_the_worker_cannot_be_signalled(target: Target) -> None:
    code = "import os\n\ndef main(inputs):\n    os.kill(inputs['args']['pid'], 9)\n"
    error = refused(target, code, {"pid": target.worker.process.pid})
    assert "ProcessLookupError: [Errno 3] No such process" in error


def test_a_fork_bomb_stops_at_the_process_limit(target: Target) -> None:
    code = (
        "import os, time\n\n"
        "def main(inputs):\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
    )
    error = refused(target, code, {})
    assert "BlockingIOError: [Errno 11] Resource temporarily unavailable" in error


def test_a_forking_fork_bomb_ends_at_wall_seconds_leaving_the_worker_alone(
    target: Target,
) -> None:
    # Every process keeps forking whatever the process limit answers, so only the wall-time
    # limit can end it (a bomb that gives up at the first refusal ends some other way).
    code = (
        "import os\n\n"
        "def main(inputs):\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            pass\n"
    )
    error = refused(target, code, {}, wall_seconds=3)
    assert "wall_seconds exceeded (3 s)" in error


def test_a_memory_bomb_stops_at_memory_mb(target: Target) -> None:
    code = (
        "def main(inputs):\n"
        "    hoard = []\n"
        "    while True:\n"
        "        hoard.append(bytearray(10_000_000))\n"
    )
    error = refused(target, code, {}, memory_mb=128)
    assert "memory_mb exceeded (128 MB)" in error


def test_an_infinite_loop_stops_at_cpu_seconds(target: Target) -> None:
    error = refused(target, "def main(inputs):\n    while True:\n        pass\n", {}, cpu_seconds=1)
    assert "cpu_seconds exceeded (1 s of CPU)" in error


def test_a_sleeping_loop_stops_at_wall_seconds(target: Target) -> None:
    code = "import time\n\ndef main(inputs):\n    while True:\n        time.sleep(1)\n"
    error = refused(target, code, {}, wall_seconds=1)
    assert "wall_seconds exceeded (1 s)" in error


def test_huge_output_stops_at_max_output_bytes(target: Target) -> None:
    code = "def main(inputs):\n    while True:\n        print('x' * 100_000)\n"
    error = refused(target, code, {}, max_output_bytes=100_000)
    assert "max_output_bytes exceeded" in error


def test_the_code_runs_as_nobody_with_an_empty_environment(target: Target) -> None:
    code = (
        "import os\n\n"
        "def main(inputs):\n"
        "    return [os.getuid(), os.geteuid(), os.getgid(), dict(os.environ)]\n"
    )
    run = target.run(code)
    assert run["outputs"]["result"] == [65534, 65534, 65534, {}]


@pytest.fixture(scope="module")
def without_bubblewrap(client: TestClient, worker: Worker, db: Database) -> Iterator[Target]:
    yield from _serve(client, db, {"WFB_SANDBOX_BWRAP": "/nonexistent/bwrap"})


def test_without_bubblewrap_the_step_fails_at_once_saying_what_to_install(
    without_bubblewrap: Target,
) -> None:
    run = without_bubblewrap.run("def main(inputs):\n    return 1\n")
    assert run["status"] == "failed"
    payload = step(run)
    assert payload["attempts"] == 1  # not retried, whatever the node's policy
    assert "SandboxUnavailable" in run["error"]
    assert "bubblewrap (bwrap) not found at /nonexistent/bwrap" in payload["error"]
    assert "apt-get install bubblewrap" in payload["error"]
    without_bubblewrap.worker.stop()
    assert "python_code steps will fail here" in without_bubblewrap.worker.output()


def test_the_unsafe_opt_out_is_warned_at_worker_start(
    client: TestClient, worker: Worker, db: Database
) -> None:
    for unsafe in _serve(client, db, {"WFB_UNSAFE_CODE_EXECUTION": "1"}):
        run = unsafe.run("import os\n\ndef main(inputs):\n    return os.getuid()\n")
        assert run["outputs"]["result"] == os.getuid()
        unsafe.worker.stop()
        output = unsafe.worker.output()
        assert "WARNING" in output
        assert (
            "WFB_UNSAFE_CODE_EXECUTION=1: python_code runs tenant code WITHOUT a sandbox" in output
        )
