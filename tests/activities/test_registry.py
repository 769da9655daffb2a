"""The component registry: built-ins, entry-point discovery, implementation loading, sync."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select
from typer.testing import CliRunner

from tests.activities import third_party
from tests.activities.conftest import Call
from tests.conftest import DatabaseFactory
from tests.support import create_user
from workflow_builder.activities import registry
from workflow_builder.activities.contract import ActivityError, ComponentSpec
from workflow_builder.activities.registry import (
    builtin_components,
    check_spec,
    discover_components,
    load_implementation,
    sync_components,
)
from workflow_builder.cli import app
from workflow_builder.components.models import Component
from workflow_builder.config import get_settings
from workflow_builder.db import Database, set_database, system_session, user_session


def _entry_points(monkeypatch: pytest.MonkeyPatch, *values: str) -> None:
    points = [
        EntryPoint(name=f"ep{index}", value=value, group=registry.ENTRY_POINT_GROUP)
        for index, value in enumerate(values)
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: points)


def test_every_builtin_is_complete_and_loads() -> None:
    names = set()
    for spec in builtin_components():
        check_spec(spec)
        names.add(spec.name)
        assert spec.version == "1.0.0"
        assert spec.implementation_path == f"workflow_builder.activities.{spec.name}:run"
        assert spec.tags and spec.capabilities
        for schema in (spec.config_schema, spec.input_schema, spec.output_schema):
            assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
            Draft202012Validator.check_schema(schema)
        assert callable(load_implementation(spec.implementation_path))
    assert names == {
        "http_request",
        "transform",
        "python_code",
        "send_email",
        "sql_query",
        "llm_agent",
        "signal_parent",
        "query_parent",
    }
    assert {s.name: s.component_type for s in builtin_components()}["llm_agent"] == "agent"


def test_the_docs_describe_every_builtin_config_field() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "components.md").read_text()
    missing = [
        f"{spec.name}.{field}"
        for spec in builtin_components()
        for field in spec.config_schema.get("properties", {})
        if f"`{field}`" not in docs
    ]
    assert missing == []
    assert all(f"## `{spec.name}`" in docs for spec in builtin_components())


def test_secret_references_pass_the_config_schemas() -> None:
    http = next(s for s in builtin_components() if s.name == "http_request")
    config = {"url": "https://x.test", "headers": {"Authorization": {"$secret": "TOKEN"}}}
    assert Draft202012Validator(http.config_schema).is_valid(config)
    assert not Draft202012Validator(http.config_schema).is_valid(
        {"url": "https://x.test", "headers": {"Authorization": {"$secret": 1}}}
    )


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("acme_not_installed.module:run", "is the component's package installed"),
        ("tests.activities.third_party:missing_function", "no callable 'missing_function'"),
        ("no_colon", "must look like"),
    ],
)
def test_load_implementation_explains_what_is_missing(path: str, reason: str) -> None:
    with pytest.raises(ActivityError, match=reason) as caught:
        load_implementation(path)
    assert caught.value.error_type == "ImplementationNotFound"
    assert not caught.value.retryable


def test_entry_points_add_specs_lists_and_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_points(monkeypatch, "tests.activities.third_party:all_specs")
    found = discover_components()
    assert found.errors == []
    assert [s.name for s in found.components][-2:] == ["acme.shout", "acme.whisper"]
    implementation = load_implementation(third_party.SHOUT.implementation_path)
    assert implementation({}, {"text": "hi"}, Call().context) == {"text": "HI"}


def test_a_broken_entry_point_is_reported_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_points(
        monkeypatch,
        "tests.activities.third_party:BROKEN",
        "tests.activities.third_party:nothing_here",
        "tests.activities.third_party:SHOUT",
    )
    found = discover_components()
    assert [s.name for s in found.components][-1] == "acme.shout"
    assert len(found.errors) == 2
    assert "config_schema is not valid JSON Schema" in found.errors[0]


def test_a_duplicate_of_a_builtin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(third_party, "DUPLICATE", builtin_components()[0], raising=False)
    _entry_points(monkeypatch, "tests.activities.third_party:DUPLICATE")
    assert "already defined" in discover_components().errors[0]


@pytest.fixture(scope="module")
def registry_url(database_factory: DatabaseFactory) -> str:
    # Its own database: the sync writes public rows every other test would see.
    return database_factory.create()


@pytest.fixture(scope="module")
def registry_db(registry_url: str) -> Database:
    return Database(registry_url)


def test_sync_adds_updates_and_deprecates_public_system_components(
    registry_db: Database,
) -> None:
    shout = third_party.SHOUT
    with system_session(db=registry_db) as session:
        first = sync_components(session, [*builtin_components(), shout])
    assert len(first.added) == len(builtin_components()) + 1 and first.updated == []

    changed = ComponentSpec(**{**shout.__dict__, "description": "Louder."})
    with system_session(db=registry_db) as session:
        second = sync_components(session, [*builtin_components(), changed])
    assert second.updated == ["acme.shout@1.0.0"]
    assert len(second.unchanged) == len(builtin_components())

    with system_session(db=registry_db) as session:
        third = sync_components(session, builtin_components())
        row = session.scalars(select(Component).where(Component.name == "acme.shout")).one()
        assert third.deprecated == ["acme.shout@1.0.0"]
        assert row.deprecated and row.description == "Louder."


def test_synced_components_are_public_and_owned_by_nobody(registry_db: Database) -> None:
    with system_session(db=registry_db) as session:
        sync_components(session, builtin_components())
    user = create_user(registry_db)
    with user_session(user, db=registry_db) as session:
        rows = session.scalars(select(Component).where(Component.name == "llm_agent")).all()
    assert len(rows) == 1
    assert rows[0].created_by is None
    assert rows[0].visibility == "public"
    assert rows[0].type == "agent"


def test_the_sync_command_prints_what_it_changed(
    registry_url: str, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", registry_url)
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(app, ["components", "sync"])
        again = CliRunner().invoke(app, ["components", "sync"])
    finally:
        get_settings.cache_clear()
        set_database(db)  # the command points the process at its database; point it back
    assert first.exit_code == 0, first.output
    assert "0 updated" in again.output
    assert f"{len(builtin_components())} unchanged" in again.output
