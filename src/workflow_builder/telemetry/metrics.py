"""Prometheus metrics: what each process counts, and the database's state read at scrape time.

Every label value is bounded: a task queue, a component, a status, a trigger kind, a route
template — never a run, user or workflow id. Counting never fails what it counts: every
recording function swallows its own errors (a metric is not worth a run).

Process metrics (counters, histograms) live in the default registry: the API's `/metrics`
serves them, and a worker started with `WFB_METRICS_PORT` serves them on a listener of its own.
The gauges that describe the database (queues, waiting runs, live workers) are one query per
scrape, on the API's `/metrics` only, so that many workers do not report the same numbers.
See docs/operations.md for the list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# From a fast pure step to a run that waits days for a signal.
_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400, float("inf"))
_STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, float("inf"))
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf"))

RUNS_STARTED = Counter(
    "wfb_runs_started",
    "Runs accepted (a new execution row), by trigger kind and task queue.",
    ["trigger", "task_queue"],
)
RUNS_FINISHED = Counter(
    "wfb_runs_finished",
    "Runs closed, by final status, trigger kind and task queue.",
    ["status", "trigger", "task_queue"],
)
RUN_DURATION = Histogram(
    "wfb_run_duration_seconds",
    "From a run's start request to its close, by final status and task queue.",
    ["status", "task_queue"],
    buckets=_RUN_BUCKETS,
)
STEP_DURATION = Histogram(
    "wfb_step_duration_seconds",
    "One attempt of a component call, by component and outcome (ok, error).",
    ["component", "outcome"],
    buckets=_STEP_BUCKETS,
)
WEBHOOK_REQUESTS = Counter(
    "wfb_webhook_requests",
    "Webhook requests (POST /hooks/...), by outcome.",
    ["outcome"],
)
HTTP_DURATION = Histogram(
    "wfb_http_request_duration_seconds",
    "API request latency, by method, route template and status class (2xx, 4xx, ...).",
    ["method", "route", "status"],
    buckets=_HTTP_BUCKETS,
)

_WEBHOOK_OUTCOMES = {
    200: "finished",
    202: "started",
    401: "unauthorized",
    404: "not_found",
    415: "not_json",
    422: "invalid",
    429: "refused",
}


def _safely(record: Callable[[], None]) -> None:
    try:
        record()
    except Exception:  # a metric is never worth failing what it measures
        log.debug("recording a metric failed", exc_info=True)


def run_started(*, trigger: str, task_queue: str) -> None:
    _safely(lambda: RUNS_STARTED.labels(trigger, task_queue).inc())


def run_started_on_commit(session: Session, *, trigger: str, task_queue: str) -> None:
    """Count a run start once `session`'s transaction commits (never if it rolls back)."""

    def committed(_session: Session) -> None:
        run_started(trigger=trigger, task_queue=task_queue)

    try:
        event.listen(session, "after_commit", committed, once=True)
    except Exception:
        log.debug("counting a run start failed", exc_info=True)


def run_finished(*, status: str, trigger: str, task_queue: str, seconds: float | None) -> None:
    def record() -> None:
        RUNS_FINISHED.labels(status, trigger, task_queue).inc()
        if seconds is not None:
            RUN_DURATION.labels(status, task_queue).observe(max(seconds, 0.0))

    _safely(record)


_CLOSED_RUN = text(
    """select e.status, e.trigger_kind, q.name as task_queue,
         extract(epoch from (coalesce(e.completed_at, now()) - e.started_at))::float8 as seconds
       from workflow_executions e
       join workflows w on w.id = e.workflow_id
       join task_queues q on q.id = w.task_queue_id
       where e.id = :e"""
)


def run_closed(session: Session, execution_id: Any) -> None:
    """Count a run that `session` has just closed (off the interpreter: a cancel, an engine
    workflow that ended without closing its run)."""
    try:
        with session.begin_nested():  # a failure here leaves the caller's transaction whole
            row = session.execute(_CLOSED_RUN, {"e": execution_id}).mappings().first()
    except Exception:
        log.debug("reading a closed run for its metrics failed", exc_info=True)
        return
    if row is not None:
        run_finished(
            status=row["status"],
            trigger=row["trigger_kind"] or "manual",
            task_queue=row["task_queue"],
            seconds=row["seconds"],
        )


def count_closed(execution_id: Any) -> None:
    """Count a run closed by a transaction that has committed, reading it in one of its own."""
    from workflow_builder.db import system_session

    try:
        with system_session() as session:
            run_closed(session, execution_id)
    except Exception:
        log.debug("counting a closed run failed", exc_info=True)


def step_finished(*, component: str, ok: bool, seconds: float) -> None:
    _safely(lambda: STEP_DURATION.labels(component, "ok" if ok else "error").observe(seconds))


