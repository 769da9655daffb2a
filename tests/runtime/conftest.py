"""Fixtures for runtime tests: the API, a worker running in this process, built-in components,
and helpers that build, deploy and run workflows through the API."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.api.conftest import ApiUser, app, client, sign_up
from tests.support import unique
from workflow_builder.activities.registry import sync_components
from workflow_builder.config import Settings
from workflow_builder.db import Database, system_session
from workflow_builder.runtime.worker import Worker

__all__ = ["app", "client"]

TERMINAL = ("completed", "failed", "canceled")


@pytest.fixture(scope="session")
def worker(db: Database) -> Iterator[Worker]:
    """The in-process worker serving every project (as `wfb up` runs it)."""
    with system_session() as session:
        sync_components(session)
    # Only the system queue: project workflows run on `wfb worker` processes the tests start.
    running = Worker(
        [],
        settings=Settings(
            heartbeat_seconds=1, worker_dead_after_seconds=4, worker_id=unique("test")
        ),
    )
    running.start()
    yield running
    running.stop(drain_seconds=0)


@pytest.fixture
def dev(client: TestClient, worker: Worker) -> ApiUser:
    return sign_up(client, role="developer")


def trigger(input_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "start",
        "type": "trigger",
        "config": {"kind": "manual", "input_schema": input_schema or {"type": "object"}},
    }


def transform(node_id: str, inputs: dict[str, str]) -> dict[str, Any]:
    return {"id": node_id, "type": "activity", "component": {"name": "transform"}, "input": inputs}


def edge(source: str, target: str, handle: str | None = None, **extra: Any) -> dict[str, Any]:
    value = {"id": f"{source}-to-{target}", "source": source, "target": target, **extra}
    if handle:
        value["source_handle"] = handle
    return value


def chain(*node_ids: str) -> list[dict[str, Any]]:
    return [edge(a, b) for a, b in itertools.pairwise(node_ids)]


def waits_for_signal(signal: str = "go") -> dict[str, Any]:
    """A workflow that waits at node `wait` for `signal`, then ends: a run that stays live."""
    return {
        "signals": [{"name": signal}],
        "nodes": [
            trigger(),
            {"id": "wait", "type": "wait_for_signal", "config": {"signal": signal}},
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "wait", "done"),
    }


class Api:
    """A signed-in user's view of the API, with the workflow steps tests repeat."""

    def __init__(self, client: TestClient, user: ApiUser) -> None:
        self.client = client
        self.user = user

    def call(self, method: str, path: str, expect: int | None = None, **kwargs: Any) -> Any:
        response = self.client.request(
            method,
            f"/api/v1{path}",
            headers={**self.user.headers, **kwargs.pop("headers", {})},
            **kwargs,
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def create_workflow(self, definition: dict[str, Any], **fields: Any) -> str:
        name = unique("wf")
        body = {
            "name": name,
            "display_name": name,
            "kebab_name": name,
            "definition": definition,
            **fields,
        }
        return str(self.call("POST", "/workflows", 201, json=body).json()["id"])

    def deploy(self, definition: dict[str, Any], **fields: Any) -> str:
        workflow_id = self.create_workflow(definition, **fields)
        self.call("POST", f"/workflows/{workflow_id}/deploy", 200)
        return workflow_id

    def start(self, workflow_id: str, inputs: dict[str, Any] | None = None, **kwargs: Any) -> str:
        response = self.call(
            "POST",
            f"/workflows/{workflow_id}/executions",
            201,
            json={"inputs": inputs or {}},
            **kwargs,
        )
        return str(response.json()["id"])

    def execution(self, execution_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.call("GET", f"/executions/{execution_id}", 200).json()
        return body

    def wait(
        self, execution_id: str, *, timeout: float = 30, until: tuple[str, ...] = TERMINAL
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.execution(execution_id)
            if body["status"] in until:
                return body
            assert time.monotonic() < deadline, f"run still {body['status']}: {body}"
            time.sleep(0.05)

    def wait_for_step(
        self, execution_id: str, node_id: str, status: str, timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for step in self.execution(execution_id)["steps"]:
                if step["node_id"] == node_id and step["status"] == status:
                    return dict(step)
            assert time.monotonic() < deadline, f"{node_id} never became {status}"
            time.sleep(0.05)

    def run(
        self, definition: dict[str, Any], inputs: dict[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        workflow_id = self.deploy(definition, **fields)
        return self.wait(self.start(workflow_id, inputs))


@pytest.fixture
def api(client: TestClient, dev: ApiUser) -> Api:
    return Api(client, dev)


class Peer:
    """A local HTTP service the workflows call: counts calls per key, can be slow or fail.

    GET /count/KEY            -> {"key", "count"}
    GET /slow/KEY?seconds=S   -> counts, then answers after S seconds (calls in flight at once
                                 are tracked per `group`, default KEY)
    GET /flaky/KEY?fail=N     -> 503 for the first N calls of KEY, then 200
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        # Every call: (key, when it arrived, when it was answered), wall-clock seconds.
        self.calls: list[tuple[str, float, float]] = []
        self.inflight: dict[str, int] = {}
        self.max_inflight: dict[str, int] = {}
        self.lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                arrived = time.time()
                url = urlparse(self.path)
                kind, _, key = url.path.strip("/").partition("/")
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                with peer.lock:
                    peer.counts[key] = count = peer.counts.get(key, 0) + 1
                if kind == "slow":
                    group = params.get("group", key)
                    with peer.lock:
                        peer.inflight[group] = now = peer.inflight.get(group, 0) + 1
                        peer.max_inflight[group] = max(peer.max_inflight.get(group, 0), now)
                    time.sleep(float(params.get("seconds", "1")))
                    with peer.lock:
                        peer.inflight[group] -= 1
                status = 503 if kind == "flaky" and count <= int(params.get("fail", "0")) else 200
                body = json.dumps({"key": key, "count": count}).encode()
                with peer.lock:
                    peer.calls.append((key, arrived, time.time()))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, key: str) -> int:
        with self.lock:
            return self.counts.get(key, 0)


@pytest.fixture(scope="session")
def peer() -> Iterator[Peer]:
    service = Peer()
    yield service
    service.server.shutdown()


def call(node_id: str, url: str, **node: Any) -> dict[str, Any]:
    """An http_request node calling `url` with GET."""
    return {
        "id": node_id,
        "type": "activity",
        "component": {"name": "http_request"},
        "config": {"method": "GET", "url": url},
        **node,
    }


WFB = str(Path(sys.executable).with_name("wfb"))


class WorkerProcess:
    """A `wfb worker --project P` subprocess against the test database."""

    def __init__(
        self, db: Database, project_id: str, worker_id: str, env: dict[str, str] | None = None
    ) -> None:
        self.worker_id = worker_id
        env = {
            **os.environ,
            "DATABASE_URL": db.url,
            "WFB_WORKER_ID": worker_id,
            "WFB_HEARTBEAT_SECONDS": "0.5",
            "WFB_WORKER_DEAD_AFTER_SECONDS": "3",
            "WFB_LOG_LEVEL": "warning",
            **(env or {}),
        }
        args = ["--project", project_id] if project_id else []
        self.process = subprocess.Popen(
            [WFB, "worker", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def wait_registered(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            if worker_rows(self.worker_id):
                return
            time.sleep(0.1)
        pytest.fail(f"worker {self.worker_id} never registered: {self.output()}")

    def output(self) -> str:
        if self.process.poll() is None:
            return "(running)"
        return self.process.stdout.read().decode() if self.process.stdout else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=60)


def worker_rows(worker_id: str) -> list[Any]:
    with system_session() as session:
        return session.execute(
            text(
                "select status, error_message, last_heartbeat_at, stopped_at "
                "from workflow_workers where worker_id like :w"
            ),
            {"w": f"{worker_id}@%"},
        ).all()


@pytest.fixture
def workers(db: Database) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop(signal.SIGKILL)
