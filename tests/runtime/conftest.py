"""Fixtures for runtime tests: the API, a worker running in this process, built-in components,
and helpers that build, deploy and run workflows through the API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

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
    running = Worker(
        settings=Settings(
            heartbeat_seconds=1, worker_dead_after_seconds=4, worker_id=unique("test")
        )
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
    return [edge(a, b) for a, b in zip(node_ids, node_ids[1:], strict=False)]


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
