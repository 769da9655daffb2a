"""Request metrics counted in the API process: webhook outcomes and latency by route
template, never by the values in the path."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from tests.runtime.conftest import Api
from tests.runtime.test_webhooks import api_key, hook_definition, post
from tests.support import unique


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_webhook_requests_are_counted_by_outcome(api: Api, client: TestClient) -> None:
    path = unique("counted")
    api.deploy(hook_definition(path=path))
    key = api_key(api)
    before = {
        outcome: sample("wfb_webhook_requests_total", outcome=outcome)
        for outcome in ("started", "unauthorized", "not_found")
    }
    assert post(client, path, {"order_id": 1}, key=key).status_code == 202
    assert post(client, path, {"order_id": 2}, key=key).status_code == 202
    assert post(client, path, {"order_id": 3}, key="wfb_not-a-key").status_code == 401
    assert post(client, unique("nowhere"), {"order_id": 4}, key=key).status_code == 404
    moved = {
        outcome: sample("wfb_webhook_requests_total", outcome=outcome) - count
        for outcome, count in before.items()
    }
    assert moved == {"started": 2, "unauthorized": 1, "not_found": 1}


def test_request_latency_is_labelled_by_route_template(api: Api) -> None:
    labels = {"method": "GET", "route": "/api/v1/executions/{execution_id}", "status": "4xx"}
    before = sample("wfb_http_request_duration_seconds_count", **labels)
    for _ in range(3):
        api.call("GET", "/executions/00000000-0000-0000-0000-000000000000", 404)
    assert sample("wfb_http_request_duration_seconds_count", **labels) - before == 3
    assert not any(
        "00000000-0000-0000-0000-000000000000" in str(s.labels)
        for family in REGISTRY.collect()
        for s in family.samples
    )
