"""The FastAPI application factory."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

import workflow_builder
from workflow_builder.api import bench_peer, errors
from workflow_builder.api.input_guard import InputGuard
from workflow_builder.api.openapi import problem_openapi
from workflow_builder.api.proxies import TrustedProxies, parse_networks
from workflow_builder.api.router import api_router
from workflow_builder.api.spa import mount_web_app
from workflow_builder.config import Settings, get_settings
from workflow_builder.db import get_database
from workflow_builder.db.migrate import head_revision
from workflow_builder.runtime.engines import EngineUnavailable, check_engine
from workflow_builder.telemetry.http import RequestMetrics, metrics_response
from workflow_builder.telemetry.logs import RequestIds
from workflow_builder.webhooks.views import router as webhooks_router


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application with every router wired in (`settings`: the process's by
    default)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Workflow Builder",
        version=workflow_builder.__version__,
        description="Design workflows visually and run them durably on PostgreSQL.",
    )
    errors.install(app)
    app.add_middleware(InputGuard)
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestIds)
    # Added last, so it runs first: everything after it sees the client's address.
    app.add_middleware(TrustedProxies, trusted=parse_networks(settings.trusted_proxies))
    app.include_router(webhooks_router)  # first: its calls then skip matching every API route
    app.include_router(api_router())
    app.openapi = problem_openapi(app)  # type: ignore[method-assign]
    if bench_peer.enabled():  # the benchmark's own processes only (api/bench_peer.py)
        app.include_router(bench_peer.router)

    @app.get("/health", tags=["system"])
    def health() -> dict[str, str]:
        """Liveness: the process is up and serving (whatever its dependencies are doing)."""
        return {"status": "ok", "version": workflow_builder.__version__}

    @app.get("/ready", tags=["system"])
    def ready() -> JSONResponse:
        """Readiness: the database answers at the expected schema revision and the engine
        answers. 503 with Retry-After while either is away."""
        return readiness()

    @app.get("/metrics", tags=["system"], include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        """Prometheus metrics (loopback clients, or WFB_METRICS_TOKEN: docs/operations.md)."""
        return metrics_response(request)

    mount_web_app(app)  # last: its catch-all route must not shadow the API
    return app


def readiness() -> JSONResponse:
    """Check the database (and its schema revision) and the engine; 200 when both answer."""
    body: dict[str, Any] = {"version": workflow_builder.__version__}
    head = head_revision()
    try:
        with get_database().engine.connect() as conn:
            query = text("select version_num from wfb_meta.alembic_version")
            current = conn.execute(query).scalar()
    except Exception as exc:  # any failure to reach the database is the answer here
        body |= {"status": "unavailable", "database": {"ok": False, "error": str(exc)[:300]}}
        return _not_ready(body)
    body["database"] = {"ok": True, "schema_version": current, "expected_version": head}
    try:
        check_engine()
    except Exception as exc:  # the engine's server away, whatever the error
        body |= {"status": "unavailable", "engine": {"ok": False, "error": str(exc)[:300]}}
        return _not_ready(body)
    body["engine"] = {"ok": True, "name": get_settings().engine}
    if current != head:
        body["status"] = "degraded"
        return _not_ready(body)
    body["status"] = "ok"
    return JSONResponse(body)


def _not_ready(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        body, status_code=503, headers={"Retry-After": str(EngineUnavailable.retry_after)}
    )
