"""Prometheus metrics on a live API process and a live worker process: counters move by
exactly the runs made, the database's gauges show waiting runs and live workers, and the API's
/metrics answers only those who may scrape it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.pgserver import PrivateServer
from tests.runtime.conftest import Peer, call, chain, trigger, waits_for_signal
from tests.runtime.stack import Stack, socket_port
from tests.support import unique
from workflow_builder.api.app import create_app
from workflow_builder.config import get_settings

pytestmark = [pytest.mark.slow]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def metrics_port() -> int:
    with socket_port() as port:
        return int(port)


@pytest.fixture
def stack(server: PrivateServer, metrics_port: int) -> Iterator[Stack]:
    running = Stack(server, WFB_METRICS_PORT=str(metrics_port))
    yield running
    running.close()


def scrape(url: str, **headers: str) -> Samples:
    response = httpx.get(url, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def scrape_worker(port: int) -> Samples:
    with contextlib.suppress(httpx.HTTPError):
        return scrape(f"http://127.0.0.1:{port}/metrics")
    return {}


def test_counters_move_by_exactly_the_runs_made(
    stack: Stack, peer: Peer, metrics_port: int
) -> None:
    api = stack.sign_up()
    stack.start_worker()
    tag = unique("metrics")
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
    api_before = scrape(f"{stack.base_url}/metrics")
    worker_before = scrape_worker(metrics_port)
    runs = 7
    ids = [api.start(workflow_id) for _ in range(runs)]
    for execution_id in ids:
        assert api.wait(execution_id)["status"] == "completed"
    api_after = scrape(f"{stack.base_url}/metrics")
    # A run's row reads completed once its close commits; the worker counts it just after.
    deadline = time.monotonic() + 10
    while True:
        worker_after = scrape_worker(metrics_port)
        finished = value(worker_after, "wfb_runs_finished_total", status="completed") - value(
            worker_before, "wfb_runs_finished_total", status="completed"
        )
        if finished >= runs or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    [queue] = {
        dict(labels)["task_queue"]
        for (name, labels) in api_after
        if name == "wfb_runs_started_total" and dict(labels)["trigger"] == "manual"
    }

    def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved(api_before, api_after, "wfb_runs_started_total", trigger="manual") == runs
    assert (
        moved(
            worker_before,
            worker_after,
            "wfb_runs_finished_total",
            status="completed",
            task_queue=queue,
        )
        == runs
    )
    assert moved(worker_before, worker_after, "wfb_runs_finished_total", status="failed") == 0
    assert (
        moved(worker_before, worker_after, "wfb_run_duration_seconds_count", status="completed")
        == runs
    )
    assert (
        moved(
            worker_before,
            worker_after,
            "wfb_step_duration_seconds_count",
            component="http_request",
            outcome="ok",
        )
        == runs
    )
    route = "/api/v1/workflows/{workflow_id}/executions"
    assert (
        moved(api_before, api_after, "wfb_http_request_duration_seconds_count", route=route) == runs
    )
    # Label values stay bounded: no run id anywhere.
    assert not any(execution_id in str(key) for key in api_after for execution_id in ids)
    assert value(api_after, "wfb_workers_live") >= 1
    assert value(api_after, "wfb_database_scrape_ok") == 1


def test_the_database_gauges_show_a_run_waiting_for_a_signal(stack: Stack) -> None:
    api = stack.sign_up()
    stack.start_worker()
    workflow_id = api.deploy(waits_for_signal())
    execution_id = api.start(workflow_id)
    api.wait_for_step(execution_id, "wait", "waiting")
    samples = scrape(f"{stack.base_url}/metrics")
    assert value(samples, "wfb_runs_waiting", reason="signal") == 1
    api.call("POST", f"/executions/{execution_id}/signals/go", json={})
    assert api.wait(execution_id)["status"] == "completed"
    samples = scrape(f"{stack.base_url}/metrics")
    assert value(samples, "wfb_runs_waiting", reason="signal") == 0


def test_metrics_answer_loopback_clients_that_no_proxy_passed_on(stack: Stack) -> None:
    assert httpx.get(f"{stack.base_url}/metrics", timeout=10).status_code == 200
    forwarded = httpx.get(
        f"{stack.base_url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10
    )
    assert forwarded.status_code == 403, forwarded.text


def test_metrics_ask_for_the_token_when_one_is_set(
    monkeypatch: pytest.MonkeyPatch, db: object
) -> None:
    monkeypatch.setenv("WFB_METRICS_TOKEN", "scrape-me")
    get_settings.cache_clear()
    try:
        with TestClient(create_app()) as client:
            assert client.get("/metrics").status_code == 401
            wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            right = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
            assert right.status_code == 200
            assert "# TYPE wfb_runs_started_total counter" in right.text
    finally:
        monkeypatch.delenv("WFB_METRICS_TOKEN")
        get_settings.cache_clear()


def test_metrics_refuse_a_remote_client_without_a_token(db: object) -> None:
    with TestClient(create_app()) as client:  # its client address is not loopback
        assert client.get("/metrics").status_code == 403
