"""Secret services: writing and listing as the project's owner (under RLS), and reading the
plaintext as the system, for the runtime."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workflow_builder.activities.contract import ActivityError
from workflow_builder.api.errors import not_found
from workflow_builder.db import Database, system_session
from workflow_builder.secrets.crypto import SecretDecryptionError, decrypt_value, encrypt_value
from workflow_builder.secrets.models import SecretKind, SecretRead, project_secrets
from workflow_builder.secrets.references import is_secret_ref, resolve_secret_refs

_READ_COLUMNS = (
    project_secrets.c.name,
    project_secrets.c.kind,
    project_secrets.c.created_by,
    project_secrets.c.created_at,
    project_secrets.c.updated_at,
)
# Connection settings under these keys are credentials, masked like secrets.
_SENSITIVE_KEY = re.compile(r"pass|secret|token|key|credential|url|dsn|uri|conninfo", re.I)


def list_secrets(*, db_session: Session, project_id: UUID) -> list[SecretRead]:
    """Return the names and kinds of a project's secrets, by name."""
    rows = db_session.execute(
        select(*_READ_COLUMNS)
        .where(project_secrets.c.project_id == project_id)
        .order_by(project_secrets.c.name)
    )
    return [SecretRead.model_validate(row) for row in rows]


def get_secret(*, db_session: Session, project_id: UUID, name: str) -> SecretRead:
    """Return one secret's name and kind (404 when the caller cannot see it)."""
    row = db_session.execute(
        select(*_READ_COLUMNS).where(
            project_secrets.c.project_id == project_id, project_secrets.c.name == name
        )
    ).first()
    if row is None:
        raise not_found("Secret")
    return SecretRead.model_validate(row)


def set_secret(
    *, db_session: Session, project_id: UUID, name: str, kind: SecretKind, value: Any
) -> tuple[SecretRead, bool]:
    """Create or replace a secret; return it and whether it was created."""
    ciphertext = encrypt_value(project_id=project_id, name=name, value=value)
    replace = (
        update(project_secrets)
        .where(project_secrets.c.project_id == project_id, project_secrets.c.name == name)
        .values(kind=kind, encrypted_value=ciphertext)
        .returning(*_READ_COLUMNS)
    )
    row = db_session.execute(replace).first()
    if row is not None:
        return SecretRead.model_validate(row), False
    try:
        with db_session.begin_nested():
            row = db_session.execute(
                insert(project_secrets)
                .values(project_id=project_id, name=name, kind=kind, encrypted_value=ciphertext)
                .returning(*_READ_COLUMNS)
            ).one()
        return SecretRead.model_validate(row), True
    except IntegrityError:
        # Another request created it between our update and insert: ours is the later write.
        return SecretRead.model_validate(db_session.execute(replace).one()), False


def delete_secret(*, db_session: Session, project_id: UUID, name: str) -> None:
    """Delete a secret (404 when the caller cannot see it)."""
    deleted = db_session.execute(
        delete(project_secrets)
        .where(project_secrets.c.project_id == project_id, project_secrets.c.name == name)
        .returning(project_secrets.c.id)
    ).first()
    if deleted is None:
        raise not_found("Secret")


def _sensitive_strings(value: Any, key: str = "") -> list[str]:
    if is_secret_ref(value):
        return []  # the referenced secret is listed as a secret of its own
    if isinstance(value, str):
        found = [value] if _SENSITIVE_KEY.search(key) else []
        password = urlsplit(value).password if "://" in value else None
        return [*found, password] if password else found
    if isinstance(value, Mapping):
        return [text for k, item in value.items() for text in _sensitive_strings(item, str(k))]
    if isinstance(value, list):
        return [text for item in value for text in _sensitive_strings(item, key)]
    return []


class ProjectSecretResolver:
    """A project's secrets and connections, decrypted on demand (the runtime's SecretResolver).

    It reads the project's ciphertexts once, when a value is first asked for (a call that
    never uses a secret costs no query); build one per step so changes apply to the next step.

    `plaintexts()` lists what output must not show. A lazy resolver lists nothing until a
    value was read through it: a call that read no secret cannot have put one in its output,
    except by echoing its input, which the history records as given anyway.
    """

    def __init__(
        self,
        project_id: UUID,
        stored: Mapping[str, tuple[str, bytes]] | None = None,
        *,
        load: Callable[[], Mapping[str, tuple[str, bytes]]] | None = None,
    ) -> None:
        if (stored is None) == (load is None):
            raise ValueError("give either the stored secrets or how to load them")
        self.project_id = project_id
        self._stored = dict(stored) if stored is not None else None
        self._load = load

    @property
    def read_any(self) -> bool:
        """Whether the project's secrets were read (always, for an eager resolver)."""
        return self._stored is not None

    def _rows(self) -> dict[str, tuple[str, bytes]]:
        if self._stored is None:
            assert self._load is not None
            self._stored = dict(self._load())
        return self._stored

    def _value(self, name: str, kind: str) -> Any:
        found = self._rows().get(name)
        if found is None or found[0] != kind:
            error_type = "SecretNotFound" if kind == "secret" else "ConnectionNotFound"
            raise ActivityError(
                f"The project has no {kind} named {name!r}",
                error_type=error_type,
                retryable=False,
            )
        try:
            return decrypt_value(project_id=self.project_id, name=name, ciphertext=found[1])
        except SecretDecryptionError as exc:
            raise ActivityError(
                str(exc), error_type="SecretDecryptionError", retryable=False
            ) from None

    def secret(self, name: str) -> str:
        """Return the secret's plaintext."""
        value: str = self._value(name, "secret")
        return value

    def connection(self, name: str) -> Mapping[str, Any]:
        """Return the connection's settings, with their `$secret` references resolved."""
        settings: Mapping[str, Any] = resolve_secret_refs(self._value(name, "connection"), self)
        return settings

    def plaintexts(self) -> list[str]:
        """Return every secret value and every credential inside the connections."""
        values: list[str] = []
        if self._stored is None:
            return values  # nothing was read, so nothing can leak
        for name, (kind, _) in self._stored.items():
            try:
                value = self._value(name, kind)
            except ActivityError:
                continue  # a value this key cannot decrypt cannot be used, so cannot leak
            values.extend([value] if kind == "secret" else _sensitive_strings(value))
        return values


def stored_secrets(project_id: UUID, db: Database | None = None) -> dict[str, tuple[str, bytes]]:
    """Return the project's secrets and connections as stored: name -> (kind, ciphertext),
    read as the system (bypassing RLS)."""
    with system_session(db=db) as session:
        rows = session.execute(
            select(
                project_secrets.c.name, project_secrets.c.kind, project_secrets.c.encrypted_value
            ).where(project_secrets.c.project_id == project_id)
        )
        return {row.name: (row.kind, bytes(row.encrypted_value)) for row in rows}


def resolver_for_project(project_id: UUID, *, db: Database | None = None) -> ProjectSecretResolver:
    """Return a resolver over the project's secrets, read as the system (bypassing RLS) when a
    value is first asked for."""
    return ProjectSecretResolver(project_id, load=lambda: stored_secrets(project_id, db))
