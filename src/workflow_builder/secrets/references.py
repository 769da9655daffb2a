"""`{"$secret": "NAME"}`: how a node's config refers to a project secret.

Implementations resolve references themselves, at call time, through `context.secrets`, so the
plaintext never sits in a workflow definition, a compiled plan or a step's recorded config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow_builder.activities.contract import ActivityError, SecretResolver

SECRET_KEY = "$secret"
SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$"

SECRET_REF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Secret reference",
    "description": 'A project secret, resolved when the node runs: {"$secret": "NAME"}.',
    "properties": {SECRET_KEY: {"type": "string", "pattern": SECRET_NAME_PATTERN}},
    "required": [SECRET_KEY],
    "additionalProperties": False,
}


def string_or_secret(description: str | None = None) -> dict[str, Any]:
    """Return a JSON Schema accepting a plain string or a secret reference."""
    schema: dict[str, Any] = {"anyOf": [{"type": "string"}, SECRET_REF_SCHEMA]}
    if description:
        schema["description"] = description
    return schema


def is_secret_ref(value: Any) -> bool:
    """Whether `value` is exactly a `{"$secret": "NAME"}` reference."""
    return isinstance(value, Mapping) and len(value) == 1 and isinstance(value.get(SECRET_KEY), str)


def resolve_secret_refs(value: Any, resolver: SecretResolver | None) -> Any:
    """Return `value` with every secret reference, at any depth, replaced by its plaintext."""
    if is_secret_ref(value):
        if resolver is None:
            raise ActivityError(
                f"The secret {value[SECRET_KEY]!r} is referenced but this run has no project "
                "secrets (the workflow is not in a project)",
                error_type="SecretNotFound",
                retryable=False,
            )
        return resolver.secret(value[SECRET_KEY])
    if isinstance(value, Mapping):
        return {key: resolve_secret_refs(item, resolver) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve_secret_refs(item, resolver) for item in value]
    return value


def require_resolver(resolver: SecretResolver | None, what: str) -> SecretResolver:
    """Return `resolver`, or raise the error a component needing `what` gives without one."""
    if resolver is None:
        raise ActivityError(
            f"The connection {what!r} is needed but this run has no project secrets "
            "(the workflow is not in a project)",
            error_type="ConnectionNotFound",
            retryable=False,
        )
    return resolver
