"""The runtime's single-statement path: autocommit, asynchronous commit, one retry on a lost
connection, nothing left behind by a failing statement, a bounded pool."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

from tests.support import unique
from workflow_builder.db import Database
from workflow_builder.db.direct import DirectPool, PoolTimeout


@pytest.fixture
def table(db: Database) -> Iterator[str]:
    """A scratch table, dropped afterwards (the schema tests check every table in public)."""
    name = unique("direct").replace("-", "_")
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f"create table {name} (k text primary key, n int not null)")
        conn.execute(f"grant all on {name} to service_role")
    yield name
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f"drop table {name}")


def _rows(db: Database, table: str) -> list[tuple[str, int]]:
    with psycopg.connect(db.url, autocommit=True) as conn:
        return [(k, n) for k, n in conn.execute(f"select k, n from {table} order by k")]


def test_a_statement_commits_on_its_own_and_returns_its_rows(db: Database, table: str) -> None:
    upsert = text(
        f"insert into {table} (k, n) values (:k, :n) "
        f"on conflict (k) do update set n = {table}.n + excluded.n returning n"
    )
    assert db.system_statement(upsert, {"k": "a", "n": 2}) == [{"n": 2}]
    assert db.system_statement(upsert, {"k": "a", "n": 3}) == [{"n": 5}]
    assert db.system_statement(text(f"update {table} set n = 0 where k = 'zz'")) == []
    assert _rows(db, table) == [("a", 5)]
    [setting] = db.system_statement(
        text("select current_setting('synchronous_commit') as s, current_user as u")
    )
    assert setting == {"s": "off", "u": "service_role"}


def test_a_lost_connection_is_replaced_and_the_statement_sent_again(
    db: Database, table: str
) -> None:
    [row] = db.system_statement(text("select pg_backend_pid() as pid"))
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(%s)", (row["pid"],))
    db.system_statement(text(f"insert into {table} values ('b', 1)"))
    [again] = db.system_statement(text("select pg_backend_pid() as pid"))
    assert again["pid"] != row["pid"]
    assert _rows(db, table) == [("b", 1)]


def test_a_failing_statement_writes_nothing_and_the_pool_goes_on(db: Database, table: str) -> None:
    failing = text(f"insert into {table} values ('c', 1), ('d', 1 / 0)")
    with pytest.raises(psycopg.errors.DivisionByZero):
        db.system_statement(failing)
    assert _rows(db, table) == []
    db.system_statement(text(f"insert into {table} values ('c', 1)"))
    assert _rows(db, table) == [("c", 1)]


def test_a_busy_pool_makes_callers_wait_then_gives_up(db: Database) -> None:
    pool = DirectPool(db.url, max_size=1, wait_seconds=0.5)
    holding = threading.Event()

    def hold(seconds: float) -> None:
        with pool.connection():
            holding.set()
            time.sleep(seconds)

    try:
        # Held for longer than the wait: the caller gives up with a clear error.
        holder = threading.Thread(target=hold, args=(1.0,))
        holder.start()
        holding.wait(5)
        with pytest.raises(PoolTimeout, match=r"stayed busy for 0\.5 s"):
            pool.execute("select 1", {})
        holder.join()
        # Held for less: the caller waits its turn and gets the same connection.
        holding.clear()
        holder = threading.Thread(target=hold, args=(0.1,))
        holder.start()
        holding.wait(5)
        assert pool.execute("select 1 as one", {}) == [{"one": 1}]
        holder.join()
        assert pool._open == 1
    finally:
        pool.close()
