"""JSON Schema helpers: field lookup and "can this value satisfy that schema" checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

JsonSchema = dict[str, Any]
MISSING = "missing"
# Keywords that can admit properties beyond `properties`: with any of them, say nothing.
_COMPOSITE = frozenset(
    {
        "patternProperties",
        "allOf",
        "anyOf",
        "oneOf",
        "$ref",
        "$dynamicRef",
        "unevaluatedProperties",
        "dependentSchemas",
        "if",
    }
)

_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def schema_problem(schema: Any) -> str | None:
    """Return why a value is not a valid Draft 2020-12 schema, or None when it is."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return str(exc.message)
    return None


def lookup(schema: JsonSchema | None, path: Sequence[str]) -> JsonSchema | str | None:
    """Return the sub-schema at a property path, MISSING if the schema rules it out, else None.

    A property is ruled out when the object schema lists `properties` without it and does not
    allow additional properties (absent `additionalProperties` counts as "not allowed": the
    declared properties are the contract between nodes).
    """
    current = schema
    for name in path:
        if not isinstance(current, dict):
            return None
        properties = current.get("properties")
        if isinstance(properties, dict) and name in properties:
            current = properties[name]
            continue
        extra = current.get("additionalProperties")
        if isinstance(extra, dict):
            current = extra
        elif isinstance(properties, dict) and extra is not True and not _COMPOSITE & current.keys():
            return MISSING
        else:
            return None
    return current if isinstance(current, dict) else None


def schema_types(schema: JsonSchema | None) -> frozenset[str] | None:
    """Return the JSON types a schema allows, or None when it does not say."""
    if not isinstance(schema, dict):
        return None
    declared = schema.get("type")
    if isinstance(declared, str):
        return _widen(frozenset({declared}))
    if isinstance(declared, list):
        return _widen(frozenset(str(t) for t in declared))
    if "const" in schema:
        return _widen(frozenset({value_type(schema["const"])}))
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return _widen(frozenset(value_type(v) for v in schema["enum"]))
    return None


def _widen(types: frozenset[str]) -> frozenset[str]:
    # Every integer is a number, so a "number" target accepts an "integer" source.
    return types | {"number"} if "integer" in types else types


def value_type(value: Any) -> str:
    """Return the JSON type name of a Python value."""
    return _JSON_TYPES.get(type(value), "object")


def incompatibilities(source: JsonSchema | None, target: JsonSchema | None) -> list[str]:
    """Return why values of `source` cannot satisfy `target` (empty when unknown or fine)."""
    return _incompatibilities(source, target, "", depth=0)


def _incompatibilities(
    source: JsonSchema | None, target: JsonSchema | None, where: str, depth: int
) -> list[str]:
    if not isinstance(source, dict) or not isinstance(target, dict) or depth > 8:
        return []
    wanted, given = schema_types(target), schema_types(source)
    if wanted is not None and given is not None and not given & wanted:
        return [f"{where or 'value'} is {_names(given)} but {_names(wanted)} is expected"]
    if "object" not in (given or {"object"}):
        return []
    found = _unaccepted(source, target, where)
    required = target.get("required")
    for name in required if isinstance(required, list) else []:
        sub = lookup(source, [name])
        label = f"{where}.{name}" if where else str(name)
        if sub == MISSING:
            found.append(f"required property {label!r} is not in the source schema")
        elif isinstance(sub, dict):
            found += _incompatibilities(sub, lookup_dict(target, name), label, depth + 1)
    return found


def _unaccepted(source: JsonSchema, target: JsonSchema, where: str) -> list[str]:
    """Return why the properties a source always has are refused by a closed target."""
    accepted = target.get("properties")
    always = source.get("required")
    if target.get("additionalProperties") is not False or not isinstance(always, list):
        return []
    extra = [n for n in always if not isinstance(accepted, dict) or n not in accepted]
    if not extra:
        return []
    names = ", ".join(repr(str(n)) for n in extra)
    return [f"{where or 'value'} always has {names}, which the input schema does not accept"]


def lookup_dict(schema: JsonSchema, name: str) -> JsonSchema | None:
    """Return the declared schema of one property, or None."""
    properties = schema.get("properties")
    if isinstance(properties, dict) and isinstance(properties.get(name), dict):
        return dict(properties[name])
    return None


def _names(types: frozenset[str]) -> str:
    shown = sorted(types - {"number"} if "integer" in types else types)
    return " or ".join(shown)
