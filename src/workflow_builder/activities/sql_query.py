"""`sql_query`: run one SQL statement against a PostgreSQL database named by a connection.

The connection (kind 'connection') holds `{"url": "postgresql://..."}`; the URL may be a
`$secret` reference. Parameters are always bound by the driver, never pasted into the SQL:
`%(name)s` placeholders take an object, `%s` placeholders a list.

What a tenant cannot do with it:

- reach a server the egress policy refuses: the host is resolved and checked once and libpq is
  handed the checked address (`hostaddr`), keeping the name for TLS; Unix sockets, host lists
  and the libpq parameters that read local files or services are refused;
- reach the product's own database (same server, whatever the spelling of its address, and same
  database name) unless `WFB_EGRESS_ALLOW` names that server's exact address and port;
- write when the connection does not allow it: read_only is the default, and `read_only: false`
  also needs `"allow_writes": true` on the connection. The transaction is READ ONLY on the
  server, and one call runs exactly one statement (extended protocol), so `COMMIT; UPDATE ...`
  cannot leave it;
- run unbounded: `statement_timeout` on the server, and rows read from the server one at a time
  up to `max_rows`.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from workflow_builder.activities.contract import ActivityContext, ActivityError, ComponentSpec
from workflow_builder.egress import (
    Address,
    EgressRefused,
    check_destination,
    current_allow_list,
    embedded_ipv4,
    resolve,
)
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
            "description": "Run in a READ ONLY transaction, so any write fails. false needs "
            "the connection's allow_writes.",
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


def _invalid_connection(name: str, message: str) -> ActivityError:
    return ActivityError(
        f"sql_query: the connection {name!r} {message}",
        error_type="InvalidConnection",
        retryable=False,
    )


# What a tenant's connection may set; the others name local files, services or server options
# (hostaddr would bypass the address check, options could turn read-only off at start).
_PASSED_PARAMETERS = frozenset(
    {
        "host",
        "port",
        "dbname",
        "user",
        "password",
        "sslmode",
        "sslrootcert",
        "sslnegotiation",
        "channel_binding",
        "require_auth",
        "gssencmode",
        "application_name",
        "connect_timeout",
        "target_session_attrs",
    }
)


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    dbname: str


def _local(host: str) -> bool:
    return not host or host.startswith(("/", "@"))


def _tenant_target(name: str, url: str) -> tuple[_Target, dict[str, Any]]:
    """Return where the tenant's URL points and its libpq parameters (refusing the unsafe)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise _invalid_connection(name, f"has a URL libpq cannot read: {exc}") from None
    for key in sorted(set(params) - _PASSED_PARAMETERS):
        raise _invalid_connection(name, f"sets {key!r}, which sql_query does not pass on")
    if params.get("sslrootcert") not in (None, "system"):
        raise _invalid_connection(name, "may only set sslrootcert=system")
    host = str(params.get("host") or "")
    if _local(host):
        raise EgressRefused(host or "(no host)", None, "Unix socket")
    if "," in host or "," in str(params.get("port", "")):
        raise _invalid_connection(name, "names several hosts; give one")
    try:
        port = int(params.get("port") or 5432)
    except ValueError:
        raise _invalid_connection(name, f"has an invalid port {params['port']!r}") from None
    dbname = str(params.get("dbname") or params.get("user") or "")
    if not dbname:
        raise _invalid_connection(name, "names no database (dbname) and no user")
    return _Target(host, port, dbname), params


def _product_targets(url: str) -> list[_Target]:
    """Return the server(s) and database the product's own DATABASE_URL reaches."""
    params = conninfo_to_dict(url)
    hosts = str(params.get("host") or os.environ.get("PGHOST") or "").split(",")
    addresses = str(params.get("hostaddr") or "").split(",")
    ports = str(params.get("port") or os.environ.get("PGPORT") or "5432").split(",")
    dbname = str(
        params.get("dbname")
        or os.environ.get("PGDATABASE")
        or params.get("user")
        or os.environ.get("PGUSER")
        or ""
    )
    targets = []
    for index, host in enumerate(hosts):
        port = int(ports[index] if index < len(ports) else ports[-1])
        address = addresses[index] if index < len(addresses) else ""
        targets.append(_Target(address or host, port, dbname))
    return targets


def _this_machine() -> set[Address]:
    """Return the addresses this machine answers on (its host name's, besides loopback)."""
    try:
        return set(resolve(socket.gethostname(), 5432))
    except OSError:
        return set()


