"""`http_request`: one HTTP call with httpx.

Config holds what is fixed for the node (method, URL, headers with `$secret` references,
limits); input holds what changes per run (path parameters, query, headers, body). Where both
set the same header or query parameter, the input wins. Every connection, each redirect's
included, goes through the egress policy (`workflow_builder.egress`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from workflow_builder.activities.contract import ActivityContext, ActivityError, ComponentSpec
from workflow_builder.egress import EgressRefused, http_client
from workflow_builder.secrets.references import resolve_secret_refs, string_or_secret
from workflow_builder.telemetry import tracing

DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ERROR_BODY_CHARS = 2000
_SCALAR = {"type": ["string", "number", "boolean"]}
_QUERY_VALUE = {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]}
_BODY_FIELDS: dict[str, Any] = {
    "json": {"description": "A JSON body (sent as application/json)."},
    "form": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "A form body (sent as application/x-www-form-urlencoded).",
    },
}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "method": {
            "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
            "default": "GET",
        },
        "url": string_or_secret(
            "Absolute URL; {name} placeholders are filled from input.path_params."
        ),
        "headers": {"type": "object", "additionalProperties": string_or_secret()},
        "query": {"type": "object", "additionalProperties": _QUERY_VALUE},
        **_BODY_FIELDS,
        "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 600, "default": 30},
        "expected_statuses": {
            "type": "array",
            "items": {"type": "integer", "minimum": 100, "maximum": 599},
            "minItems": 1,
            "description": "Statuses that count as success (default: any 2xx).",
        },
        "follow_redirects": {"type": "boolean", "default": True},
        "max_response_bytes": {
            "type": "integer",
            "minimum": 1,
            "maximum": 100 * 1024 * 1024,
            "default": DEFAULT_MAX_RESPONSE_BYTES,
        },
    },
    "required": ["url"],
    "not": {"required": ["json", "form"]},
    "additionalProperties": False,
}

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "path_params": {"type": "object", "additionalProperties": _SCALAR},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "query": {"type": "object", "additionalProperties": _QUERY_VALUE},
        **_BODY_FIELDS,
    },
    "not": {"required": ["json", "form"]},
    "additionalProperties": False,
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": {"description": "Parsed JSON for a JSON content type, else the text."},
    },
    "required": ["status", "headers", "body"],
    "additionalProperties": False,
}

SPEC = ComponentSpec(
    name="http_request",
    display_name="HTTP request",
    description="Call an HTTP endpoint and return its status, headers and body.",
    component_type="activity",
    implementation_path="workflow_builder.activities.http_request:run",
    config_schema=CONFIG_SCHEMA,
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    tags=("http", "integration"),
    capabilities=("network", "secrets"),
    package="httpx>=0.27",
)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _body(response: httpx.Response, content: bytes) -> Any:
    text = content.decode(response.encoding or "utf-8", errors="replace")
    if content and _is_json(response.headers.get("content-type", "")):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise ActivityError(
                f"The response body is larger than max_response_bytes ({limit})",
                error_type="ResponseTooLarge",
                retryable=False,
                details={"max_response_bytes": limit},
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _status_error(status: int, method: str, url: str, body: Any) -> ActivityError:
    excerpt = body if isinstance(body, str) else json.dumps(body)
    return ActivityError(
        f"{method} {url} answered {status}",
        error_type="HttpStatusError",
        retryable=status >= 500 or status == 429,
        details={"status": status, "body": excerpt[:_ERROR_BODY_CHARS]},
    )


def _fill_path(url: str, params: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise ActivityError(
                f"The URL needs the path parameter {name!r}",
                error_type="InvalidRequest",
                retryable=False,
            )
        return quote(str(params[name]), safe="")

    return _PLACEHOLDER.sub(value, url)


def run(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Send the request; return {status, headers, body} or raise for an unexpected status."""
    resolved = resolve_secret_refs(config, context.secrets)
    method: str = resolved.get("method", "GET")
    url = _fill_path(resolved["url"], inputs.get("path_params", {}))
    carried: dict[str, str] = {}
    tracing.inject(carried)  # the node's trace goes on with the request (when tracing is on)
    headers = {**carried, **resolved.get("headers", {}), **inputs.get("headers", {})}
    query = {**resolved.get("query", {}), **inputs.get("query", {})}
    body_source = inputs if ("json" in inputs or "form" in inputs) else resolved
    limit: int = resolved.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES)
    expected = resolved.get("expected_statuses")
    try:
        with (
            http_client(
                timeout=resolved.get("timeout_seconds", 30),
                follow_redirects=resolved.get("follow_redirects", True),
            ) as client,
            client.stream(
                method,
                # Merged, not passed as params: httpx would drop the URL's own query string.
                httpx.URL(url).copy_merge_params(query),
                headers=headers,
                json=body_source.get("json"),
                data=body_source.get("form"),
            ) as response,
        ):
            content = _read_capped(response, limit)
    except EgressRefused as refused:
        raise refused.activity_error("http_request") from None
    except httpx.TimeoutException as exc:
        raise ActivityError(f"{method} {url} timed out: {exc}", error_type="HttpTimeout") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise ActivityError(
            f"Invalid URL {url!r}: {exc}", error_type="InvalidRequest", retryable=False
        ) from None
    except httpx.TransportError as exc:
        raise ActivityError(
            f"{method} {url} failed: {exc}", error_type="HttpConnectionError"
        ) from None
    body = _body(response, content)
    status = response.status_code
    if (status not in expected) if expected else not 200 <= status < 300:
        raise _status_error(status, method, url, body)
    context.record_metric("response_bytes", float(len(content)))
    return {"status": status, "headers": dict(response.headers), "body": body}
