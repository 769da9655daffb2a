"""Logs a machine can read: with `WFB_LOG_FORMAT=json`, one JSON object per line.

Each line carries the ids of what the process was doing when it logged, from context
variables: `request_id` (an HTTP request: the caller's `X-Request-ID`, or one made up, sent
back in the answer's `X-Request-ID`), `execution_id` (a run) and `node_id` (a node of it). They
follow the work across threads and tasks wherever the context is carried (asyncio tasks,
FastAPI's thread pool, the runtime's call threads), and are left out when unset.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: ContextVar[str | None] = ContextVar("wfb_request_id", default=None)
EXECUTION_ID: ContextVar[str | None] = ContextVar("wfb_execution_id", default=None)
NODE_ID: ContextVar[str | None] = ContextVar("wfb_node_id", default=None)

_CONTEXT = (("request_id", REQUEST_ID), ("execution_id", EXECUTION_ID), ("node_id", NODE_ID))
# A caller's request id is kept when it is short and plain; anything else is replaced.
_PLAIN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# The attributes every LogRecord has; any other attribute came from `extra=` and is logged.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON: time, level, logger, message, the context's ids,
    any `extra=` fields, and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, variable in _CONTEXT:
            value = variable.get()
            if value is not None:
                entry[name] = value
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_") and name not in entry:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def json_handler() -> logging.Handler:
    """Return a handler writing JSON lines to standard error."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    return handler


class RequestIds:
    """Give every HTTP request an id (the caller's `X-Request-ID` when it is plain, else a new
    one), in the context for the logs and in the answer's `X-Request-ID` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        text = sent.decode("latin-1")
        request_id = text if _PLAIN_ID.match(text) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            REQUEST_ID.reset(token)