def http_request(*, method: str, route: str, status: int, seconds: float) -> None:
    def record() -> None:
        HTTP_DURATION.labels(method, route, f"{status // 100}xx").observe(seconds)
        if route.startswith("/hooks/"):
            WEBHOOK_REQUESTS.labels(_webhook_outcome(status)).inc()

    _safely(record)


def _webhook_outcome(status: int) -> str:
    if status in _WEBHOOK_OUTCOMES:
        return _WEBHOOK_OUTCOMES[status]
    return "error" if status >= 500 else "rejected"


# -- the database's state, read at scrape time ----------------------------------------------

_QUEUES = text(
    """select q.name as task_queue,
         count(*) filter (where e.status = 'pending' and e.admitted_at is not null) as depth,
         coalesce(extract(epoch from now() - min(e.started_at)
           filter (where e.status = 'pending' and e.admitted_at is not null)), 0)::float8
           as oldest,
         count(*) filter (where e.admitted_at is null) as admission
       from workflow_executions e
       join workflows w on w.id = e.workflow_id
       join task_queues q on q.id = w.task_queue_id
       where e.completed_at is null
       group by q.name"""
)
_WAITING = text(
    """select q.name as task_queue, s.node_type, count(distinct s.execution_id) as runs
       from execution_steps s
       join workflow_executions e on e.id = s.execution_id
       join workflows w on w.id = e.workflow_id
       join task_queues q on q.id = w.task_queue_id
       where s.status = 'waiting' and e.completed_at is null
       group by q.name, s.node_type"""
)
_WORKERS = text(
    """select count(*) from worker_leases
       where status = 'running' and renewed_at > now() - make_interval(secs => :after)"""
)
# What a waiting node waits for, by node type.
_WAITS_FOR = {
    "wait_for_signal": "signal",
    "delay": "timer",
    "work_queue": "work_item",
    "child_workflow": "child",
}


DATABASE_GAUGES = (
    "wfb_queue_depth",
    "wfb_queue_oldest_waiting_seconds",
    "wfb_runs_waiting",
    "wfb_workers_live",
    "wfb_database_scrape_ok",
)


class DatabaseCollector(Collector):
    """The gauges read from the database at each scrape, as the system (all tenants)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from workflow_builder.config import get_settings
        from workflow_builder.db import system_session

        depth = GaugeMetricFamily(
            "wfb_queue_depth",
            "Runs admitted and waiting for a worker, by task queue.",
            labels=["task_queue"],
        )
        oldest = GaugeMetricFamily(
            "wfb_queue_oldest_waiting_seconds",
            "Age of the oldest run admitted and waiting for a worker, by task queue.",
            labels=["task_queue"],
        )
        waiting = GaugeMetricFamily(
            "wfb_runs_waiting",
            "Runs that wait: for admission (a concurrency limit), a signal, a timer, a work "
            "item or a child run, by task queue.",
            labels=["task_queue", "reason"],
        )
        workers = GaugeMetricFamily(
            "wfb_workers_live", "Workers holding a lease renewed within the dead-after time."
        )
        up = GaugeMetricFamily(
            "wfb_database_scrape_ok", "1 when the database answered this scrape's query."
        )
        try:
            with system_session() as session:
                queues = session.execute(_QUEUES).mappings().all()
                waits = session.execute(_WAITING).mappings().all()
                live = session.execute(
                    _WORKERS, {"after": get_settings().worker_dead_after_seconds}
                ).scalar_one()
        except Exception:
            log.warning("reading the database's metrics failed", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        counts: dict[tuple[str, str], int] = {}
        for row in queues:
            depth.add_metric([row["task_queue"]], row["depth"])
            oldest.add_metric([row["task_queue"]], row["oldest"])
            counts[(row["task_queue"], "admission")] = row["admission"]
        for row in waits:
            where = (row["task_queue"], _WAITS_FOR.get(row["node_type"], "other"))
            counts[where] = counts.get(where, 0) + row["runs"]
        for labels, count in counts.items():
            waiting.add_metric(list(labels), count)
        workers.add_metric([], live)
        up.add_metric([], 1)
        yield from (depth, oldest, waiting, workers, up)


_database_registry = CollectorRegistry(auto_describe=False)
_database_registry.register(DatabaseCollector())


def exposition(*, database: bool) -> bytes:
    """Return every metric of this process in Prometheus' text format (with the database's
    gauges when `database`)."""
    from prometheus_client import REGISTRY

    body = generate_latest(REGISTRY)
    if database:
        body += generate_latest(_database_registry)
    return body


def serve(port: int, host: str) -> None:
    """Serve this process's metrics on http://host:port/metrics (a worker's listener)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host)
    log.info("metrics on http://%s:%d/metrics", host, port)