def _is_this_machine(address: Address) -> bool:
    return address.is_loopback or address.is_unspecified or address in _this_machine()


def _server_addresses(host: str) -> Sequence[Address] | None:
    """Return the addresses of a product database host (None: this machine's Unix socket)."""
    if _local(host):
        return None
    try:
        return [embedded_ipv4(a) or a for a in resolve(host, 5432)]
    except OSError:
        return []


def _is_product_database(target: _Target, address: Address, product_url: str | None) -> bool:
    if not product_url:
        return False
    address = embedded_ipv4(address) or address
    for product in _product_targets(product_url):
        if product.port != target.port or product.dbname.lower() != target.dbname.lower():
            continue
        addresses = _server_addresses(product.host)
        local = addresses is None or any(_is_this_machine(a) for a in addresses)
        if address in (addresses or ()) or (local and _is_this_machine(address)):
            return True
    return False


def _conninfo(name: str, url: str, product_url: str | None) -> str:
    """Return the libpq parameters to connect with: the checked address as hostaddr."""
    target, params = _tenant_target(name, url)
    addresses = check_destination(target.host, target.port)
    allow = current_allow_list()
    for address in addresses:
        if _is_product_database(target, address, product_url) and not allow.names(
            address, target.port
        ):
            raise ActivityError(
                f"sql_query: the connection {name!r} names the product's own database "
                f"({target.dbname} on {address}:{target.port}), refused by the egress policy "
                f"(only an exact {address}:{target.port} entry in WFB_EGRESS_ALLOW allows it)",
                error_type="EgressRefused",
                retryable=False,
                details={
                    "host": target.host,
                    "port": target.port,
                    "address": str(address),
                    "rule": "the product's own database",
                },
            )
    return make_conninfo(
        "",
        **{
            **params,
            "host": target.host,
            "hostaddr": str(addresses[0]),
            "port": str(target.port),
            "dbname": target.dbname,
        },
    )


def _product_database_url() -> str | None:
    from workflow_builder.db.engine import current_database_url

    return current_database_url()


def _read_rows(
    cursor: psycopg.Cursor[Any], statement: str, parameters: Any, max_rows: int
) -> list[Any]:
    """Return up to max_rows + 1 rows, read from the server one at a time (not all at once)."""
    rows: list[Any] = []
    try:
        for row in cursor.stream(statement, parameters):
            rows.append(row)
            if len(rows) > max_rows:
                break
    except psycopg.ProgrammingError as exc:
        # A statement returning no rows (SET, a DO block): nothing to read.
        if "didn't produce a result" not in str(exc):
            raise
    return rows


def run(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Run the statement; return {rows, row_count, columns, truncated}."""
    name = config["connection"]
    settings = require_resolver(context.secrets, name).connection(name)
    url = settings.get("url")
    if not url:
        raise _invalid_connection(name, "has no 'url'")
    read_only = config.get("read_only", True)
    if not read_only and settings.get("allow_writes") is not True:
        raise ActivityError(
            f"sql_query: the node sets read_only false, but the connection {name!r} does not "
            'allow writes (its owner sets "allow_writes": true on the connection)',
            error_type="WritesNotAllowed",
            retryable=False,
        )
    try:
        conninfo = _conninfo(name, str(url), _product_database_url())
    except EgressRefused as refused:
        raise refused.activity_error("sql_query") from None
    except OSError as exc:
        raise ActivityError(
            f"Cannot reach the database: {exc}", error_type="DatabaseConnectionError"
        ) from None
    parameters = inputs.get("parameters", config.get("parameters"))
    max_rows: int = config.get("max_rows", 1000)
    timeout_ms = int(config.get("timeout_seconds", 30) * 1000)
    changed = 0
    try:
        with psycopg.connect(conninfo, connect_timeout=10) as connection:
            connection.read_only = read_only
            with connection.cursor() as cursor:
                cursor.execute(
                    sql.SQL("set local statement_timeout = {}").format(sql.Literal(timeout_ms))
                )
                if read_only:
                    fetched = _read_rows(cursor, config["sql"], parameters, max_rows)
                else:
                    # prepare=True: the extended protocol, one statement per call.
                    cursor.execute(config["sql"], parameters, prepare=True)
                    has_rows = cursor.description is not None
                    fetched = cursor.fetchmany(max_rows + 1) if has_rows else []
                    changed = max(cursor.rowcount, 0)
                returns_rows = cursor.description is not None
                columns = [column.name for column in cursor.description or []]
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
