"""The API's side of telemetry: request latency by route template, and who may scrape."""

from __future__ import annotations

import hmac
import ipaddress
import time

from fastapi import Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflow_builder.api.errors import ProblemError
from workflow_builder.config import get_settings
from workflow_builder.telemetry import metrics


class RequestMetrics:
    """Time every HTTP request and count it under its route template (`/api/v1/executions/
    {execution_id}`, never the id itself); requests no route matched count as `unmatched`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            metrics.http_request(
                method=scope["method"],
                route=route_template(scope),
                status=status,
                seconds=time.perf_counter() - started,
            )


def route_template(scope: Scope) -> str:
    """Return the request's path with each path parameter's value put back as `{name}`
    (`unmatched` when no route took the request)."""
    if scope.get("route") is None:
        return "unmatched"
    path: str = scope.get("path", "")
    params: dict[str, object] = scope.get("path_params") or {}
    if not params:
        return path
    segments = path.split("/")
    for name, value in params.items():
        text = str(value)
        if "/" in text or not text:  # a {name:path} parameter: the rest of the path
            if text and path.endswith(text):
                joined = "/".join(segments)
                segments = (joined[: len(joined) - len(text)] + "{" + name + "}").split("/")
            continue
        segments = [f"{{{name}}}" if segment == text else segment for segment in segments]
    return "/".join(segments)


def metrics_response(request: Request) -> Response:
    """Answer a scrape: with WFB_METRICS_TOKEN set, only to `Authorization: Bearer <token>`;
    without it, only to a client on the loopback interface that no proxy passed on (task
    queue and component names are the tenants' own)."""
    token = get_settings().metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise ProblemError(
                401,
                "unauthorized",
                "Unauthorized",
                "/metrics needs 'Authorization: Bearer <WFB_METRICS_TOKEN>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
    elif _forwarded(request) or not _loopback(request.client.host if request.client else None):
        raise ProblemError(
            403,
            "forbidden",
            "Forbidden",
            "/metrics answers loopback clients only; set WFB_METRICS_TOKEN to scrape it from "
            "elsewhere",
        )
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(metrics.exposition(database=True), media_type=CONTENT_TYPE_LATEST)


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _forwarded(request: Request) -> bool:
    """Whether a proxy passed the request on: a reverse proxy on the same machine connects
    from loopback for clients anywhere."""
    return "forwarded" in request.headers or "x-forwarded-for" in request.headers
