"""Which components exist in code, and how the runtime finds their implementations.

Built-in components live in this package; third-party packages add theirs through the entry
point group `workflow_builder.components`, whose entries load to a `ComponentSpec`, a list of
them, or a function returning either. `sync_components` writes them all to the `components`
table as public rows owned by nobody (created_by NULL), so the API and the compiler see them.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from workflow_builder.activities import (
    http_request,
    llm_agent,
    python_code,
    query_parent,
    send_email,
    signal_parent,
    sql_query,
    transform,
)
from workflow_builder.activities.contract import Activity, ActivityError, ComponentSpec
from workflow_builder.components.models import Component, ComponentType, ComponentVisibility

ENTRY_POINT_GROUP = "workflow_builder.components"
COMPONENT_TYPES = ("activity", "agent", "signal", "trigger")
_IMPLEMENTATION_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")
# Serializes concurrent syncs (several workers starting at once) without a table lock.
_SYNC_LOCK_KEY = 0x77_66_62_5F_73_79_6E_63

logger = logging.getLogger(__name__)


class ComponentError(Exception):
    """A component spec that cannot be registered."""


def builtin_components() -> list[ComponentSpec]:
    """Return the components every installation has."""
    return [
        http_request.SPEC,
        transform.SPEC,
        python_code.SPEC,
        send_email.SPEC,
        sql_query.SPEC,
        llm_agent.SPEC,
        signal_parent.SPEC,
        query_parent.SPEC,
    ]


def pure_implementations() -> frozenset[str]:
    """Return the implementations of the built-in components without side effects (capability
    `pure`): the runtime runs them in the workflow code itself, with no checkpoint."""
    return frozenset(
        spec.implementation_path for spec in builtin_components() if "pure" in spec.capabilities
    )


def check_spec(spec: ComponentSpec) -> None:
    """Raise ComponentError naming what is wrong with `spec`."""
    where = f"component {spec.name!r}"
    if spec.component_type not in COMPONENT_TYPES:
        raise ComponentError(f"{where}: component_type must be one of {COMPONENT_TYPES}")
    if not _VERSION.match(spec.version):
        raise ComponentError(f"{where}: version {spec.version!r} is not semantic (1.2.3)")
    if not _IMPLEMENTATION_PATH.match(spec.implementation_path):
        raise ComponentError(
            f"{where}: implementation_path must look like 'package.module:function'"
        )
    for label in ("config_schema", "input_schema", "output_schema"):
        try:
            Draft202012Validator.check_schema(getattr(spec, label))
        except SchemaError as exc:
            raise ComponentError(
                f"{where}: {label} is not valid JSON Schema: {exc.message}"
            ) from None


def _specs_from(loaded: Any, source: str) -> list[ComponentSpec]:
    if callable(loaded) and not isinstance(loaded, ComponentSpec):
        loaded = loaded()
    items = [loaded] if isinstance(loaded, ComponentSpec) else loaded
    if not isinstance(items, list | tuple) or not all(
        isinstance(item, ComponentSpec) for item in items
    ):
        raise ComponentError(f"{source} did not give a ComponentSpec or a list of them")
    return list(items)


@dataclass
class Discovery:
    """The components found, and the entry points that failed (with why)."""

    components: list[ComponentSpec] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def discover_components() -> Discovery:
    """Return the built-in components plus the valid ones third-party packages declare.

    A broken package does not stop the others: its error is reported instead.
    """
    found = Discovery(components=builtin_components())
    seen = {(spec.name, spec.version) for spec in found.components}
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        source = f"entry point {entry_point.name!r} ({entry_point.value})"
        try:
            specs = _specs_from(entry_point.load(), source)
            for spec in specs:
                check_spec(spec)
                if (spec.name, spec.version) in seen:
                    raise ComponentError(f"{source}: {spec.name}@{spec.version} is already defined")
        except Exception as exc:  # third-party code: any failure is reported, not fatal
            logger.warning("Skipping %s: %s", source, exc)
            found.errors.append(f"{source}: {exc}")
            continue
        seen.update((spec.name, spec.version) for spec in specs)
        found.components.extend(specs)
    return found


def _not_found(message: str) -> ActivityError:
    # Not retryable: the worker's installation has to change before the call can succeed.
    return ActivityError(message, error_type="ImplementationNotFound", retryable=False)


@cache
def load_implementation(implementation_path: str) -> Activity:
    """Import and return the callable named 'package.module:function' (cached).

    Raises ActivityError (ImplementationNotFound), so a node naming a missing implementation
    fails like any other call.
    """
    module_name, _, attribute = implementation_path.partition(":")
    if not module_name or not attribute:
        raise _not_found(
            f"implementation_path {implementation_path!r} must look like 'package.module:function'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _not_found(
            f"Cannot import {module_name!r} for {implementation_path!r}: {exc} "
            "(is the component's package installed on this worker?)"
        ) from exc
    implementation = getattr(module, attribute, None)
    if not callable(implementation):
        raise _not_found(f"{module_name!r} has no callable {attribute!r}")
    return cast(Activity, implementation)


@dataclass
class SyncReport:
    """What `sync_components` changed, as `name@version` lists."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deprecated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _row_values(spec: ComponentSpec) -> dict[str, Any]:
    return {
        "display_name": spec.display_name,
        "description": spec.description,
        "config_schema": dict(spec.config_schema),
        "input_schema": dict(spec.input_schema),
        "output_schema": dict(spec.output_schema),
        "tags": list(spec.tags),
        "capabilities": list(spec.capabilities),
        "model_provider": spec.model_provider,
        "model_name": spec.model_name,
        "implementation_path": spec.implementation_path,
        "package": spec.package,
        "deprecated": False,
    }


def sync_components(
    session: Session, components: Sequence[ComponentSpec] | None = None
) -> SyncReport:
    """Upsert the code-defined components as public rows with created_by NULL.

    `session` must run as the system (`system_session()`). Without `components`, they are
    discovered (built-ins plus entry points). System rows no longer provided are marked
    deprecated, never deleted: compiled workflows still name them.
    """
    report = SyncReport()
    if components is None:
        discovery = discover_components()
        components, report.errors = discovery.components, discovery.errors
    session.execute(text("select pg_advisory_xact_lock(:key)"), {"key": _SYNC_LOCK_KEY})
    type_ids = {
        row.name: row.id for row in session.execute(select(ComponentType.name, ComponentType.id))
    }
    public_id = session.execute(
        select(ComponentVisibility.id).where(ComponentVisibility.name == "public")
    ).scalar_one()
    existing = {
        (row.name, row.version): row
        for row in session.scalars(select(Component).where(Component.created_by.is_(None)))
    }
    for spec in components:
        key = f"{spec.name}@{spec.version}"
        values = _row_values(spec)
        values["component_type_id"] = type_ids[spec.component_type]
        values["visibility_id"] = public_id
        row = existing.pop((spec.name, spec.version), None)
        if row is None:
            session.add(Component(name=spec.name, version=spec.version, created_by=None, **values))
            report.added.append(key)
            continue
        changed = {name: value for name, value in values.items() if getattr(row, name) != value}
        for name, value in changed.items():
            setattr(row, name, value)
        (report.updated if changed else report.unchanged).append(key)
    for (name, version), row in sorted(existing.items()):
        if not row.deprecated:
            row.deprecated = True
            report.deprecated.append(f"{name}@{version}")
    session.flush()
    return report
