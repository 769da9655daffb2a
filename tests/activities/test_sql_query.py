"""sql_query against a scratch database on the test PostgreSQL server."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.activities.conftest import Call
from tests.conftest import DatabaseFactory
from workflow_builder.activities.contract import ActivityError
from workflow_builder.activities.sql_query import run
from workflow_builder.config import get_settings
from workflow_builder.db import Database


@pytest.fixture(scope="module")
def scratch_url(database_factory: DatabaseFactory) -> str:
    url = database_factory.create(migrate=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """create table items (
                 id serial primary key,
                 name text not null,
                 price numeric(10, 2) not null,
                 added_at timestamptz not null default '2024-05-01T12:00:00Z',
                 attributes jsonb not null default '{}'
               )"""
        )
        conn.execute(
            "insert into items (name, price, attributes) values "
            "('apple', 1.25, '{\"color\": \"red\"}'), ('pear', 2, '{}'), ('plum', 0.5, '{}')"
        )
    return url


@pytest.fixture
def db_call(call: Call, scratch_url: str) -> Call:
    call.secrets.secrets["SHOP_DB_URL"] = scratch_url
    call.secrets.connections["shop"] = {"url": {"$secret": "SHOP_DB_URL"}}
    return call


def test_named_parameters_are_bound_and_rows_come_back_as_json(db_call: Call) -> None:
    config = {
        "connection": "shop",
        "sql": "select name, price, added_at, attributes from items "
        "where price >= %(min_price)s order by id",
    }
    output = run(config, {"parameters": {"min_price": 1}}, db_call.context)
    assert output["columns"] == ["name", "price", "added_at", "attributes"]
    assert output["rows"] == [
        {
            "name": "apple",
            "price": 1.25,
            "added_at": "2024-05-01T12:00:00+00:00",
            "attributes": {"color": "red"},
        },
        {"name": "pear", "price": 2, "added_at": "2024-05-01T12:00:00+00:00", "attributes": {}},
    ]
    assert output["row_count"] == 2
    assert output["truncated"] is False


def test_positional_parameters_are_bound(db_call: Call) -> None:
    config = {"connection": "shop", "sql": "select name from items where name = %s"}
    output = run({**config, "parameters": ["plum"]}, {}, db_call.context)
    assert output["rows"] == [{"name": "plum"}]


def test_a_parameter_is_never_pasted_into_the_sql(db_call: Call) -> None:
    config = {"connection": "shop", "sql": "select count(*) as n from items where name = %s"}
    output = run(config, {"parameters": ["x' or '1'='1"]}, db_call.context)
    assert output["rows"] == [{"n": 0}]


def test_read_only_is_the_default_and_makes_writes_fail(db_call: Call) -> None:
    config = {"connection": "shop", "sql": "delete from items"}
    with pytest.raises(ActivityError) as caught:
        run(config, {}, db_call.context)
    assert caught.value.error_type == "ReadOnlyViolation"
    assert not caught.value.retryable
    count = run(
        {"connection": "shop", "sql": "select count(*) as n from items"}, {}, db_call.context
    )
    assert count["rows"] == [{"n": 3}]


def test_a_writable_statement_reports_the_rows_it_changed(db_call: Call) -> None:
    db_call.secrets.connections["shop"]["allow_writes"] = True
    config = {
        "connection": "shop",
        "sql": "update items set price = price where price < %(limit)s",
        "read_only": False,
        "parameters": {"limit": 100},
    }
    output = run(config, {}, db_call.context)
    assert output == {"rows": [], "row_count": 3, "columns": [], "truncated": False}


def test_rows_stop_at_max_rows(db_call: Call) -> None:
    config = {"connection": "shop", "sql": "select id from items order by id", "max_rows": 2}
    output = run(config, {}, db_call.context)
    assert [row["id"] for row in output["rows"]] == [1, 2]
    assert output["truncated"] is True
    assert db_call.metrics["rows"] == 2


def test_a_statement_over_its_timeout_is_canceled(db_call: Call) -> None:
    config = {"connection": "shop", "sql": "select pg_sleep(5)", "timeout_seconds": 0.2}
    with pytest.raises(ActivityError) as caught:
        run(config, {}, db_call.context)
    assert caught.value.error_type == "SqlError"
    assert caught.value.details["sqlstate"] == "57014"
    assert caught.value.retryable


def test_a_sql_error_is_not_retryable(db_call: Call) -> None:
    with pytest.raises(ActivityError) as caught:
        run({"connection": "shop", "sql": "select nope from items"}, {}, db_call.context)
    assert caught.value.error_type == "SqlError"
    assert caught.value.details["sqlstate"] == "42703"
    assert not caught.value.retryable


def test_an_unreachable_database_is_retryable(call: Call) -> None:
    call.secrets.connections["gone"] = {"url": "postgresql://nobody@127.0.0.1:1/none"}
    with pytest.raises(ActivityError) as caught:
        run({"connection": "gone", "sql": "select 1"}, {}, call.context)
    assert caught.value.error_type == "DatabaseConnectionError"
    assert caught.value.retryable


# -- attacks: the node's config does not decide what the server allows ----------------------------


def test_read_only_false_needs_the_connection_to_allow_writes(db_call: Call) -> None:
    config = {"connection": "shop", "sql": "delete from items", "read_only": False}
    with pytest.raises(ActivityError) as caught:
        run(config, {}, db_call.context)
    assert caught.value.error_type == "WritesNotAllowed"
    assert "allow_writes" in caught.value.message
    assert _count(db_call) == 3


@pytest.mark.parametrize(
    "statement",
    [
        "commit; delete from items",
        "rollback; delete from items",
        "set transaction read write; delete from items",
        "commit; set session characteristics as transaction read write; delete from items",
    ],
)
def test_a_statement_cannot_leave_the_read_only_transaction(db_call: Call, statement: str) -> None:
    with pytest.raises(ActivityError) as caught:
        run({"connection": "shop", "sql": statement}, {}, db_call.context)
    assert caught.value.error_type == "SqlError"
    assert "multiple commands" in caught.value.message
    assert _count(db_call) == 3


@pytest.mark.parametrize(
    "statement",
    [
        "delete from items",
        "with gone as (delete from items returning id) select count(*) from gone",
        "do $$ begin delete from items; end $$",
        "select set_config('transaction_read_only', 'off', false)",
    ],
)
def test_writes_fail_in_the_server_whatever_the_statement(db_call: Call, statement: str) -> None:
    with pytest.raises(ActivityError) as caught:
        run({"connection": "shop", "sql": statement}, {}, db_call.context)
    assert caught.value.error_type in ("ReadOnlyViolation", "SqlError"), caught.value.message
    assert _count(db_call) == 3


def test_rows_are_read_from_the_server_only_up_to_max_rows(db_call: Call) -> None:
    config = {
        "connection": "shop",
        "sql": "select g from generate_series(1, 50000000) as g",
        "max_rows": 3,
        "timeout_seconds": 60,
    }
    output = run(config, {}, db_call.context)
    assert output["rows"] == [{"g": 1}, {"g": 2}, {"g": 3}]
    assert output["truncated"] is True


def _count(call: Call) -> int:
    output = run({"connection": "shop", "sql": "select count(*) as n from items"}, {}, call.context)
    return int(output["rows"][0]["n"])


def _spellings(url: str) -> list[str]:
    """The product's database URL as an attacker would write it, all naming the same database."""
    parsed = make_url(url)
    host, port, name, user = parsed.host, parsed.port or 5432, parsed.database, parsed.username
    auth = f"{user}:{parsed.password}@" if parsed.password else f"{user}@"
    spellings = [
        url,
        f"postgresql://{auth}localhost:{port}/{name}",
        f"postgresql://{auth}LOCALHOST:{port}/{name}?sslmode=disable",
        f"postgres://{auth}127.0.0.1:{port}/{name}?sslmode=prefer&application_name=x",
        f"postgresql://{auth}2130706433:{port}/{name}",
        f"postgresql://{auth}127.0.0.2:{port}/{name}",
        f"postgresql://{auth}{host}:{port}/{name.upper()}",
        f"host={host} port={port} dbname={name} user={user}",
        f"postgresql://{auth}[::ffff:127.0.0.1]:{port}/{name}",
    ]
    if port == 5432:
        spellings.append(f"postgresql://{auth}{host}/{name}")
    return spellings


