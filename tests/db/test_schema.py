"""Every table and column of the spec exists with its types, keys, uniques and indexes."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.schema_spec import SPEC

TABLES = sorted(SPEC)


def _columns(conn: psycopg.Connection[Any], table: str) -> dict[str, tuple[str, int | None]]:
    rows = conn.execute(
        """select column_name, case when data_type = 'ARRAY' then
                  (select t.typname from pg_type t where t.typname = udt_name) else data_type end,
                  character_maximum_length
           from information_schema.columns where table_schema = 'public' and table_name = %s""",
        (table,),
    ).fetchall()
    return {name: ("text[]" if kind == "_text" else kind, length) for name, kind, length in rows}


def _indexes(conn: psycopg.Connection[Any], table: str) -> list[tuple[list[str], str, bool]]:
    """Each index of `table`: its columns in order, its access method, whether it is unique."""
    rows = conn.execute(
        """select array(select a.attname from unnest(i.indkey) with ordinality k(attnum, n)
                         join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
                         order by k.n)::text[],
                  am.amname, i.indisunique
           from pg_index i join pg_class c on c.oid = i.indexrelid
           join pg_am am on am.oid = c.relam
           where i.indrelid = ('public.' || %s)::regclass""",
        (table,),
    ).fetchall()
    return [(list(cols), method, is_unique) for cols, method, is_unique in rows]


@pytest.mark.parametrize("table", TABLES)
def test_table_has_every_spec_column_with_its_type(owner_conn: Any, table: str) -> None:
    actual = _columns(owner_conn, table)
    for column, (kind, length) in SPEC[table]["columns"].items():
        assert column in actual, f"{table}.{column} is missing"
        assert actual[column][0] == kind, f"{table}.{column}: {actual[column][0]} != {kind}"
        if length is not None:
            assert actual[column][1] == length, f"{table}.{column} length"


@pytest.mark.parametrize("table", TABLES)
def test_table_has_uuid_primary_key_with_default(owner_conn: Any, table: str) -> None:
    row = owner_conn.execute(
        """select a.attname, pg_get_expr(d.adbin, d.adrelid)
           from pg_index i join pg_attribute a on a.attrelid = i.indrelid
             and a.attnum = any(i.indkey)
           left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
           where i.indrelid = ('public.' || %s)::regclass and i.indisprimary""",
        (table,),
    ).fetchall()
    assert row == [("id", "gen_random_uuid()")]


@pytest.mark.parametrize("table", TABLES)
def test_table_foreign_keys_follow_the_spec(owner_conn: Any, table: str) -> None:
    rows = owner_conn.execute(
        """select a.attname, c.confrelid::regclass::text, c.confdeltype
           from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid
             and a.attnum = c.conkey[1]
           where c.conrelid = ('public.' || %s)::regclass and c.contype = 'f'""",
        (table,),
    ).fetchall()
    actual = {column: (target.removeprefix("public."), action) for column, target, action in rows}
    for column, (target, cascades) in SPEC[table]["foreign_keys"].items():
        assert column in actual, f"{table}.{column} has no foreign key"
        assert actual[column][0] == target, f"{table}.{column} references {actual[column][0]}"
        if cascades:
            assert actual[column][1] == "c", f"{table}.{column} must cascade deletes"


@pytest.mark.parametrize("table", TABLES)
def test_table_unique_constraints_follow_the_spec(owner_conn: Any, table: str) -> None:
    unique_sets = [sorted(cols) for cols, _, is_unique in _indexes(owner_conn, table) if is_unique]
    for columns in SPEC[table]["unique"]:
        assert sorted(columns) in unique_sets, f"{table} has no unique constraint on {columns}"


@pytest.mark.parametrize("table", TABLES)
def test_table_indexes_cover_the_spec(owner_conn: Any, table: str) -> None:
    indexes = _indexes(owner_conn, table)
    for columns, method in SPEC[table]["indexes"]:
        covering = [m for cols, m, _ in indexes if cols[: len(columns)] == list(columns)]
        assert covering, f"no index on {table}{columns}"
        if method == "gin":
            assert "gin" in covering, f"{table}{columns} needs a GIN index"


def test_is_active_indexes_are_partial(owner_conn: Any) -> None:
    rows = owner_conn.execute(
        """select c.relname, pg_get_expr(i.indpred, i.indrelid) from pg_index i
           join pg_class c on c.oid = i.indexrelid
           where c.relname in ('idx_projects_is_active', 'idx_workflow_compiled_code_is_active')"""
    ).fetchall()
    assert sorted(rows) == [
        ("idx_projects_is_active", "is_active"),
        ("idx_workflow_compiled_code_is_active", "is_active"),
    ]


def test_lookup_names_are_unique(owner_conn: Any) -> None:
    for table in ("user_roles", "component_types", "component_visibility", "workflow_statuses"):
        assert (["name"], "btree", True) in _indexes(owner_conn, table), table


def test_spec_defaults(owner_conn: Any) -> None:
    defaults = dict(
        owner_conn.execute(
            """select table_name || '.' || column_name, column_default
               from information_schema.columns where table_schema = 'public'"""
        ).fetchall()
    )
    assert defaults["task_queues.max_concurrent_workflows"] == "100"
    assert defaults["task_queues.max_concurrent_activities"] == "1000"
    assert defaults["task_queues.is_system_queue"] == "false"
    assert defaults["workflows.version"] == "'1.0.0'::character varying"
    assert defaults["workflows.max_concurrent_executions"] == "10"
    assert defaults["workflows.execution_timeout_seconds"] == "3600"
    assert defaults["workflow_nodes.config"] == "'{}'::jsonb"
    assert defaults["projects.is_active"] == "true"
    assert defaults["workflow_compiled_code.execution_count"] == "0"
    assert defaults["activity_statistics.success_count"] == "0"
    assert defaults["workflow_child_workflows.can_signal_parent"] == "false"
    assert defaults["workflow_scheduled_workflows.timezone"] == "'UTC'::character varying"


def test_seed_data(owner_conn: Any) -> None:
    def names(table: str) -> set[str]:
        return {r[0] for r in owner_conn.execute(f"select name from public.{table}")}

    # Other tests of the run may add roles through the API; the seeds must all be there.
    assert names("component_types") == {"activity", "agent", "signal", "trigger"}
    assert names("component_visibility") == {"public", "private", "organization"}
    assert names("workflow_statuses") == {"draft", "active", "paused", "archived"}
    assert names("user_roles") >= {"admin", "developer", "viewer"}
    icons = owner_conn.execute("select count(*) from component_types where icon <> ''").fetchone()
    assert icons == (4,)
    colors = [r[0] for r in owner_conn.execute("select color from workflow_statuses")]
    assert len(set(colors)) == 4 and all(c.startswith("#") and len(c) == 7 for c in colors)


def test_role_permissions_nest(owner_conn: Any) -> None:
    perms = {
        name: set(p)
        for name, p in owner_conn.execute("select name, permissions from public.user_roles")
    }
    assert perms["viewer"] < perms["developer"] < perms["admin"]
    assert not any(
        p.endswith((":write", ":execute")) and not p.startswith("api_keys") for p in perms["viewer"]
    )
    assert {"users:manage", "roles:manage", "task_queues:system"} <= perms["admin"]


def test_rls_is_enabled_on_every_public_table(owner_conn: Any) -> None:
    rows = owner_conn.execute(
        """select c.relname, c.relrowsecurity from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = 'public' and c.relkind = 'r'"""
    ).fetchall()
    assert {name for name, _ in rows} >= set(SPEC)
    assert [name for name, enabled in rows if not enabled] == []
