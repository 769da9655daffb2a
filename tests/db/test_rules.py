"""Triggers and rules the database keeps on its own."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.support import create_user, scalar, unique
from workflow_builder.db import Database, system_session, user_session


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def _create_workflow(db: Database, owner: UUID, kebab_name: str) -> UUID:
    with user_session(owner, db=db) as s:
        workflow: UUID = s.execute(
            text(
                """insert into workflows (name, display_name, kebab_name, created_by,
                     visibility_id, status_id, task_queue_id)
                   values (:k, 'W', :k, :u,
                     (select id from component_visibility where name = 'private'),
                     (select id from workflow_statuses where name = 'draft'),
                     (select id from task_queues where name = 'default'))
                   returning id"""
            ),
            {"k": kebab_name, "u": owner},
        ).scalar_one()
    return workflow


@pytest.fixture(scope="module")
def developer(db: Database) -> UUID:
    return create_user(db, role="developer")


@pytest.mark.parametrize(
    "bad",
    ["Has-Caps", "trailing-", "-leading", "two--dashes", "1digit", "under_score", "space name", ""],
)
def test_kebab_name_must_be_kebab_case(db: Database, developer: UUID, bad: str) -> None:
    with pytest.raises(DBAPIError) as caught:
        _create_workflow(db, developer, bad)
    assert _sqlstate(caught.value) == "23514"
    assert "workflows_kebab_name_format" in str(caught.value)


def test_kebab_name_is_immutable(db: Database, developer: UUID) -> None:
    name = unique("order-flow")
    workflow = _create_workflow(db, developer, name)
    with pytest.raises(DBAPIError) as caught, user_session(developer, db=db) as s:
        s.execute(
            text("update workflows set kebab_name = 'renamed' where id = :w"), {"w": workflow}
        )
    assert _sqlstate(caught.value) == "23514"
    assert f"kebab_name is immutable: it is {name} and cannot become renamed" in str(caught.value)
    with user_session(developer, db=db) as s:
        rowcount = s.execute(
            text(
                "update workflows set display_name = 'Still fine', kebab_name = kebab_name "
                "where id = :w"
            ),
            {"w": workflow},
        ).rowcount
    assert rowcount == 1


def test_updated_at_moves_on_every_update(db: Database, developer: UUID) -> None:
    workflow = _create_workflow(db, developer, unique("stamp"))
    with user_session(developer, db=db) as s:
        before = scalar(s, "select updated_at from workflows where id = :w", w=workflow)
    time.sleep(0.01)
    with user_session(developer, db=db) as s:
        s.execute(text("update workflows set description = 'x' where id = :w"), {"w": workflow})
        after = scalar(s, "select updated_at from workflows where id = :w", w=workflow)
    assert after > before


def test_every_table_with_updated_at_has_its_trigger(owner_conn: Any) -> None:
    missing = owner_conn.execute(
        """select c.table_schema || '.' || c.table_name from information_schema.columns c
           where c.column_name = 'updated_at' and c.table_schema in ('public', 'auth')
             and not exists (select 1 from information_schema.triggers t
                             where t.event_object_schema = c.table_schema
                               and t.event_object_table = c.table_name
                               and t.action_statement like '%set_updated_at%')"""
    ).fetchall()
    assert missing == []


def test_project_gets_generated_task_queue_name_and_its_task_queue(
    db: Database, developer: UUID
) -> None:
    with user_session(developer, db=db) as s:
        project_id, queue_name = s.execute(
            text(
                "insert into projects (name, created_by) values (:n, :u) "
                "returning id, task_queue_name"
            ),
            {"n": unique("project"), "u": developer},
        ).one()
        queue_owner = scalar(s, "select created_by from task_queues where name = :q", q=queue_name)
    assert queue_name == f"{developer}-{project_id}"
    assert queue_owner == developer
    with pytest.raises(DBAPIError) as caught, user_session(developer, db=db) as s:
        s.execute(
            text("update projects set task_queue_name = 'other' where id = :p"), {"p": project_id}
        )
    assert _sqlstate(caught.value) == "23514"


def test_deleting_a_project_removes_its_unused_task_queue(db: Database, developer: UUID) -> None:
    with user_session(developer, db=db) as s:
        queue_name = scalar(
            s,
            "insert into projects (name, created_by) values (:n, :u) returning task_queue_name",
            n=unique("gone"),
            u=developer,
        )
        s.execute(text("delete from projects where task_queue_name = :q"), {"q": queue_name})
        assert scalar(s, "select count(*) from task_queues where name = :q", q=queue_name) == 0


def test_an_organization_keeps_its_last_owner(db: Database, developer: UUID) -> None:
    with user_session(developer, db=db) as s:
        org = scalar(
            s,
            "insert into organizations (name, slug, created_by) values ('O', :s, :u) returning id",
            s=unique("org"),
            u=developer,
        )
    with pytest.raises(DBAPIError) as caught, user_session(developer, db=db) as s:
        s.execute(text("delete from organization_members where organization_id = :o"), {"o": org})
    assert "at least one owner" in str(caught.value)
    with user_session(developer, db=db) as s:
        s.execute(text("delete from organizations where id = :o"), {"o": org})
        assert (
            scalar(s, "select count(*) from organization_members where organization_id = :o", o=org)
            == 0
        )


def test_first_user_is_admin_and_later_users_are_developers(database_factory: Any) -> None:
    database = Database(database_factory.create())
    try:
        first, second = create_user(database), create_user(database, email="Second@Example.test")
        with system_session(db=database) as s:
            roles = dict(
                s.execute(
                    text("select u.id, r.name from users u join user_roles r on r.id = u.role_id")
                ).all()
            )
            row = s.execute(
                text("select auth_user_id, email, display_name from users where id = :u"),
                {"u": second},
            ).one()
        assert roles == {first: "admin", second: "developer"}
        assert row == (second, "Second@Example.test", "Second")
    finally:
        database.dispose()


def test_email_is_unique_regardless_of_case(db: Database) -> None:
    email = f"{unique('case')}@example.test"
    create_user(db, email=email)
    with pytest.raises(DBAPIError) as caught:
        create_user(db, email=email.upper())
    assert _sqlstate(caught.value) == "23505"


def test_auth_email_change_reaches_public_users(db: Database) -> None:
    user = create_user(db)
    new_email = f"{unique('moved')}@example.test"
    with system_session(db=db) as s:
        s.execute(
            text("update auth.users set email = :e where id = :u"), {"e": new_email, "u": user}
        )
        assert scalar(s, "select email from public.users where id = :u", u=user) == new_email


def test_unit_of_work_leaves_no_role_or_claim_on_pooled_connections(
    db: Database, developer: UUID
) -> None:
    with user_session(developer, db=db) as s:
        assert scalar(s, "select current_user") == "authenticated"
        assert scalar(s, "select auth.uid()") == developer
    for _ in range(db.engine.pool.size() + 1):
        with db.engine.connect() as conn:
            role, claim = conn.execute(
                text("select current_user, current_setting('request.jwt.claim.sub', true)")
            ).one()
            assert role != "authenticated" and not claim
