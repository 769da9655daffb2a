"""OpenTelemetry traces of runs, collected with the SDK's in-memory exporter: one trace per
run, continuing the caller's `traceparent`, with a span per node under the run's span, and the
trace carried on by http_request calls."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from tests.runtime.conftest import Api, call, chain, trigger, waits_for_signal
from tests.runtime.test_webhooks import api_key, hook_definition, post
from tests.support import unique
from workflow_builder.db import system_session
from workflow_builder.telemetry import tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
# Run and node spans come from the DBOS adapter; Temporal traces component calls only.
dbos_only = pytest.mark.skipif(
    os.environ.get("WFB_ENGINE") == "temporal", reason="run spans: DBOS engine"
)
CALLER_SPAN = "00f067aa0ba902b7"


# OpenTelemetry sets the global provider once per process: one for the module, switched on
# for the tests that trace.
_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    tracing.enable(_PROVIDER)
    yield _EXPORTER
    tracing.disable()


class HeaderEcho:
    """A loopback HTTP service keeping the traceparent header of every request."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                echo.seen.append(self.headers.get("traceparent"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def echo() -> Iterator[HeaderEcho]:
    service = HeaderEcho()
    yield service
    service.server.shutdown()


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _run_spans(exporter: InMemorySpanExporter, execution_id: str) -> list[ReadableSpan]:
    """The spans of a run: its run span and everything under it."""
    deadline = time.monotonic() + 10
    while True:
        finished = exporter.get_finished_spans()
        runs = [s for s in finished if (s.attributes or {}).get("wfb.execution_id") == execution_id]
        if runs:
            run = runs[0]
            assert run.context is not None
            below = [
                s
                for s in finished
                if s.parent is not None and s.parent.span_id == run.context.span_id
            ]
            return [run, *below]
        assert time.monotonic() < deadline, "no span for the run"
        time.sleep(0.05)


@dbos_only
def test_a_run_is_one_trace_continuing_the_callers_with_a_span_per_node(
    api: Api, spans: InMemorySpanExporter, echo: HeaderEcho
) -> None:
    definition = {
        "nodes": [
            trigger(),
            call("fetch", f"{echo.url}/hello"),
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "fetch", "done"),
    }
    workflow_id = api.deploy(definition)
    execution_id = api.start(
        workflow_id, headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"}
    )
    assert api.wait(execution_id)["status"] == "completed"

    run, *nodes = _run_spans(spans, execution_id)
    assert run.context is not None
    assert _hex(run.context.trace_id, 32) == TRACE_ID
    assert run.name.startswith("run ")
    by_node = {(s.attributes or {})["wfb.node"]: s for s in nodes}
    assert set(by_node) == {"start", "fetch", "done"}, by_node
    for span in nodes:
        assert span.context is not None and _hex(span.context.trace_id, 32) == TRACE_ID
        attributes = span.attributes or {}
        assert attributes["wfb.workflow"] == run.attributes["wfb.workflow"]  # type: ignore[index]
        assert attributes["wfb.version"] == run.attributes["wfb.version"]  # type: ignore[index]
        assert attributes["wfb.outcome"] == "completed"
        assert attributes["wfb.attempt"] == 1
    fetch = by_node["fetch"]
    assert (fetch.attributes or {})["wfb.component"] == "http_request"
    # The call carried the trace on: the service saw the fetch node's span as its parent.
    assert fetch.context is not None
    assert echo.seen == [f"00-{TRACE_ID}-{_hex(fetch.context.span_id, 16)}-01"]


@dbos_only
def test_a_run_waiting_for_a_signal_spans_the_wait(api: Api, spans: InMemorySpanExporter) -> None:
    workflow_id = api.deploy(waits_for_signal())
    execution_id = api.start(workflow_id)
    api.wait_for_step(execution_id, "wait", "waiting")
    time.sleep(0.3)
    api.call("POST", f"/executions/{execution_id}/signals/go", 202, json={})
    assert api.wait(execution_id)["status"] == "completed"
    _, *nodes = _run_spans(spans, execution_id)
    wait = next(s for s in nodes if (s.attributes or {})["wfb.node"] == "wait")
    assert wait.end_time is not None and wait.start_time is not None
    assert (wait.end_time - wait.start_time) / 1e9 >= 0.3
    assert (wait.attributes or {})["wfb.node_type"] == "wait_for_signal"


