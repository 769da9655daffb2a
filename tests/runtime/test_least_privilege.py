"""The API and worker processes run as `wfb_app`, a role that is no superuser, owns nothing and
bypasses row-level security only by taking `service_role` for system work; migrations run as
the owner. A whole run goes through it: sign-up, deploy, the engine's queue, a worker's steps."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.pgserver import PrivateServer
from tests.runtime.conftest import chain
from tests.runtime.stack import Stack

pytestmark = [pytest.mark.slow]

LOGIN = "wfb_app_login"


@pytest.fixture(scope="module")
def stack(server: PrivateServer) -> Iterator[Stack]:
    running = Stack(server, database_user=LOGIN)
    yield running
    running.close()


def app_connection(stack: Stack) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(stack.env["DATABASE_URL"], autocommit=True)


def test_the_application_role_is_not_privileged(stack: Stack) -> None:
    with app_connection(stack) as conn:
        row = conn.execute(
            "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb "
            "from pg_roles where rolname = 'wfb_app'"
        ).fetchone()
        assert row == (False, False, False, False)
        assert conn.execute("select current_user").fetchone() == (LOGIN,)


def test_as_itself_it_sees_no_tenant_row_and_changes_no_schema(stack: Stack) -> None:
    with psycopg.connect(stack.url, autocommit=True) as owner:
        owner.execute(
            "insert into auth.users (email) values ('someone@example.test') on conflict do nothing"
        )
    with app_connection(stack) as conn:
        assert conn.execute("select count(*) from auth.users").fetchone() == (0,)
        assert conn.execute("select count(*) from public.project_secrets").fetchone() == (0,)
        for statement in (
            "create table public.mine (id int)",
            "alter table public.projects disable row level security",
            "alter role wfb_app bypassrls",
            "set role postgres",
            "create role intruder superuser",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        # System work takes service_role explicitly, and only then sees every row.
        conn.execute("set role service_role")
        assert conn.execute("select count(*) from auth.users").fetchone()[0] >= 1  # type: ignore[index]


def test_a_whole_run_goes_through_the_unprivileged_role(stack: Stack) -> None:
    stack.start_worker()
    api = stack.sign_up()
    definition = {
        "nodes": [
            {"id": "start", "type": "trigger"},
            {
                "id": "shape",
                "type": "activity",
                "component": {"name": "transform"},
                "input": {"greeting": "'hello'"},
            },
            {"id": "done", "type": "end", "config": {"output": "nodes.shape.output"}},
        ],
        "edges": chain("start", "shape", "done"),
    }
    run = api.wait(api.start(api.deploy(definition)))
    assert run["status"] == "completed", run
    with psycopg.connect(stack.url, autocommit=True) as owner:
        users = {
            r[0]
            for r in owner.execute(
                "select distinct usename from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid()"
            )
        }
    assert users == {LOGIN}
