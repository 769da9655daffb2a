"""OpenTelemetry traces: one trace per run, a span per node, carried on across processes.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, or a
test installs a provider with `enable`: while off, every function here returns at its first
line and nothing is imported. On:

- the API's request span (FastAPI's, continuing the caller's `traceparent`) is the parent a
  new run records (`current_traceparent`, stored in `workflow_executions.trace_parent`); a
  child run records its parent run's span;
- the worker opens a span for the run (`run_span`) under that parent, and under it a span per
  node: live around each component call attempt (`call_span`, current while the call runs, so
  `http_request` sends `traceparent` on), recorded afterwards for the other nodes
  (`record_node`), with the workflow, version, node, component, attempt and outcome;
- export is the SDK's batch processor's business, on a thread of its own: an exporter that
  fails loses spans, never a run. Every function here swallows its own errors.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger(__name__)

T = TypeVar("T")
INSTRUMENTATION = "workflow_builder"
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def enabled() -> bool:
    return _tracer is not None


def enable(provider: TracerProvider) -> None:
    """Trace through `provider` (made the global one, so FastAPI's request spans use it too)."""
    global _tracer, _provider
    from opentelemetry import trace

    trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer(INSTRUMENTATION)


def flush(timeout_seconds: float = 3.0) -> None:
    """Export the spans still waiting for their batch (before the process exits)."""
    if _provider is None:
        return
    try:
        _provider.force_flush(int(timeout_seconds * 1000))
    except Exception:
        log.debug("flushing spans failed", exc_info=True)


def disable() -> None:
    """Stop tracing here (the global provider stays: OpenTelemetry sets it once)."""
    global _tracer
    _tracer = None


def configure() -> None:
    """Export over OTLP/HTTP when the standard endpoint variable is set; otherwise stay off."""
    if _tracer is not None or not any(os.environ.get(name) for name in _ENDPOINT_VARIABLES):
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
            "OTEL_RESOURCE_ATTRIBUTES", ""
        )
        resource = Resource.create({} if named else {"service.name": "workflow-builder"})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        enable(provider)
    except Exception:
        log.warning("OpenTelemetry tracing could not be set up; tracing stays off", exc_info=True)


# -- context across processes ---------------------------------------------------------------


def current_traceparent() -> str | None:
    """Return the W3C traceparent of the span current here (None: off, or no span)."""
    if _tracer is None:
        return None
    try:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        return carrier.get("traceparent")
    except Exception:
        log.debug("reading the current trace context failed", exc_info=True)
        return None


def inject(headers: MutableMapping[str, str]) -> None:
    """Add `traceparent` (and `tracestate`) of the current span to outgoing `headers`."""
    if _tracer is None:
        return
    try:
        from opentelemetry.propagate import inject as inject_context

        inject_context(headers)
    except Exception:
        log.debug("propagating the trace context failed", exc_info=True)


def _parent(traceparent: str | None) -> Context | None:
    if not traceparent:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": traceparent})


# -- spans ----------------------------------------------------------------------------------


class RunTrace:
    """The span of one run executing in this process, and what its node spans share."""

    def __init__(self, span: Span, attributes: Mapping[str, Any]) -> None:
        self.span = span
        self.attributes = dict(attributes)
        self.waiting_since: dict[tuple[str, str], int] = {}

    def context(self) -> Context:
        from opentelemetry.trace import set_span_in_context

        return set_span_in_context(self.span)


def run_span(
    *, traceparent: str | None, workflow: str, version: str, execution_id: str
) -> RunTrace | None:
    """Open the span of a run (None when tracing is off), under the span that started it."""
    if _tracer is None:
        return None
    try:
        attributes = {"wfb.workflow": workflow, "wfb.version": version}
        span = _tracer.start_span(
            f"run {workflow}",
            context=_parent(traceparent),
            attributes={**attributes, "wfb.execution_id": execution_id},
        )
        return RunTrace(span, attributes)
    except Exception:
        log.debug("opening a run span failed", exc_info=True)
        return None


def end_run(trace: RunTrace | None, status: str | None) -> None:
    """Close a run's span with how the run ended (None: it stopped here unfinished)."""
    if trace is None:
        return
    try:
        from opentelemetry.trace import Status, StatusCode

        trace.span.set_attribute("wfb.outcome", status or "handed_over")
        if status == "failed":
            trace.span.set_status(Status(StatusCode.ERROR))
        trace.span.end()
    except Exception:
        log.debug("closing a run span failed", exc_info=True)