def test_with_tracing_off_a_run_keeps_no_trace(api: Api) -> None:
    assert not tracing.enabled()
    _EXPORTER.clear()
    workflow_id = api.deploy(waits_for_signal())
    execution_id = api.start(
        workflow_id, headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"}
    )
    api.wait_for_step(execution_id, "wait", "waiting")
    with system_session() as session:
        stored = session.execute(
            text("select trace_parent from workflow_executions where id = :e"),
            {"e": execution_id},
        ).scalar_one()
    assert stored is None
    api.call("POST", f"/executions/{execution_id}/signals/go", 202, json={})
    assert api.wait(execution_id)["status"] == "completed"
    assert not any(
        (s.attributes or {}).get("wfb.execution_id") == execution_id
        for s in _EXPORTER.get_finished_spans()
    )


def _execution_spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {
        str((s.attributes or {})["wfb.execution_id"]): s
        for s in exporter.get_finished_spans()
        if "wfb.execution_id" in (s.attributes or {})
    }


@dbos_only
def test_a_webhook_run_continues_the_senders_trace(
    api: Api, client: TestClient, spans: InMemorySpanExporter
) -> None:
    path = unique("traced")
    api.deploy(hook_definition(path=path))
    response = post(
        client,
        path,
        {"order_id": 1},
        key=api_key(api),
        headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
    )
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]
    assert api.wait(execution_id)["status"] == "completed"
    run, *nodes = _run_spans(spans, execution_id)
    assert run.context is not None and _hex(run.context.trace_id, 32) == TRACE_ID
    assert {(s.attributes or {})["wfb.node"] for s in nodes} == {"start", "echo", "done"}


@dbos_only
def test_a_child_run_continues_its_parents_trace(api: Api, spans: InMemorySpanExporter) -> None:
    child = unique("child")
    api.deploy(
        {"nodes": [trigger(), {"id": "done", "type": "end"}], "edges": chain("start", "done")},
        kebab_name=child,
    )
    parent = {
        "child_workflows": [{"workflow": child}],
        "nodes": [
            trigger(),
            {"id": "kid", "type": "child_workflow", "config": {"workflow": child}},
            {"id": "done", "type": "end"},
        ],
        "edges": chain("start", "kid", "done"),
    }
    execution_id = api.start(api.deploy(parent))
    assert api.wait(execution_id)["status"] == "completed"
    run, *_ = _run_spans(spans, execution_id)
    assert run.context is not None
    children = [
        s
        for s in _execution_spans(spans).values()
        if s.attributes and s.attributes["wfb.workflow"] == child
    ]
    assert len(children) == 1
    [kid] = children
    assert kid.context is not None and kid.context.trace_id == run.context.trace_id
    assert kid.parent is not None and kid.parent.span_id == run.context.span_id


def test_a_call_carries_the_callers_trace_to_the_service_it_calls(
    api: Api, spans: InMemorySpanExporter, echo: HeaderEcho
) -> None:
    definition = {
        "nodes": [trigger(), call("fetch", f"{echo.url}/hi"), {"id": "done", "type": "end"}],
        "edges": chain("start", "fetch", "done"),
    }
    execution_id = api.start(
        api.deploy(definition), headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"}
    )
    assert api.wait(execution_id)["status"] == "completed"
    [seen] = echo.seen
    assert seen is not None and seen.split("-")[1] == TRACE_ID
    calls = [
        s
        for s in spans.get_finished_spans()
        if s.name == "node fetch"
        and s.context is not None
        and _hex(s.context.span_id, 16) == seen.split("-")[2]
    ]
    assert len(calls) == 1, [s.name for s in spans.get_finished_spans()]
    assert (calls[0].attributes or {})["wfb.component"] == "http_request"
    assert (calls[0].attributes or {})["wfb.outcome"] == "completed"
