"""The component catalog the compiler resolves activity and agent nodes against."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from workflow_builder.activities.contract import ComponentSpec as RegistrySpec

ComponentType = Literal["activity", "agent", "signal", "trigger"]
_COMPONENT_NAMESPACE = uuid.UUID("6f1c1f9e-3b0a-4f55-9a51-2f0e7c1f4b10")


@dataclass(frozen=True)
class ComponentSpec:
    """One version of a component, as the registry stores it."""

    id: str
    name: str
    version: str
    type: ComponentType
    config_schema: dict[str, Any] = field(default_factory=dict)
    input_schema: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] = field(default_factory=dict)
    deprecated: bool = False
    implementation_path: str = ""
    package: str | None = None

    @property
    def ref(self) -> str:
        """Return the pinned reference `name@version`."""
        return f"{self.name}@{self.version}"


class ComponentCatalog(Protocol):
    """Where the compiler looks components up (the registry table, or memory in tests)."""

    def resolve(self, name: str, version: str | None) -> ComponentSpec | None:
        """Return the component at that version (None: the latest), or None if absent."""
        ...

    def versions(self, name: str) -> Sequence[str]:
        """Return the versions known for a component name, oldest first."""
        ...


def version_key(version: str) -> tuple[tuple[int, ...], int, str]:
    """Return a sort key: numeric parts compared as numbers, a pre-release before its release."""
    release, _, pre_release = version.split("+", 1)[0].partition("-")
    numbers = tuple(int(p) if p.isascii() and p.isdigit() else -1 for p in release.split("."))
    return numbers, 0 if pre_release else 1, pre_release


class InMemoryCatalog:
    """A catalog held in memory: for tests, the CLI and the benchmark."""

    def __init__(self, components: Iterable[ComponentSpec] = ()) -> None:
        self._by_name: dict[str, dict[str, ComponentSpec]] = {}
        for component in components:
            self.add(component)

    def add(self, component: ComponentSpec) -> None:
        """Register one component version (replacing the same name and version)."""
        self._by_name.setdefault(component.name, {})[component.version] = component

    def resolve(self, name: str, version: str | None) -> ComponentSpec | None:
        """Return the component at that version (None: the latest), or None if absent."""
        by_version = self._by_name.get(name)
        if not by_version:
            return None
        if version is None:
            return by_version[max(by_version, key=version_key)]
        return by_version.get(version)

    def versions(self, name: str) -> list[str]:
        """Return the versions known for a component name, oldest first."""
        return sorted(self._by_name.get(name, {}), key=version_key)


def component_id(name: str, version: str) -> str:
    """Return a stable id for a component defined outside the database."""
    return str(uuid.uuid5(_COMPONENT_NAMESPACE, f"{name}@{version}"))


def component_from_dict(data: dict[str, Any]) -> ComponentSpec:
    """Return a ComponentSpec from its JSON form (`id` optional: derived from name and version).

    The type may be given as `type` or, as the activities registry names it, `component_type`.
    """
    name, version = str(data["name"]), str(data["version"])
    return ComponentSpec(
        id=str(data.get("id") or component_id(name, version)),
        name=name,
        version=version,
        type=data.get("type") or data.get("component_type") or "activity",
        config_schema=dict(data.get("config_schema") or {}),
        input_schema=dict(data.get("input_schema") or {}),
        output_schema=dict(data.get("output_schema") or {}),
        deprecated=bool(data.get("deprecated", False)),
        implementation_path=str(data.get("implementation_path") or ""),
        package=data.get("package"),
    )


def builtin_components() -> list[ComponentSpec]:
    """Return `transform` and `http_request` as the activities package defines them."""
    # Imported here so that the rest of the compiler does not load HTTP and secrets code.
    from workflow_builder.activities import http_request, transform

    return [_from_registry(module.SPEC) for module in (transform, http_request)]


def _from_registry(spec: RegistrySpec) -> ComponentSpec:
    """Return the compiler's view of an activities-package ComponentSpec."""
    return component_from_dict(
        {
            "name": spec.name,
            "version": spec.version,
            "type": spec.component_type,
            "config_schema": dict(spec.config_schema),
            "input_schema": dict(spec.input_schema),
            "output_schema": dict(spec.output_schema),
            "implementation_path": spec.implementation_path,
            "package": spec.package,
        }
    )


def load_catalog(path: Path | None) -> InMemoryCatalog:
    """Return the built-in components plus those of a JSON file (a list or {"components": []})."""
    catalog = InMemoryCatalog(builtin_components())
    if path is None:
        return catalog
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = data["components"] if isinstance(data, dict) else data
    for entry in entries:
        catalog.add(component_from_dict(entry))
    return catalog