@pytest.fixture
def product_database(db: Database) -> str:
    """The product's own database (this process's), with loopback allowed as a destination."""
    assert get_settings().egress_allow == "127.0.0.0/8"
    return db.url


def test_the_products_own_database_is_refused_whatever_the_spelling(
    call: Call, product_database: str
) -> None:
    for index, url in enumerate(_spellings(product_database)):
        call.secrets.connections[f"mine{index}"] = {"url": url, "allow_writes": True}
        config = {
            "connection": f"mine{index}",
            "sql": "update projects set name = 'taken over'",
            "read_only": False,
        }
        with pytest.raises(ActivityError) as caught:
            run(config, {}, call.context)
        assert caught.value.error_type == "EgressRefused", (url, caught.value.message)
        assert "the product's own database" in caught.value.message, url
        assert not caught.value.retryable


def test_a_unix_socket_and_libpq_detours_are_refused(call: Call, product_database: str) -> None:
    parsed = make_url(product_database)
    detours = {
        "socket": f"postgresql:///{parsed.database}?host=/var/run/postgresql",
        "no-host": f"postgresql:///{parsed.database}",
        "hostaddr": f"postgresql://db.example/{parsed.database}?hostaddr=127.0.0.1",
        "service": "service=wfb",
        "options": "postgresql://127.0.0.1/x?options=-c%20default_transaction_read_only%3Doff",
        "passfile": "postgresql://127.0.0.1/x?passfile=/etc/passwd",
    }
    for name, url in detours.items():
        call.secrets.connections[name] = {"url": url}
        with pytest.raises(ActivityError) as caught:
            run({"connection": name, "sql": "select 1"}, {}, call.context)
        assert caught.value.error_type in ("EgressRefused", "InvalidConnection"), name
        assert not caught.value.retryable


def test_another_database_on_an_allowed_server_is_reachable(db_call: Call, db: Database) -> None:
    assert _count(db_call) == 3


def test_a_product_database_on_a_unix_socket_is_recognised_over_tcp(
    call: Call, product_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded server is reached by socket: a TCP connection to this machine on the same
    port and database is the same database."""
    from types import SimpleNamespace

    from workflow_builder.db import engine

    parsed = make_url(product_database)
    socket_url = f"postgresql://postgres@/{parsed.database}?host=/tmp&port={parsed.port or 5432}"
    monkeypatch.setattr(engine, "_database", SimpleNamespace(url=socket_url))
    call.secrets.connections["mine"] = {"url": product_database}
    with pytest.raises(ActivityError) as caught:
        run({"connection": "mine", "sql": "select 1"}, {}, call.context)
    assert "the product's own database" in caught.value.message
