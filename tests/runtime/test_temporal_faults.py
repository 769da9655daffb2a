"""Temporal as the engine, under faults: a Temporal server of this module's own that is killed and
started again, a worker killed in the middle of a call, and a server that never answered.

The promises: `wfb worker` says in one line which address it could not reach; while Temporal
is away the API refuses a start with 503 and Retry-After or accepts it and starts it
once the server is back (never a 500, nothing lost); every run completes
once it is back; a call in flight on a killed worker is retried on another by its policy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import DatabaseFactory
from tests.pgserver import PrivateServer
from tests.runtime.conftest import Peer
from tests.runtime.stack import WFB, Stack, socket_port
from tests.runtime.test_durability import check_histories, counted_chain
from tests.support import unique
from workflow_builder.config import Settings
from workflow_builder.runtime.engines.temporal import server as temporal_server

pytestmark = [pytest.mark.slow]


class TemporalServer:
    """The bundled Temporal dev server on a free port, with a state file that outlives it."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="wfb-temporal-"))
        with socket_port() as port:
            self.settings = Settings(data_dir=self.directory, temporal_port=port)
        self.address = f"127.0.0.1:{self.settings.temporal_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = temporal_server.start(self.settings, ui=False)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            temporal_server.stop(self.process)


@pytest.fixture(scope="module")
def temporal() -> Iterator[TemporalServer]:
    started = TemporalServer()
    started.start()
    yield started
    started.stop()


@pytest.fixture
def stack(server: PrivateServer, temporal: TemporalServer) -> Iterator[Stack]:
    running = Stack(server, WFB_ENGINE="temporal", TEMPORAL_ADDRESS=temporal.address)
    yield running
    running.close()


def test_a_worker_that_cannot_reach_temporal_says_so_in_one_line(
    database_factory: DatabaseFactory,
) -> None:
    url = database_factory.create()
    with socket_port() as port:  # nothing listens there
        address = f"127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "WFB_ENGINE": "temporal",
        "TEMPORAL_ADDRESS": address,
        "COLUMNS": "200",
    }
    done = subprocess.run([WFB, "worker"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"TEMPORAL_ADDRESS={address}" in lines[0]


def test_runs_survive_the_temporal_server_being_killed_and_the_api_answers_503_meanwhile(
    stack: Stack, temporal: TemporalServer, peer: Peer
) -> None:
    api = stack.sign_up()
    stack.start_worker()
    tag = unique("tkill")
    nodes = ["a", "b"]
    workflow_id = api.deploy(counted_chain(peer, tag, nodes, 0.5))
    runs = {str(n): api.start(workflow_id, {"run": str(n)}) for n in range(6)}
    deadline = time.monotonic() + 60
    while not any(k.startswith(tag) for k, _, _ in list(peer.calls)):
        assert time.monotonic() < deadline, "no call started"
        time.sleep(0.05)
    temporal.kill()
    try:
        during = httpx.post(
            f"{stack.base_url}/api/v1/workflows/{workflow_id}/executions",
            json={"inputs": {"run": "away"}},
            headers=api.headers,
            timeout=120,
        )
        # Either refused for a retry (nothing recorded) or accepted and started once the
        # server is back: never a 500, never a run lost.
        assert during.status_code in (201, 503), during.text
        if during.status_code == 503:
            assert during.headers.get("retry-after"), during.headers
        else:
            runs["away"] = during.json()["id"]
    finally:
        temporal.start()
    counts = check_histories(api, peer, tag, runs, nodes)
    # Calls in flight when the server died may run again (their completion never reached
    # it); every other call ran once.
    assert all(count <= 2 for count in counts.values()), counts


def test_a_call_in_flight_on_a_killed_worker_is_retried_on_another(
    stack: Stack, peer: Peer
) -> None:
    api = stack.sign_up()
    first = stack.start_worker()
    tag = unique("tworker")
    # Long enough that the second worker is up before the first call answers.
    workflow_id = api.deploy(counted_chain(peer, tag, ["a"], 20))
    execution_id = api.start(workflow_id, {"run": "0"})
    key = f"{tag}-0-a"
    deadline = time.monotonic() + 60
    while peer.count(key) == 0:
        assert time.monotonic() < deadline, "the call never started"
        time.sleep(0.05)
    stack.start_worker()
    first.kill()
    assert not any(k == key for k, _, _ in list(peer.calls)), "the call ended before the kill"
    body = api.wait(execution_id, timeout=180)
    assert body["status"] == "completed", body
    assert peer.count(key) == 2  # the attempt in flight at the kill, and its retry
    step = next(s for s in body["steps"] if s["node_id"] == "a")
    assert step["outputs"]["body"]["count"] == 2, step
