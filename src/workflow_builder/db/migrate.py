"""Schema migrations, driven from Python (`wfb db ...` and start-up call these)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, pool, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from workflow_builder.db.engine import sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration for the database at `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Held (in the server's maintenance database) while a database migrates: migrations change
# server-wide objects too (roles, their memberships), and two databases of one server
# migrating at the same moment would otherwise collide on them ("tuple concurrently updated").
SERVER_MIGRATION_LOCK = 7_351_902_115
MAINTENANCE_DATABASE = "postgres"


@contextmanager
def _server_lock(url: str) -> Iterator[None]:
    """Hold the server-wide migration lock for the block (when the maintenance database can be
    reached; a server that hides it is left to the per-database lock alone)."""
    admin = make_url(sqlalchemy_url(url)).set(database=MAINTENANCE_DATABASE)
    engine = create_engine(admin, poolclass=pool.NullPool)
    try:
        connection = engine.connect()
    except OperationalError:
        engine.dispose()
        yield
        return
    try:
        connection.execute(text("select pg_advisory_lock(:k)"), {"k": SERVER_MIGRATION_LOCK})
        yield
    finally:
        connection.close()  # the session's end releases the lock
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`; at head, also create or upgrade the engine's schema."""
    with _server_lock(url):
        command.upgrade(alembic_config(url), revision)
        if revision == "head":
            from workflow_builder.runtime.engines.dbos import migrate_engine

            migrate_engine(url)


def downgrade(url: str, revision: str) -> None:
    """Revert migrations down to `revision` ('base' removes everything)."""
    with _server_lock(url):
        command.downgrade(alembic_config(url), revision)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """Return the newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """Return the revision the database is at, or None for an empty database."""
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text("select version_num from wfb_meta.alembic_version")).scalar()
    except ProgrammingError:
        return None
    finally:
        engine.dispose()
