"""Project secrets: encryption at rest, row-level security, resolution, redaction, routes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.api.conftest import sign_up
from tests.support import create_user
from workflow_builder.activities.contract import ActivityError
from workflow_builder.api.app import create_app
from workflow_builder.config import Settings
from workflow_builder.db import Database, system_session, user_session
from workflow_builder.secrets import crypto
from workflow_builder.secrets.crypto import SecretDecryptionError, decrypt_value, encrypt_value
from workflow_builder.secrets.redaction import redact
from workflow_builder.secrets.service import (
    ProjectSecretResolver,
    delete_secret,
    list_secrets,
    resolver_for_project,
    set_secret,
)


def _project(db: Database, owner: UUID) -> UUID:
    with system_session(db=db) as session:
        project_id: UUID = session.execute(
            text("insert into public.projects (name, created_by) values ('p', :u) returning id"),
            {"u": owner},
        ).scalar_one()
    return project_id


@pytest.fixture
def owner(db: Database) -> UUID:
    return create_user(db, role="developer")


@pytest.fixture
def project(db: Database, owner: UUID) -> UUID:
    return _project(db, owner)


class Values:
    """A fixed list of plaintexts (what `redact` asks a resolver for)."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)

    def plaintexts(self) -> list[str]:
        return self.values


def test_a_value_is_encrypted_and_bound_to_its_project_and_name() -> None:
    project_id = uuid.uuid4()
    ciphertext = encrypt_value(project_id=project_id, name="TOKEN", value="hunter2-secret")
    assert b"hunter2" not in ciphertext
    assert decrypt_value(project_id=project_id, name="TOKEN", ciphertext=ciphertext) == (
        "hunter2-secret"
    )
    with pytest.raises(SecretDecryptionError):
        decrypt_value(project_id=uuid.uuid4(), name="TOKEN", ciphertext=ciphertext)
    with pytest.raises(SecretDecryptionError):
        decrypt_value(project_id=project_id, name="OTHER", ciphertext=ciphertext)


def test_another_key_cannot_decrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    project_id = uuid.uuid4()
    ciphertext = encrypt_value(project_id=project_id, name="TOKEN", value="hunter2-secret")
    monkeypatch.setattr(crypto, "get_settings", lambda: Settings(encryption_key="another-key"))
    with pytest.raises(SecretDecryptionError):
        decrypt_value(project_id=project_id, name="TOKEN", ciphertext=ciphertext)


def test_the_owner_sets_replaces_lists_and_deletes_names_only(
    db: Database, owner: UUID, project: UUID
) -> None:
    with user_session(owner, db=db) as session:
        first, created = set_secret(
            db_session=session, project_id=project, name="API_KEY", kind="secret", value="v1-long"
        )
        assert created and first.name == "API_KEY"
        _, created_again = set_secret(
            db_session=session, project_id=project, name="API_KEY", kind="secret", value="v2-long"
        )
        assert not created_again
        set_secret(
            db_session=session,
            project_id=project,
            name="warehouse",
            kind="connection",
            value={"url": "postgresql://u:pw-1234@h/db"},
        )
    with user_session(owner, db=db) as session:
        listed = list_secrets(db_session=session, project_id=project)
        assert [(s.name, s.kind) for s in listed] == [
            ("API_KEY", "secret"),
            ("warehouse", "connection"),
        ]
        assert not hasattr(listed[0], "value")
    assert resolver_for_project(project, db=db).secret("API_KEY") == "v2-long"
    with user_session(owner, db=db) as session:
        delete_secret(db_session=session, project_id=project, name="API_KEY")
        assert [s.name for s in list_secrets(db_session=session, project_id=project)] == [
            "warehouse"
        ]


def test_not_even_the_owner_can_read_the_ciphertext(
    db: Database, owner: UUID, project: UUID
) -> None:
    with user_session(owner, db=db) as session:
        set_secret(db_session=session, project_id=project, name="K", kind="secret", value="xyzw")
    with pytest.raises(DBAPIError) as caught, user_session(owner, db=db) as session:
        session.execute(text("select encrypted_value from public.project_secrets"))
    assert getattr(caught.value.orig, "sqlstate", None) == "42501"


def test_another_user_neither_sees_nor_writes_a_projects_secrets(
    db: Database, owner: UUID, project: UUID
) -> None:
    with user_session(owner, db=db) as session:
        set_secret(db_session=session, project_id=project, name="K", kind="secret", value="xyzw")
    stranger = create_user(db, role="developer")
    with user_session(stranger, db=db) as session:
        assert list_secrets(db_session=session, project_id=project) == []
        changed = session.execute(
            text("update public.project_secrets set kind = 'secret' where project_id = :p"),
            {"p": project},
        ).rowcount
        assert changed == 0
    with pytest.raises(DBAPIError) as caught, user_session(stranger, db=db) as session:
        set_secret(db_session=session, project_id=project, name="X", kind="secret", value="abcd")
    assert getattr(caught.value.orig, "sqlstate", None) == "42501"


def test_a_viewer_cannot_write_secrets_even_in_their_own_project(db: Database) -> None:
    viewer = create_user(db, role="viewer")
    project_id = _project(db, viewer)
    with pytest.raises(DBAPIError), user_session(viewer, db=db) as session:
        set_secret(db_session=session, project_id=project_id, name="X", kind="secret", value="v")


