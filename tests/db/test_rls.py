"""Row-level security, proven through plain SQL as the `authenticated` role.

The world: A and B are developers in different organizations, C is a member of A's
organization, V is a viewer in none. A owns a private, an organization and a public variant of
every kind of row. Each test asks the database directly, so a route that forgets to filter
cannot leak what these tests guard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.support import create_user, unique
from workflow_builder.db import Database, anon_session, system_session, user_session

VISIBILITIES = ("private", "organization", "public")
DEFINITION_TABLES = (
    "workflow_nodes",
    "workflow_edges",
    "workflow_work_queues",
    "workflow_signals",
    "workflow_queries",
    "workflow_scheduled_workflows",
    "workflow_child_workflows",
    "workflow_compiled_code",
)
SYSTEM_WRITTEN = ("workflow_workers", "activity_statistics", "execution_steps")
EVERYONE = frozenset("ABCV")
# Who may read a row of A's, by what it belongs to and its visibility.
SHARED_READERS = {"private": {"A"}, "organization": {"A", "C"}, "public": set(EVERYONE)}
# A run carries its runner's data: public workflows share their definition, not their runs.
RUN_READERS = {"private": {"A"}, "organization": {"A", "C"}, "public": {"A"}}


@dataclass
class World:
    users: dict[str, UUID]
    org_a: UUID
    org_b: UUID
    rows: list[tuple[str, UUID, frozenset[str]]] = field(default_factory=list)
    workflows: dict[str, UUID] = field(default_factory=dict)

    def add(self, table: str, row_id: UUID, readers: set[str] | frozenset[str]) -> None:
        self.rows.append((table, row_id, frozenset(readers)))


def _insert(session: Any, table: str, values: dict[str, Any]) -> UUID:
    columns = ", ".join(values)
    params = ", ".join(f"cast(:{k} as jsonb)" if k in JSON_COLUMNS else f":{k}" for k in values)
    row_id: UUID = session.execute(
        text(f"insert into public.{table} ({columns}) values ({params}) returning id"), values
    ).scalar_one()
    return row_id


JSON_COLUMNS = {"config", "definition", "parameters", "return_type"}


def _lookup(session: Any, table: str, name: str) -> UUID:
    found: UUID = session.execute(
        text(f"select id from public.{table} where name = :n"), {"n": name}
    ).scalar_one()
    return found


def _build(db: Database) -> World:
    users = {name: create_user(db, role="developer") for name in "ABC"}
    users["V"] = create_user(db, role="viewer")
    a = users["A"]
    with user_session(users["B"], db=db) as s:
        org_b = _insert(
            s, "organizations", {"name": "B org", "slug": unique("b"), "created_by": users["B"]}
        )
    with user_session(a, db=db) as s:
        org_a = _insert(s, "organizations", {"name": "A org", "slug": unique("a"), "created_by": a})
        _insert(s, "organization_members", {"organization_id": org_a, "user_id": users["C"]})
    world = World(users=users, org_a=org_a, org_b=org_b)
    world.add("organizations", org_a, {"A", "C"})
    world.add("organizations", org_b, {"B"})
    world.add("users", a, {"A", "C"})
    world.add("users", users["B"], {"B"})
    world.add("users", users["V"], {"V"})

    with user_session(a, db=db) as s:
        member_rows = s.execute(
            text("select id from public.organization_members where organization_id = :o"),
            {"o": org_a},
        ).scalars()
        for member_row in member_rows:
            world.add("organization_members", member_row, {"A", "C"})
        project = _insert(s, "projects", {"name": unique("project"), "created_by": a})
        world.add("projects", project, {"A"})
        queue_id = s.execute(
            text(
                "select q.id from task_queues q join projects p on p.task_queue_name = q.name "
                "where p.id = :p"
            ),
            {"p": project},
        ).scalar_one()
        # The project's queue: readable through the public workflow put on it below.
        world.add("task_queues", queue_id, EVERYONE)
        draft = _lookup(s, "workflow_statuses", "draft")
        activity = _lookup(s, "component_types", "activity")
        for vis in VISIBILITIES:
            shared = {
                "created_by": a,
                "visibility_id": _lookup(s, "component_visibility", vis),
                "organization_id": org_a if vis == "organization" else None,
            }
            prompt = _insert(
                s,
                "agent_prompts",
                {
                    **shared,
                    "name": unique("prompt"),
                    "display_name": "P",
                    "prompt_content": "Hi",
                },
            )
            component = _insert(
                s,
                "components",
                {
                    **shared,
                    "name": unique("comp"),
                    "display_name": "C",
                    "component_type_id": activity,
                },
            )
            workflow = _insert(
                s,
                "workflows",
                {
                    **shared,
                    "name": unique("wf"),
                    "display_name": "W",
                    "kebab_name": unique("wf"),
                    "status_id": draft,
                    "task_queue_id": queue_id,
                    "project_id": project,
                    "definition": "{}",
                },
            )
            world.workflows[vis] = workflow
            for table, row_id in (
                ("agent_prompts", prompt),
                ("components", component),
                ("workflows", workflow),
            ):
                world.add(table, row_id, SHARED_READERS[vis])
            queue = _insert(
                s,
                "workflow_work_queues",
                {
                    "workflow_id": workflow,
                    "queue_name": "jobs",
                    "signal_name": "jobs_add",
                    "query_name": "jobs_items",
                    "created_by": a,
                },
            )
            children = {
                "workflow_nodes": {
                    "workflow_id": workflow,
                    "node_id": "n1",
                    "node_type": "activity",
                    "component_id": component,
                    "config": "{}",
                },
                "workflow_edges": {
                    "workflow_id": workflow,
                    "edge_id": "e1",
                    "source_node_id": "n0",
                    "target_node_id": "n1",
                },
                "workflow_signals": {
                    "workflow_id": workflow,
                    "signal_name": "approve",
                    "parameters": "{}",
                    "created_by": a,
                },
                "workflow_queries": {
                    "workflow_id": workflow,
                    "query_name": "progress",
                    "return_type": "{}",
                    "created_by": a,
                },
                "workflow_scheduled_workflows": {
                    "workflow_id": workflow,
                    "cron_expression": "0 * * * *",
                    "created_by": a,
                },
                "workflow_child_workflows": {
                    "parent_workflow_id": workflow,
                    "child_workflow_id": workflow,
                    "child_workflow_name": "x",
                    "created_by": a,
                },
                "workflow_compiled_code": {
                    "workflow_id": workflow,
                    "version": "1.0.0",
                    "workflow_code": "{}",
                },
            }
            world.add("workflow_work_queues", queue, SHARED_READERS[vis])
            for table, values in children.items():
                world.add(table, _insert(s, table, values), SHARED_READERS[vis])
            execution = _insert(
                s, "workflow_executions", {"workflow_id": workflow, "status": "running"}
            )
            world.add("workflow_executions", execution, RUN_READERS[vis])
            world.add("components.global_stats", component, SHARED_READERS[vis])

    with system_session(db=db) as s:
        world.add(
            "workflow_workers",
            _insert(
                s,
                "workflow_workers",
                {
                    "project_id": project,
                    "worker_id": unique("worker"),
                    "task_queue_name": "q",
                },
            ),
            {"A"},
        )
        for vis, workflow in world.workflows.items():
            component = s.execute(
                text("select component_id from workflow_nodes where workflow_id = :w"),
                {"w": workflow},
            ).scalar_one()
            execution = s.execute(
                text("select id from workflow_executions where workflow_id = :w"), {"w": workflow}
            ).scalar_one()
            step = _insert(
                s,
                "execution_steps",
                {
                    "execution_id": execution,
                    "node_id": "n1",
                    "node_type": "activity",
                    "status": "completed",
                },
            )
            world.add("execution_steps", step, RUN_READERS[vis])
            stats = _insert(
                s, "activity_statistics", {"component_id": component, "workflow_id": workflow}
            )
            world.add("activity_statistics", stats, RUN_READERS[vis])
            global_stats = _insert(s, "activity_statistics", {"component_id": component})
            world.add("activity_statistics", global_stats, SHARED_READERS[vis])
    world.rows = [r for r in world.rows if r[0] != "components.global_stats"]
    return world


@pytest.fixture(scope="module")
def world(db: Database) -> World:
    return _build(db)


def _count(session: Any, table: str, row_id: UUID) -> int:
    count: int = session.execute(
        text(f"select count(*) from public.{table} where id = :id"), {"id": row_id}
    ).scalar_one()
    return count


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def test_every_user_reads_exactly_what_rls_allows(db: Database, world: World) -> None:
    seen_tables = set()
    mismatches = []
    for table, row_id, readers in world.rows:
        seen_tables.add(table)
        for name in sorted(EVERYONE):
            with user_session(world.users[name], db=db) as s:
                visible = _count(s, table, row_id) == 1
            if visible != (name in readers):
                mismatches.append(f"{name} {'sees' if visible else 'misses'} {table} {row_id}")
    assert mismatches == []
    assert seen_tables >= {
        "components",
        "agent_prompts",
        "workflows",
        "projects",
        "workflow_executions",
        *DEFINITION_TABLES,
        *SYSTEM_WRITTEN,
    }


def test_service_role_sees_every_row(db: Database, world: World) -> None:
    with system_session(db=db) as s:
        assert all(_count(s, table, row_id) == 1 for table, row_id, _ in world.rows)


def test_anon_can_read_no_table(db: Database, world: World) -> None:
    for table in sorted({t for t, _, _ in world.rows} | {"component_types", "user_roles"}):
        with pytest.raises(DBAPIError) as caught, anon_session(db=db) as s:
            s.execute(text(f"select count(*) from public.{table}"))
        assert _sqlstate(caught.value) == "42501", table


def test_nobody_but_the_owner_changes_or_deletes_a_row(db: Database, world: World) -> None:
    changed = []
    for table, row_id, _ in world.rows:
        if table in ("organizations", "organization_members", "users", "task_queues"):
            continue  # their rules differ; covered by their own tests below
        for name in ("B", "C", "V"):
            for statement in (
                f"update public.{table} set id = id where id = :id",
                f"delete from public.{table} where id = :id",
            ):
                try:
                    with user_session(world.users[name], db=db) as s:
                        rowcount = s.execute(text(statement), {"id": row_id}).rowcount
                except DBAPIError as exc:
                    assert _sqlstate(exc) == "42501", (name, table)
                    continue
                if rowcount:
                    changed.append(f"{name}: {statement.split()[0]} {table}")
    assert changed == []
    with system_session(db=db) as s:
        assert all(_count(s, table, row_id) == 1 for table, row_id, _ in world.rows)


def test_the_owner_can_update_their_rows(db: Database, world: World) -> None:
    for table, row_id, readers in world.rows:
        if "A" not in readers or table in (*SYSTEM_WRITTEN, "users", "task_queues"):
            continue
        with user_session(world.users["A"], db=db) as s:
            rowcount = s.execute(
                text(f"update public.{table} set id = id where id = :id"), {"id": row_id}
            ).rowcount
        assert rowcount == 1, table


def _assert_denied(db: Database, user: UUID, sql: str, **params: Any) -> None:
    with pytest.raises(DBAPIError) as caught, user_session(user, db=db) as s:
        s.execute(text(sql), params)
    assert _sqlstate(caught.value) == "42501", caught.value


def test_no_one_writes_into_another_users_workflow(db: Database, world: World) -> None:
    for name in ("B", "C"):
        for vis, workflow in world.workflows.items():
            _assert_denied(
                db,
                world.users[name],
                "insert into workflow_nodes (workflow_id, node_id, node_type) "
                "values (:w, 'x', 'end')",
                w=workflow,
            )
            _assert_denied(
                db,
                world.users[name],
                "insert into workflow_executions (workflow_id) values (:w)",
                w=workflow,
            )
            assert vis in VISIBILITIES


def _new_workflow_sql(owner_column: str = ":owner") -> str:
    return f"""insert into workflows (name, display_name, kebab_name, created_by, visibility_id,
                 status_id, task_queue_id, organization_id)
               values (:name, 'X', :name, {owner_column},
                       (select id from component_visibility where name = :vis),
                       (select id from workflow_statuses where name = 'draft'),
                       (select id from task_queues where name = 'default'), :org)"""


def test_no_one_creates_rows_in_another_users_name(db: Database, world: World) -> None:
    _assert_denied(
        db,
        world.users["B"],
        _new_workflow_sql(),
        name=unique("wf"),
        owner=world.users["A"],
        vis="private",
        org=None,
    )


def test_a_viewer_cannot_write_even_their_own_rows(db: Database, world: World) -> None:
    viewer = world.users["V"]
    _assert_denied(
        db, viewer, _new_workflow_sql(), name=unique("wf"), owner=viewer, vis="private", org=None
    )
    _assert_denied(db, viewer, "insert into projects (name, created_by) values ('p', :u)", u=viewer)


def test_sharing_with_an_organization_requires_membership(db: Database, world: World) -> None:
    _assert_denied(
        db,
        world.users["A"],
        _new_workflow_sql(),
        name=unique("wf"),
        owner=world.users["A"],
        vis="organization",
        org=world.org_b,
    )


def test_organization_visibility_requires_an_organization(db: Database, world: World) -> None:
    with pytest.raises(DBAPIError) as caught, user_session(world.users["A"], db=db) as s:
        s.execute(
            text(_new_workflow_sql()),
            {"name": unique("wf"), "owner": world.users["A"], "vis": "organization", "org": None},
        )
    assert _sqlstate(caught.value) == "23514"
    assert "organization_id" in str(caught.value)


def test_only_organization_admins_add_members(db: Database, world: World) -> None:
    for name in ("B", "C"):
        _assert_denied(
            db,
            world.users[name],
            "insert into organization_members (organization_id, user_id) values (:o, :u)",
            o=world.org_a,
            u=world.users["V"],
        )


def test_workers_and_statistics_are_written_only_by_the_system(db: Database, world: World) -> None:
    a = world.users["A"]
    _assert_denied(
        db, a, "insert into activity_statistics (component_id) select id from components limit 1"
    )
    _assert_denied(db, a, "update workflow_workers set status = 'stopped'")


def test_system_task_queues_are_readable_by_all_and_writable_by_admins_only(
    db: Database, world: World
) -> None:
    with user_session(world.users["B"], db=db) as s:
        assert _count_where(s, "task_queues", "name = 'default'") == 1
        rowcount = s.execute(
            text("update task_queues set max_concurrent_workflows = 1 where name = 'default'")
        ).rowcount
    assert rowcount == 0
    _assert_denied(
        db,
        world.users["B"],
        "insert into task_queues (name, created_by, is_system_queue) values (:n, :u, true)",
        n=unique("q"),
        u=world.users["B"],
    )


def _count_where(session: Any, table: str, condition: str) -> int:
    count: int = session.execute(
        text(f"select count(*) from public.{table} where {condition}")
    ).scalar_one()
    return count


def test_only_user_managers_change_roles(db: Database, world: World) -> None:
    a = world.users["A"]
    _assert_denied(
        db,
        a,
        "update users set role_id = (select id from user_roles where name = 'admin') where id = :u",
        u=a,
    )
