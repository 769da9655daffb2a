"""A tenant's run cannot reach the installation: a `wfb worker` process with an administrator's
narrow allow list (one echo server port, and the database server by name only) refuses loopback
calls to the product's API and database port, a redirect into them, and sql_query naming the
product's own database; each refusal fails the node at once, naming host, address and rule."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from tests.activities.fakes import EchoServer, serving
from tests.api.conftest import sign_up
from tests.runtime.conftest import Api, WorkerProcess, chain, trigger
from tests.runtime.test_client_addresses import LiveServer
from tests.support import unique
from workflow_builder.config import Settings
from workflow_builder.db import Database
from workflow_builder.runtime.worker import Worker


class Tenant:
    """A developer's project served by a worker process under the narrow allow list."""

    def __init__(self, api: Api, project_id: str) -> None:
        self.api = api
        self.id = project_id

    def run(self, *nodes: dict[str, Any]) -> dict[str, Any]:
        definition = {
            "nodes": [trigger(), *nodes, {"id": "done", "type": "end"}],
            "edges": chain("start", *[node["id"] for node in nodes], "done"),
        }
        return self.api.run(definition, project_id=self.id)


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with serving(EchoServer()) as server:
        yield server


@pytest.fixture(scope="module")
def product_api(db: Database) -> Iterator[LiveServer]:
    server = LiveServer(Settings())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tenant(client: TestClient, worker: Worker, db: Database, echo: EchoServer) -> Iterator[Tenant]:
    api = Api(client, sign_up(client, role="developer"))
    project_id = api.call("POST", "/projects", 201, json={"name": unique("egress")}).json()["id"]
    database = make_url(db.url)
    allow = f"127.0.0.1:{echo.server_address[1]}, localhost:{database.port or 5432}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WFB_EGRESS_ALLOW", allow)
        serving_worker = WorkerProcess(db, project_id, unique("egress"))
    serving_worker.wait_registered(timeout=60)
    yield Tenant(api, project_id)
    serving_worker.stop(signal.SIGKILL)


def http(node_id: str, url: str) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "activity",
        "component": {"name": "http_request"},
        "config": {"url": url},
        # A retry policy that would retry anything retryable: refusals must not be.
        "retry": {"maximum_attempts": 3, "initial_interval": 0.1},
    }


def failed_step(run: dict[str, Any], node_id: str) -> dict[str, Any]:
    assert run["status"] == "failed", run
    [step] = [s for s in run["steps"] if s["node_id"] == node_id]
    assert step["status"] == "failed", step
    assert step["attempts"] == 1, step
    return dict(step)


def test_a_run_cannot_call_the_products_api_on_loopback(
    tenant: Tenant, product_api: LiveServer
) -> None:
    run = tenant.run(http("ssrf", f"{product_api.url}/api/v1/me"))
    error = failed_step(run, "ssrf")["error"]
    assert f"127.0.0.1:{product_api.port} is a loopback address" in error
    assert "refused by the egress policy" in error


def test_a_run_cannot_open_the_database_port(tenant: Tenant, db: Database) -> None:
    port = make_url(db.url).port or 5432
    run = tenant.run(http("ssrf", f"http://127.0.0.1:{port}/"))
    assert f"127.0.0.1:{port} is a loopback address" in failed_step(run, "ssrf")["error"]


def test_a_redirect_from_an_allowed_server_into_the_api_is_refused(
    tenant: Tenant, echo: EchoServer, product_api: LiveServer
) -> None:
    seen = len(echo.received)
    run = tenant.run(http("hop", f"{echo.url}/redirect?to={product_api.url}/api/v1/me"))
    assert f"127.0.0.1:{product_api.port}" in failed_step(run, "hop")["error"]
    assert len(echo.received) == seen + 1


def test_the_allowed_server_is_reachable(tenant: Tenant, echo: EchoServer) -> None:
    run = tenant.run(http("fine", f"{echo.url}/ok"))
    assert run["status"] == "completed", run


def test_sql_query_cannot_name_the_products_database(tenant: Tenant, db: Database) -> None:
    database = make_url(db.url)
    url = database.set(host="localhost").render_as_string(hide_password=False)
    tenant.api.call(
        "PUT",
        f"/projects/{tenant.id}/secrets/mine",
        201,
        json={"kind": "connection", "value": {"url": url, "allow_writes": True}},
    )
    run = tenant.run(
        {
            "id": "takeover",
            "type": "activity",
            "component": {"name": "sql_query"},
            "config": {
                "connection": "mine",
                "sql": "update projects set name = 'taken over'",
                "read_only": False,
            },
        }
    )
    error = failed_step(run, "takeover")["error"]
    assert "the product's own database" in error
