"""`sql_query`: run one SQL statement against a PostgreSQL database named by a connection.

The connection (kind 'connection') holds `{"url": "postgresql://..."}`; the URL may be a
`$secret` reference. Parameters are always bound by the driver, never pasted into the SQL:
`%(name)s` placeholders take an object, `%s` placeholders a list.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from workflow_builder.activities.contract import ActivityContext, ActivityError, ComponentSpec
from workflow_builder.secrets.references import require_resolver

_PARAMETERS = {
    "type": ["object", "array"],
    "description": "An object for %(name)s placeholders or a list for %s placeholders.",
}
# SQLSTATE classes worth retrying: connection loss, resources, serialization failures and
# deadlocks, operator intervention (shutdown, statement timeout).
_RETRYABLE_CLASSES = ("08", "40", "53", "57")

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "connection": {
            "type": "string",
            "minLength": 1,
            "description": "Name of the project connection holding the database URL.",
        },
        "sql": {"type": "string", "minLength": 1, "maxLength": 100_000},
        "parameters": _PARAMETERS,
        "read_only": {
            "type": "boolean",
            "default": True,
            "description": "Run in a READ ONLY transaction, so any write fails.",
        },
        "max_rows": {"type": "integer", "minimum": 1, "maximum": 100_000, "default": 1000},
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 3600,
            "default": 30,
        },
    },
    "required": ["connection", "sql"],
    "additionalProperties": False,
}

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"parameters": _PARAMETERS},
    "additionalProperties": False,
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "rows": {"type": "array", "items": {"type": "object"}},
        "row_count": {
            "type": "integer",
            "description": "Rows returned, or rows changed by a statement returning none.",
        },
        "columns": {"type": "array", "items": {"type": "string"}},
        "truncated": {"type": "boolean", "description": "Whether rows stopped at max_rows."},
    },
    "required": ["rows", "row_count", "columns", "truncated"],
    "additionalProperties": False,
}

SPEC = ComponentSpec(
    name="sql_query",
    display_name="SQL query",
    description="Run a parameterized SQL statement against a PostgreSQL connection.",
    component_type="activity",
    implementation_path="workflow_builder.activities.sql_query:run",
    config_schema=CONFIG_SCHEMA,
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    tags=("database", "sql", "postgresql"),
    capabilities=("network", "connections"),
    package="psycopg[binary]>=3.1",
)


def _json_value(value: Any) -> Any:
    """Return a database value as JSON: numbers, ISO 8601 times, base64 bytes, text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def _database_error(exc: psycopg.Error) -> ActivityError:
    sqlstate = exc.sqlstate or ""
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return ActivityError(
            f"The statement writes, but the node runs read_only: {exc}",
            error_type="ReadOnlyViolation",
            retryable=False,
            details={"sqlstate": sqlstate},
        )
    if isinstance(exc, psycopg.OperationalError) and not sqlstate:
        return ActivityError(
            f"Cannot reach the database: {exc}", error_type="DatabaseConnectionError"
        )
    return ActivityError(
        f"The statement failed: {exc}",
        error_type="SqlError",
        retryable=sqlstate.startswith(_RETRYABLE_CLASSES),
        details={"sqlstate": sqlstate},
    )


def run(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Run the statement; return {rows, row_count, columns, truncated}."""
    name = config["connection"]
    url = require_resolver(context.secrets, name).connection(name).get("url")
    if not url:
        raise ActivityError(
            f"The connection {name!r} has no 'url'",
            error_type="InvalidConnection",
            retryable=False,
        )
    parameters = inputs.get("parameters", config.get("parameters"))
    max_rows: int = config.get("max_rows", 1000)
    timeout_ms = int(config.get("timeout_seconds", 30) * 1000)
    try:
        with psycopg.connect(url, connect_timeout=10) as connection:
            connection.read_only = config.get("read_only", True)
            with connection.cursor() as cursor:
                cursor.execute(
                    sql.SQL("set local statement_timeout = {}").format(sql.Literal(timeout_ms))
                )
                cursor.execute(config["sql"], parameters)
                returns_rows = cursor.description is not None
                columns = [column.name for column in cursor.description or []]
                fetched = cursor.fetchmany(max_rows + 1) if returns_rows else []
                changed = max(cursor.rowcount, 0)
    except psycopg.Error as exc:
        raise _database_error(exc) from None
    truncated = len(fetched) > max_rows
    rows = [
        {column: _json_value(value) for column, value in zip(columns, row, strict=True)}
        for row in fetched[:max_rows]
    ]
    context.record_metric("rows", float(len(rows)))
    return {
        "rows": rows,
        "row_count": len(rows) if returns_rows else changed,
        "columns": columns,
        "truncated": truncated,
    }
