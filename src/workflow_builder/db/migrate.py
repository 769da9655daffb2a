"""Schema migrations, driven from Python (`wfb db ...` and start-up call these)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text
from sqlalchemy.exc import ProgrammingError

from workflow_builder.db.engine import sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration for the database at `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`; at head, also create or upgrade the engine's schema."""
    command.upgrade(alembic_config(url), revision)
    if revision == "head":
        from workflow_builder.runtime.engines.dbos import migrate_engine

        migrate_engine(url)


def downgrade(url: str, revision: str) -> None:
    """Revert migrations down to `revision` ('base' removes everything)."""
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
