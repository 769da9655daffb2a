"""Migrations apply to an empty database, revert to empty, and apply again."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.schema_spec import SPEC
from workflow_builder.db.migrate import current_revision, downgrade, head_revision, upgrade


def _public_tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {
            r[0]
            for r in conn.execute("select tablename from pg_tables where schemaname = 'public'")
        }


def _schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("select nspname from pg_namespace")}


def test_upgrade_downgrade_upgrade(database_factory: Any) -> None:
    url = database_factory.create(migrate=False)
    assert current_revision(url) is None

    upgrade(url)
    assert current_revision(url) == head_revision()
    assert _public_tables(url) >= set(SPEC) | {"organizations", "organization_members"}

    downgrade(url, "base")
    assert current_revision(url) is None
    assert _public_tables(url) == set()
    assert "auth" not in _schemas(url)

    upgrade(url)
    assert current_revision(url) == head_revision()
    assert _public_tables(url) >= set(SPEC)


def test_each_revision_reverts_cleanly(database_factory: Any) -> None:
    url = database_factory.create(migrate=False)
    upgrade(url)
    revisions = []
    while (revision := current_revision(url)) is not None:
        revisions.append(revision)
        tables_before = _public_tables(url)
        downgrade(url, "-1")
        upgrade(url, revision)
        assert _public_tables(url) == tables_before, revision
        downgrade(url, "-1")
    assert revisions[-1] == "0001"
