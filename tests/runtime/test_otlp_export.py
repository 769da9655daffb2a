"""With OTEL_EXPORTER_OTLP_ENDPOINT set, an API process and a worker process export a run's
trace over OTLP/HTTP to a collector; with the collector gone, runs go on regardless."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.pgserver import PrivateServer
from tests.runtime.conftest import Peer, call, chain, trigger
from tests.runtime.stack import Stack
from tests.support import unique

pytestmark = [pytest.mark.slow]

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


class Collector:
    """A loopback OTLP/HTTP receiver keeping the spans it is sent: (service, name, trace id)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with collector.lock:
                    for resource in request.resource_spans:
                        service = next(
                            (
                                a.value.string_value
                                for a in resource.resource.attributes
                                if a.key == "service.name"
                            ),
                            "",
                        )
                        for scope in resource.scope_spans:
                            for span in scope.spans:
                                collector.spans.append((service, span.name, span.trace_id.hex()))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_trace(self, trace_id: str) -> list[tuple[str, str, str]]:
        with self.lock:
            return [span for span in self.spans if span[2] == trace_id]


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def stack(server: PrivateServer, collector: Collector) -> Iterator[Stack]:
    running = Stack(
        server,
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_SERVICE_NAME="wfb-under-test",
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    yield running
    running.close()


@pytest.mark.skipif(
    os.environ.get("WFB_ENGINE") == "temporal",
    reason="on Temporal only call spans are recorded (workflow code replays; docs/operations.md)",
)
def test_a_runs_trace_reaches_the_collector_and_a_missing_one_fails_no_run(
    stack: Stack, collector: Collector, peer: Peer
) -> None:
    api = stack.sign_up()
    stack.start_worker()
    tag = unique("otlp")
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
    api.headers["traceparent"] = f"00-{TRACE_ID}-b7ad6b7169203331-01"
    execution_id = api.start(workflow_id)
    del api.headers["traceparent"]
    assert api.wait(execution_id)["status"] == "completed"

    deadline = time.monotonic() + 30
    wanted = {"node start", "node fetch", "node done"}
    while True:
        names = {name for _, name, _ in collector.of_trace(TRACE_ID)}
        if wanted <= names and any(n.startswith("run ") for n in names):
            break
        assert time.monotonic() < deadline, collector.spans
        time.sleep(0.2)
    assert {service for service, _, _ in collector.of_trace(TRACE_ID)} == {"wfb-under-test"}
    # The API's own request span is in the trace too.
    assert any("executions" in name for name in names), names

    collector.server.shutdown()
    collector.server.server_close()
    second = api.start(workflow_id)
    assert api.wait(second)["status"] == "completed"