@contextlib.contextmanager
def attached(trace: RunTrace | None) -> Iterator[None]:
    """Make the run's span the current one inside the block (for children and calls)."""
    if trace is None:
        yield
        return
    from opentelemetry import context

    token = context.attach(trace.context())
    try:
        yield
    finally:
        context.detach(token)


def call_span(trace: RunTrace | None, *, node: str, component: str, attempt: int) -> Span | None:
    """Open the span of one component call attempt, under the run's span."""
    if trace is None or _tracer is None:
        return None
    try:
        return _tracer.start_span(
            f"node {node}",
            context=trace.context(),
            attributes={
                **trace.attributes,
                "wfb.node": node,
                "wfb.component": component,
                "wfb.attempt": attempt,
            },
        )
    except Exception:
        log.debug("opening a node span failed", exc_info=True)
        return None


def call_span_under(
    traceparent: str | None, *, node: str, component: str, attempt: int
) -> Span | None:
    """Open the span of a call attempt directly under what started its run (an engine whose
    workflow code records no run span of its own: Temporal)."""
    if _tracer is None or not traceparent:
        return None
    try:
        return _tracer.start_span(
            f"node {node}",
            context=_parent(traceparent),
            attributes={"wfb.node": node, "wfb.component": component, "wfb.attempt": attempt},
        )
    except Exception:
        log.debug("opening a node span failed", exc_info=True)
        return None


def continuing(traceparent: str | None, function: Callable[..., T]) -> Callable[..., T]:
    """Return `function` running in the trace of `traceparent` (itself when off or none)."""
    if _tracer is None or not traceparent:
        return function

    def run(*args: Any, **kwargs: Any) -> T:
        from opentelemetry import context

        token = context.attach(_parent(traceparent) or context.get_current())
        try:
            return function(*args, **kwargs)
        finally:
            context.detach(token)

    return run


def within(span: Span | None, function: Callable[..., T]) -> Callable[..., T]:
    """Return `function` running with `span` current (itself when there is no span)."""
    if span is None:
        return function

    def run(*args: Any, **kwargs: Any) -> T:
        from opentelemetry import context
        from opentelemetry.trace import set_span_in_context

        token = context.attach(set_span_in_context(span))
        try:
            return function(*args, **kwargs)
        finally:
            context.detach(token)

    return run


def end_call(span: Span | None, outcome: Mapping[str, Any]) -> None:
    """Close a call attempt's span with its outcome."""
    if span is None:
        return
    try:
        from opentelemetry.trace import Status, StatusCode

        if outcome.get("ok"):
            span.set_attribute("wfb.outcome", "completed")
        else:
            error = outcome.get("error") or {}
            span.set_attribute("wfb.outcome", "failed")
            span.set_attribute("wfb.error_type", str(error.get("type", "")))
            span.set_status(Status(StatusCode.ERROR, str(error.get("message", ""))[:300]))
        span.end()
    except Exception:
        log.debug("closing a node span failed", exc_info=True)


def record_node(
    trace: RunTrace | None,
    *,
    node: Mapping[str, Any],
    iteration: str,
    status: str,
    component: str | None,
    attempts: int,
    started: datetime | None,
    finished: datetime,
) -> None:
    """Record the span of a node that ran in the workflow code or waited (a pure node, a
    timer, a signal, a child): opened when it began waiting, closed now."""
    if trace is None or _tracer is None:
        return
    try:
        where = (node["id"], iteration)
        if status in ("waiting", "running"):
            trace.waiting_since.setdefault(where, _nanos(started or finished))
            return
        if status == "skipped":
            return
        begun = trace.waiting_since.pop(where, None) or _nanos(started or finished)
        attributes = {
            **trace.attributes,
            "wfb.node": node["id"],
            "wfb.node_type": node["type"],
            "wfb.attempt": max(attempts, 1),
            "wfb.outcome": status,
        }
        if component:
            attributes["wfb.component"] = component
        span = _tracer.start_span(
            f"node {node['id']}", context=trace.context(), attributes=attributes, start_time=begun
        )
        if status == "failed":
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=max(_nanos(finished), begun))
    except Exception:
        log.debug("recording a node span failed", exc_info=True)


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)
