"""The embedded PostgreSQL used when no DATABASE_URL is configured."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "workflow_builder"

# pgserver stops the server when the last process holding a handle exits, so the
# handle lives as long as this process does.
_servers: dict[Path, Any] = {}


def start_embedded(pgdata: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or attach to) the embedded server in `pgdata` and return a URL for `database`."""
    from pgserver import postgres_server

    pgdata = pgdata.expanduser().resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = _servers.get(pgdata)
    if server is None:
        log.info("starting embedded PostgreSQL in %s", pgdata)
        server = postgres_server.get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
    admin_uri: str = server.get_uri("postgres")
    ensure_database(admin_uri, database)
    uri: str = server.get_uri(database)
    return uri


def ensure_database(admin_url: str, database: str) -> None:
    """Create `database` on the server behind `admin_url` unless it exists."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(f'create database "{database}"')


# API and worker processes on the embedded server connect as this login role, a member of the
# unprivileged `wfb_app` (migration 0035); migrations keep the server's owner.
APPLICATION_LOGIN = "wfb_runtime"


def application_url(owner_url: str) -> str:
    """Return `owner_url` with the embedded server's unprivileged login role in place of the
    owner, creating the role once `wfb_app` exists; before the schema has been migrated (no
    `wfb_app` yet), the owner's URL itself."""
    from sqlalchemy.engine import make_url

    with psycopg.connect(owner_url, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_roles where rolname = 'wfb_app'").fetchone():
            return owner_url
        if not conn.execute(
            "select 1 from pg_roles where rolname = %s", (APPLICATION_LOGIN,)
        ).fetchone():
            conn.execute(f"create role {APPLICATION_LOGIN} login in role wfb_app")
    return make_url(owner_url).set(username=APPLICATION_LOGIN).render_as_string(hide_password=False)


def stop_embedded() -> None:
    """Stop the embedded servers this process started (unless another process still uses one)."""
    while _servers:
        _, server = _servers.popitem()
        server.cleanup()
