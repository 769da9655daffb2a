"""The runtime's asynchronous pool: a transaction's statements go together, all or nothing."""

from __future__ import annotations

import psycopg
import pytest

from tests.support import run_async, unique
from workflow_builder.db import Database
from workflow_builder.runtime.aio import AsyncPool


@pytest.fixture
def table(db: Database) -> str:
    name = unique("aio").replace("-", "_")
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f"create table {name} (v int primary key)")
        conn.execute(f"grant all on {name} to service_role")
    return name


def _values(db: Database, table: str) -> list[int]:
    with psycopg.connect(db.url, autocommit=True) as conn:
        return [row[0] for row in conn.execute(f"select v from {table} order by v")]


def test_a_transaction_answers_each_statement_and_commits(db: Database, table: str) -> None:
    async def run() -> list[list[dict[str, object]]]:
        pool = AsyncPool(db.url, size=1)
        try:
            return await pool.transaction(
                [
                    (f"insert into {table} values (%(v)s) returning v", {"v": 1}),
                    (f"select count(*) as n from {table}", {}),
                    (f"insert into {table} values (2)", {}),
                ]
            )
        finally:
            await pool.close()

    assert run_async(run()) == [[{"v": 1}], [{"n": 1}], []]
    assert _values(db, table) == [1, 2]


def test_a_failing_statement_rolls_the_whole_transaction_back(db: Database, table: str) -> None:
    async def run() -> list[list[dict[str, object]]]:
        pool = AsyncPool(db.url, size=1)
        try:
            await pool.transaction([(f"insert into {table} values (1)", {})])
            with pytest.raises(psycopg.errors.UniqueViolation):
                await pool.transaction(
                    [
                        (f"insert into {table} values (2)", {}),
                        (f"insert into {table} values (1)", {}),
                    ]
                )
            # The pool's connection was replaced: the next transaction works.
            return await pool.transaction([(f"insert into {table} values (3) returning v", {})])
        finally:
            await pool.close()

    assert run_async(run()) == [[{"v": 3}]]
    assert _values(db, table) == [1, 3]
