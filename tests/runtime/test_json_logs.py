"""`WFB_LOG_FORMAT=json`: an API process and a worker process write one JSON object per line,
naming the request, the run and the node each line is about."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.pgserver import PrivateServer
from tests.runtime.conftest import Peer, call, chain, trigger
from tests.runtime.stack import Child, Stack
from tests.support import unique

pytestmark = [pytest.mark.slow]


@pytest.fixture
def stack(server: PrivateServer) -> Iterator[Stack]:
    running = Stack(server, WFB_LOG_FORMAT="json", WFB_LOG_LEVEL="debug")
    yield running
    running.close()


def lines(child: Child) -> list[dict[str, Any]]:
    """Every line the process wrote, each parsed as JSON (failing on any that is not)."""
    parsed = []
    for number, line in enumerate(Path(child.log.name).read_text().splitlines(), 1):
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"{child.name} line {number} is not JSON: {line!r}")
    return parsed


@pytest.mark.skipif(
    os.environ.get("WFB_ENGINE") == "temporal",
    reason="on Temporal the interpreter's per-node log lines are DBOS's only (docs/operations.md)",
)
def test_api_and_worker_write_json_lines_with_request_run_and_node_ids(
    stack: Stack, peer: Peer
) -> None:
    api = stack.sign_up()
    worker = stack.start_worker()
    tag = unique("logs")
    workflow_id = api.deploy(
        {
            "nodes": [
                trigger(),
                call("fetch", f"{peer.url}/count/{tag}"),
                {"id": "done", "type": "end"},
            ],
            "edges": chain("start", "fetch", "done"),
        }
    )
    started = httpx.post(
        f"{stack.base_url}/api/v1/workflows/{workflow_id}/executions",
        json={"inputs": {}},
        headers={**api.headers, "X-Request-ID": "req-from-the-caller"},
        timeout=30,
    )
    assert started.status_code == 201, started.text
    assert started.headers["X-Request-ID"] == "req-from-the-caller"
    execution_id = started.json()["id"]
    assert api.wait(execution_id)["status"] == "completed"
    time.sleep(0.5)  # the last lines reach the files

    api_lines = lines(stack.api)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in api_lines)
    access = [line for line in api_lines if line.get("request_id") == "req-from-the-caller"]
    assert access, api_lines[-5:]
    assert any(workflow_id in line["message"] for line in access)

    worker_lines = lines(worker)
    about_run = [line for line in worker_lines if line.get("execution_id") == execution_id]
    assert about_run, worker_lines[-5:]
    assert any(line.get("node_id") == "fetch" for line in about_run), about_run
    assert any("ended here: completed" in line["message"] for line in about_run), about_run
