"""Migrations apply to an empty database, revert to empty, and apply again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import pgserver
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


@pytest.mark.skipif(not pgserver.available(), reason="no PostgreSQL server binaries")
def test_databases_of_a_new_server_migrate_at_once() -> None:
    """Migrations create server-wide roles: on a server that has none yet, several databases
    migrating at the same moment must not trip over each other."""
    with pgserver.private_server() as server:
        urls = [server.create_database(f"wfb_{n}") for n in range(3)]
        _upgrade_at_once(urls)
        assert [current_revision(url) for url in urls] == [head_revision()] * 3


def _upgrade_at_once(urls: list[str]) -> None:
    wfb = str(Path(sys.executable).with_name("wfb"))
    processes = [
        subprocess.Popen(
            [wfb, "db", "upgrade"],
            env={**os.environ, "DATABASE_URL": url},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for url in urls
    ]
    outputs = [p.communicate(timeout=300)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0] * len(urls), outputs
