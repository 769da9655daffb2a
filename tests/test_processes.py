"""`wfb api` and `wfb worker` started on their own: each registers the built-in components, and
the API tells "up" (/health) from "ready" (/ready) while its database comes and goes."""

from __future__ import annotations

import contextlib
import time
import uuid

import httpx
import psycopg
import pytest

from tests.pgserver import PrivateServer
from tests.runtime.stack import WFB, Child, socket_port
from workflow_builder.db.migrate import upgrade

pytestmark = [pytest.mark.slow]


def _migrated_database(server: PrivateServer) -> str:
    url = server.create_database(f"wfb_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    return url


def _builtin_components(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from components where created_by is null").fetchone()
    return int(row[0]) if row else 0


def _env(url: str) -> dict[str, str]:
    import os

    return {**os.environ, "DATABASE_URL": url, "WFB_LOG_LEVEL": "warning"}


def _wait(condition: object, child: Child, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert child.alive(), child.output()
        assert time.monotonic() < deadline, f"{what}: {child.output()}"
        time.sleep(0.2)


def _status(url: str) -> int:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=5).status_code
    return 0


def test_api_registers_components_and_is_not_ready_while_its_database_is_down(
    server: PrivateServer,
) -> None:
    url = _migrated_database(server)
    assert _builtin_components(url) == 0
    with socket_port() as port:
        base = f"http://127.0.0.1:{port}"
        api = Child([WFB, "api", "--port", str(port), "--no-migrate"], _env(url), "api")
    try:
        _wait(lambda: _status(f"{base}/ready") == 200, api, "never ready")
        assert _builtin_components(url) > 0

        server.stop()
        try:
            ready = httpx.get(f"{base}/ready", timeout=30)
            assert ready.status_code == 503, ready.text
            assert int(ready.headers["Retry-After"]) > 0
            assert ready.json()["database"]["ok"] is False
            assert _status(f"{base}/health") == 200  # up, though not ready
        finally:
            server.start()
        _wait(lambda: _status(f"{base}/ready") == 200, api, "not ready again")
    finally:
        api.kill()


def test_worker_registers_components_on_its_own(server: PrivateServer) -> None:
    url = _migrated_database(server)
    worker = Child([WFB, "worker", "--drain-seconds", "0"], _env(url), "worker")
    try:
        _wait(lambda: _builtin_components(url) > 0, worker, "no components registered")
    finally:
        worker.kill()