def test_the_resolver_decrypts_secrets_and_connections_with_their_references(
    db: Database, owner: UUID, project: UUID
) -> None:
    with user_session(owner, db=db) as session:
        for name, kind, value in (
            ("SMTP_PASSWORD", "secret", "mail-pass-99"),
            ("mail", "connection", {"host": "smtp.test", "password": {"$secret": "SMTP_PASSWORD"}}),
            ("db", "connection", {"url": "postgresql://app:db-pass-77@host/app"}),
        ):
            set_secret(db_session=session, project_id=project, name=name, kind=kind, value=value)
    resolver = resolver_for_project(project, db=db)
    assert resolver.connection("mail") == {"host": "smtp.test", "password": "mail-pass-99"}
    assert set(resolver.plaintexts()) == {
        "mail-pass-99",
        "postgresql://app:db-pass-77@host/app",
        "db-pass-77",
    }
    for lookup, name, error_type in (
        (resolver.secret, "nope", "SecretNotFound"),
        (resolver.secret, "mail", "SecretNotFound"),
        (resolver.connection, "SMTP_PASSWORD", "ConnectionNotFound"),
    ):
        with pytest.raises(ActivityError) as caught:
            lookup(name)
        assert caught.value.error_type == error_type
        assert not caught.value.retryable


def test_a_lazy_resolver_reads_the_secrets_once_and_only_when_asked(
    db: Database, owner: UUID, project: UUID
) -> None:
    with user_session(owner, db=db) as session:
        set_secret(
            db_session=session, project_id=project, name="LAZY", kind="secret", value="lazy-v1"
        )
    loads: list[int] = []
    stored = resolver_for_project(project, db=db)

    def load() -> Any:
        loads.append(1)
        return stored._rows()

    lazy = ProjectSecretResolver(project, load=load)
    # Nothing read yet: no query, and nothing to mask (the call saw no secret).
    assert lazy.plaintexts() == [] and not lazy.read_any and loads == []
    assert lazy.secret("LAZY") == "lazy-v1"
    assert lazy.read_any and "lazy-v1" in lazy.plaintexts()
    with pytest.raises(ActivityError):
        lazy.secret("MISSING")
    assert loads == [1]
    from_project = resolver_for_project(project, db=db)
    assert not from_project.read_any  # read on first use only
    assert from_project.secret("LAZY") == "lazy-v1"
    with pytest.raises(ValueError):
        ProjectSecretResolver(project)


def test_redact_masks_secrets_in_text_and_nested_json() -> None:
    values = Values("s3cr3t-token", "s3cr3t", "abc")
    assert redact("Bearer s3cr3t-token failed", values) == "Bearer *** failed"
    assert redact(
        {"headers": {"auth": "s3cr3t"}, "list": ["x s3cr3t y", 3, None], "s3cr3t": True}, values
    ) == {"headers": {"auth": "***"}, "list": ["x *** y", 3, None], "***": True}
    # Values this short would mask ordinary text everywhere.
    assert redact("abc def", values) == "abc def"
    assert redact("nothing", Values()) == "nothing"


@pytest.fixture(scope="module")
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def test_the_routes_take_values_and_only_ever_return_names(client: TestClient) -> None:
    alice = sign_up(client, role="developer")
    project = client.post("/api/v1/projects", json={"name": "p"}, headers=alice.headers).json()
    base = f"/api/v1/projects/{project['id']}/secrets"

    first = client.put(f"{base}/OPENAI_KEY", json={"value": "sk-route-1"}, headers=alice.headers)
    again = client.put(f"{base}/OPENAI_KEY", json={"value": "sk-route-2"}, headers=alice.headers)
    listed = client.get(base, headers=alice.headers)
    one = client.get(f"{base}/OPENAI_KEY", headers=alice.headers)

    assert (first.status_code, again.status_code) == (201, 200)
    assert [item["name"] for item in listed.json()] == ["OPENAI_KEY"]
    assert one.json()["kind"] == "secret"
    for response in (first, again, listed, one):
        assert "sk-route" not in response.text
    assert client.delete(f"{base}/OPENAI_KEY", headers=alice.headers).status_code == 204
    assert client.get(f"{base}/OPENAI_KEY", headers=alice.headers).status_code == 404


def test_the_routes_hide_a_project_from_other_users(client: TestClient) -> None:
    alice, bob = sign_up(client, role="developer"), sign_up(client, role="developer")
    project = client.post("/api/v1/projects", json={"name": "p"}, headers=alice.headers).json()
    base = f"/api/v1/projects/{project['id']}/secrets"
    client.put(f"{base}/K", json={"value": "abcdef"}, headers=alice.headers)

    assert client.get(base, headers=bob.headers).status_code == 404
    assert client.put(f"{base}/K", json={"value": "x"}, headers=bob.headers).status_code == 404
    assert client.delete(f"{base}/K", headers=bob.headers).status_code == 404


def test_the_routes_check_the_value_matches_the_kind(client: TestClient) -> None:
    alice = sign_up(client, role="developer")
    project = client.post("/api/v1/projects", json={"name": "p"}, headers=alice.headers).json()
    base = f"/api/v1/projects/{project['id']}/secrets"
    bad = client.put(
        f"{base}/db", json={"kind": "connection", "value": "postgresql://x"}, headers=alice.headers
    )
    assert bad.status_code == 422
    bad_name = client.put(f"{base}/has space", json={"value": "x"}, headers=alice.headers)
    assert bad_name.status_code == 422
