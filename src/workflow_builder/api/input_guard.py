"""One check of every request's JSON body and query string, before any route or the database
sees them: values that JSON (RFC 8259) or PostgreSQL cannot hold are a 422 naming where they are.

Python's JSON parser accepts `NaN`, `Infinity` and `-Infinity` and turns `1e309` into infinity;
PostgreSQL refuses all of them in JSON, refuses NUL (U+0000) in text and JSON, and lone UTF-16
surrogates (`"\\ud800"`) cannot be encoded at all. Without this check each answered with a
pointer-less database error, or a 500 where Python failed to encode the value first.

Bodies are also refused past `MAX_JSON_DEPTH` levels of nesting: checking such a value against
a schema, or walking it, recurses once per level.

Bodies are scanned for the tell-tale bytes first (and their brackets counted), so an ordinary
body is parsed again only when it may hold such a value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflow_builder.api.errors import (
    ProblemFieldError,
    field_error,
    problem_response,
    validation_problem,
)

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_JSON_DEPTH = 100
# Escapes (\u0000, surrogates), the non-JSON constants, and exponents or digit runs long
# enough to overflow a double.
_SUSPICIOUS = re.compile(rb"\\u|NaN|Infinity|[eE][+-]?\d{3}|\d{300}")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _NotANumber:
    """Stands in for a number JSON cannot hold, so the walk can say where it was."""

    def __init__(self, text: str) -> None:
        self.text = text


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NotANumber(text)


def _describe(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored"
    return f"contains a lone surrogate (\\u{ord(found.group()):04x}), which is not valid Unicode"


def _walk(value: Any) -> Iterator[ProblemFieldError]:
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) >= MAX_JSON_DEPTH and isinstance(item, dict | list):
            yield field_error(
                ["body", *path], f"the value is nested deeper than {MAX_JSON_DEPTH} levels"
            )
        elif isinstance(item, _NotANumber):
            yield field_error(
                ["body", *path],
                f"{item.text} is not a number this API accepts: numbers must be finite and "
                "within the range of a 64-bit float",
            )
        elif isinstance(item, str):
            problem = _describe(item)
            if problem:
                yield field_error(["body", *path], f"the text {problem}")
        elif isinstance(item, dict):
            for key, child in item.items():
                problem = _describe(key)
                if problem:
                    yield field_error(["body", *path, key], f"the property name {problem}")
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(item))


def body_problems(body: bytes) -> list[ProblemFieldError]:
    """Return where a JSON body holds values JSON or the database cannot (empty: none, or the
    body is not JSON at all, which the route reports)."""
    if not _SUSPICIOUS.search(body) and body.count(b"{") + body.count(b"[") <= MAX_JSON_DEPTH:
        return []
    try:
        value = json.loads(body, parse_constant=_NotANumber, parse_float=_float)
    except (ValueError, RecursionError):
        return []  # not JSON (or nested past the parser's limit): the route answers 400
    return sorted(_walk(value), key=lambda error: error.pointer or "")


def query_problems(query_string: bytes) -> list[ProblemFieldError]:
    """Return the query parameters holding characters the database cannot store."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return []
    errors = []
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            errors.append(
                field_error(
                    ["query", name.replace("\x00", "\\u0000")],
                    "contains a NUL character (\\u0000), which cannot be stored",
                )
            )
    return errors


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return bool(
                media == b"application/json"
                or (media.startswith(b"application/") and media.endswith(b"+json"))
            )
    return True  # FastAPI and the webhooks read a body without a content type as JSON


class InputGuard:
    """ASGI middleware refusing request values JSON or the database cannot hold (see module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors = query_problems(scope.get("query_string", b""))
        if not errors and scope["method"] in _BODY_METHODS and _is_json(scope):
            body, receive = await _buffered(receive)
            errors = body_problems(body)
        if errors:
            response = problem_response(validation_problem(errors), Request(scope))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body; return it and a `receive` that hands it on again."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
