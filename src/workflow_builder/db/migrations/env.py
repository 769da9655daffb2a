"""Alembic environment: runs the revisions on the connection `workflow_builder.db.migrate` opens."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from workflow_builder.db.engine import sqlalchemy_url

VERSION_SCHEMA = "wfb_meta"
# Several processes may start at once against one database; one migrates, the others wait.
MIGRATION_LOCK = 7_351_902_114


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("select pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            connection.execute(text(f"create schema if not exists {VERSION_SCHEMA}"))
            connection.commit()
            context.configure(
                connection=connection,
                version_table_schema=VERSION_SCHEMA,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("select pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `wfb db upgrade`")
run_migrations_online()
