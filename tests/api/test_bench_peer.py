"""B7's peer route (api/bench_peer.py) is mounted only when WFB_BENCH_PEER_ROUTE=1."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ApiUser
from workflow_builder.api.app import create_app
from workflow_builder.db import Database


def test_the_peer_route_is_not_mounted_by_default(client: TestClient, alice: ApiUser) -> None:
    answer = client.get("/bench/peer/executions", headers={"X-Bench-User": str(alice.id)})
    # Unmounted: a 404, or the web app's page when it is built (its client-side routes).
    assert answer.status_code == 404 or answer.headers["content-type"].startswith("text/html")
    assert not any(
        getattr(route, "path", "").startswith("/bench")
        for route in client.app.routes  # type: ignore[attr-defined]
    )


def test_the_peer_route_runs_the_listing_as_the_user(
    db: Database, alice: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFB_BENCH_PEER_ROUTE", "1")
    with TestClient(create_app()) as peer:
        answer = peer.get("/bench/peer/executions", headers={"X-Bench-User": str(alice.id)})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"items": [], "total": 0}  # a new user sees no run
