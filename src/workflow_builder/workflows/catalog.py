"""The compiler's component catalog over the components registry, as the caller sees it."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow_builder.compiler import ComponentSpec
from workflow_builder.compiler.catalog import ComponentType, version_key
from workflow_builder.components.models import Component


class RegistryCatalog:
    """Components visible to the caller (row-level security filters the query).

    When several visible components share a name and version (say, a public one and the
    caller's own), the caller's own wins, then the most recently created.
    """

    def __init__(self, db_session: Session, user_id: UUID | None) -> None:
        self._session = db_session
        self._user_id = user_id
        self._by_name: dict[str, list[Component]] = {}

    def _rows(self, name: str) -> list[Component]:
        if name not in self._by_name:
            self._by_name[name] = list(
                self._session.scalars(select(Component).where(Component.name == name))
            )
        return self._by_name[name]

    def component(self, name: str, version: str | None) -> Component | None:
        """Return the row a node naming `name` (at `version`, None: the latest) refers to."""
        rows = self._rows(name)
        if version is None and rows:
            latest = max((row.version for row in rows), key=version_key)
            rows = [row for row in rows if row.version == latest]
        elif version is not None:
            rows = [row for row in rows if row.version == version]
        if not rows:
            return None
        return max(rows, key=lambda row: (row.created_by == self._user_id, row.created_at))

    def resolve(self, name: str, version: str | None) -> ComponentSpec | None:
        """Return the component at that version (None: the latest), or None if absent."""
        row = self.component(name, version)
        if row is None:
            return None
        return ComponentSpec(
            id=str(row.id),
            name=row.name,
            version=row.version,
            type=cast(ComponentType, row.type),
            config_schema=row.config_schema,
            input_schema=row.input_schema or {},
            output_schema=row.output_schema or {},
            deprecated=row.deprecated,
            implementation_path=row.implementation_path or "",
            package=row.package,
        )

    def versions(self, name: str) -> list[str]:
        """Return the versions known for a component name, oldest first."""
        return sorted({row.version for row in self._rows(name)}, key=version_key)
