"""sql_query against a scratch database on the test PostgreSQL server."""

from __future__ import annotations

import psycopg
import pytest

from tests.activities.conftest import Call
from tests.conftest import DatabaseFactory
from workflow_builder.activities.contract import ActivityError
from workflow_builder.activities.sql_query import run


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
