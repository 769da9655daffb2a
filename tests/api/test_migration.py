"""Revision 0005 (API identity) applies, reverts and applies again."""

from __future__ import annotations

import psycopg

from tests.conftest import DatabaseFactory
from workflow_builder.db.migrate import downgrade, upgrade

TABLES = ("api_keys", "auth_sessions", "sign_in_attempts")


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select tablename from pg_tables where schemaname = 'public' and tablename = any(%s)",
            (list(TABLES),),
        ).fetchall()
        without_rls = conn.execute(
            "select relname from pg_class where relname = any(%s) and not relrowsecurity",
            (list(TABLES),),
        ).fetchall()
    assert without_rls == []
    return {name for (name,) in rows}


def test_revision_0005_upgrades_downgrades_and_upgrades_again(
    database_factory: DatabaseFactory,
) -> None:
    url = database_factory.create(migrate=False)
    upgrade(url, "0005")
    assert _tables(url) == set(TABLES)
    downgrade(url, "0004")
    assert _tables(url) == set()
    upgrade(url, "0005")
    assert _tables(url) == set(TABLES)
