"""Shared fixtures: a real PostgreSQL for every test run.

The server is, in order: `WFB_TEST_DATABASE_URL` or `DATABASE_URL` if set; the local server at
127.0.0.1:5432 if one answers; otherwise an embedded PostgreSQL (pgserver) in a temporary
directory. `WFB_TEST_EMBEDDED=1` forces the embedded one. Each run works in databases of its
own, created here and dropped at the end, so runs never see each other's rows.

Tests that make the database go away use `server` instead: a PostgreSQL server of their module's
own (tests/pgserver.py), never the shared one.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.pgserver import PrivateServer, available, private_server
from workflow_builder.db import Database, set_database
from workflow_builder.db.migrate import upgrade

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"

# Tests serve every peer a workflow calls (HTTP, SMTP, model and database servers) on loopback,
# which the egress policy refuses unless the administrator allows it: this installation does.
# Processes the tests start inherit it; tests of the policy itself set their own list.
os.environ.setdefault("WFB_EGRESS_ALLOW", "127.0.0.0/8")
_embedded: list[Any] = []


def _local_server_answers() -> bool:
    try:
        with psycopg.connect(LOCAL_SERVER, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _admin_url() -> str:
    explicit = os.environ.get("WFB_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if explicit:
        return explicit
    if os.environ.get("WFB_TEST_EMBEDDED") != "1" and _local_server_answers():
        return LOCAL_SERVER
    import pgserver

    pgdata = Path(tempfile.mkdtemp(prefix="wfb-test-pg-"))
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    _embedded.append(server)
    url: str = server.get_uri("postgres")
    return url


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


class DatabaseFactory:
    """Creates throw-away databases on the test server and drops them at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def create(self, *, migrate: bool = True) -> str:
        name = f"wfb_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        self.created.append(name)
        url = _with_database(self.admin_url, name)
        if migrate:
            upgrade(url)
        return url

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'drop database if exists "{name}" with (force)')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session", autouse=True)
def temporal_server() -> Iterator[str | None]:
    """With `WFB_ENGINE=temporal` and no `TEMPORAL_ADDRESS`: the bundled Temporal dev server on
    a free port for the whole run (its address exported, so worker processes find it too)."""
    if os.environ.get("WFB_ENGINE") != "temporal":
        yield None
        return
    if os.environ.get("TEMPORAL_ADDRESS"):
        yield os.environ["TEMPORAL_ADDRESS"]
        return
    from workflow_builder.config import Settings, get_settings
    from workflow_builder.runtime.engines.temporal import server

    data_dir = Path(tempfile.mkdtemp(prefix="wfb-test-temporal-"))
    settings = Settings(data_dir=data_dir, temporal_port=_free_port())
    process = server.start(settings, ui=False)
    address = f"127.0.0.1:{settings.temporal_port}"
    os.environ["TEMPORAL_ADDRESS"] = address
    get_settings.cache_clear()
    try:
        yield address
    finally:
        del os.environ["TEMPORAL_ADDRESS"]
        get_settings.cache_clear()
        server.stop(process)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateServer]:
    """A PostgreSQL server of this test module's own, which its tests may stop, kill and start
    again (skipped where no server binaries are installed)."""
    if not available():
        pytest.skip("no PostgreSQL server binaries to start one")
    with private_server() as started:
        yield started


@pytest.fixture(scope="session")
def database_factory() -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(_admin_url())
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def db_url(database_factory: DatabaseFactory) -> str:
    """URL of a migrated database shared by the whole run (tests use unique names)."""
    return database_factory.create()


@pytest.fixture(scope="session")
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    set_database(database)
    yield database
    set_database(None)
    database.dispose()


@pytest.fixture
def owner_conn(db_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A plain connection as the schema owner (bypasses RLS), autocommit."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn
