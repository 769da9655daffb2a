"""JSON Schema helpers: the one validator factory for tenant schemas, field lookup, and "can this
value satisfy that schema" checks.

Every JSON Schema a tenant supplies (trigger inputs, signal parameters, work items, variables,
component schemas, prompt variables, agent output schemas) is evaluated through
`schema_validator`, whose validators

- resolve `$ref` and `$dynamicRef` only inside the schema itself, the JSON Schema meta-schemas
  and the product's own published schemas: nothing is ever fetched (a `referencing` registry
  whose retrieval refuses), and a reference that resolves nowhere is a validation error, never
  an exception;
- evaluate `pattern`, `patternProperties` and `format: regex` with RE2, whose matching time is
  linear in the input, so no pattern can stall the process (patterns RE2 cannot run, such as
  look-arounds and back-references, are refused when the schema is saved).

`schema_issues` is the check a schema passes when it is saved: valid Draft 2020-12, every
pattern runnable, every reference resolvable without retrieval, each problem with its pointer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.exceptions import SchemaError
from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from workflow_builder.compiler.definition import SCHEMA_ID, definition_json_schema

JsonSchema = dict[str, Any]
MISSING = "missing"
# Deeper schemas are refused when saved: validating them recurses once per level.
MAX_SCHEMA_DEPTH = 64


# -- the validator factory -------------------------------------------------------------------


def _refuse_retrieval(uri: str) -> Resource[Any]:
    """Never fetch a schema: a URI the registry does not hold resolves nowhere."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


@cache
def _registry() -> Registry[Any]:
    """The schemas a `$ref` may reach beyond its own document: the JSON Schema meta-schemas and
    the product's published ones. Retrieval of anything else is refused."""
    published = DRAFT202012.create_resource(definition_json_schema())
    registry: Registry[Any] = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
    combined: Registry[Any] = registry.combine(SPECIFICATIONS).with_resource(SCHEMA_ID, published)
    return combined


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


@dataclass(frozen=True)
class _Regex:
    compiled: Any
    problem: str | None


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> _Regex:
    try:
        return _Regex(re2.compile(pattern, _RE2_OPTIONS), None)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        text = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        return _Regex(None, text)


def regex_problem(pattern: str) -> str | None:
    """Return why RE2 cannot run `pattern`, or None when it can."""
    found = _regex(pattern).problem
    if found is None:
        return None
    return (
        f"{found}; patterns run on RE2 (linear time), which has no look-arounds or back-references"
    )


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not isinstance(pattern, str) or not validator.is_type(instance, "string"):
        return
    regex = _regex(pattern)
    if regex.compiled is None:
        yield ValidationError(f"the schema's pattern {pattern!r} cannot be used: {regex.problem}")
    elif regex.compiled.search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not isinstance(patterns, dict) or not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = _regex(pattern)
        if regex.compiled is None:
            yield ValidationError(
                f"the schema's pattern {pattern!r} cannot be used: {regex.problem}"
            )
            continue
        for key, value in instance.items():
            if regex.compiled.search(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


_DRAFT_REF = Draft202012Validator.VALIDATORS["$ref"]
_DRAFT_DYNAMIC_REF = Draft202012Validator.VALIDATORS["$dynamicRef"]


def _unresolvable(ref: Any) -> ValidationError:
    return ValidationError(
        f"the schema's reference {ref!r} resolves nowhere (references are never fetched)"
    )


def _ref(validator: Any, ref: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    try:
        yield from _DRAFT_REF(validator, ref, instance, schema)
    except Unresolvable:
        yield _unresolvable(ref)


def _dynamic_ref(validator: Any, ref: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    try:
        yield from _DRAFT_DYNAMIC_REF(validator, ref, instance, schema)
    except Unresolvable:
        yield _unresolvable(ref)


def _is_regex(instance: object) -> bool:
    if isinstance(instance, str):
        problem = regex_problem(instance)
        if problem is not None:
            raise ValueError(problem)
    return True


_FORMATS = FormatChecker()
_FORMATS.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
_FORMATS.checks("regex", raises=ValueError)(_is_regex)

_TenantValidator = validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "$ref": _ref,
        "$dynamicRef": _dynamic_ref,
    },
    format_checker=_FORMATS,
)


def schema_validator(schema: Any) -> Draft202012Validator:
    """Return a Draft 2020-12 validator of a tenant's `schema` (see the module's docstring).

    Typed as the class it extends: it has the same interface.
    """
    validator: Draft202012Validator = _TenantValidator(schema, registry=_registry())
    return validator


# -- the check a schema passes when it is saved ------------------------------------------------


@dataclass(frozen=True)
class SchemaIssue:
    """Why a schema is refused, and where in the schema (an empty path: the whole)."""

    path: tuple[str | int, ...]
    message: str

    @property
    def pointer(self) -> str:
        """The JSON Pointer of `path` inside the schema."""
        return schema_pointer(self.path)


# Keywords whose values are maps of name -> schema, and keywords whose values are data.
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


def schema_pointer(parts: Sequence[Any]) -> str:
    """Return the JSON Pointer of a path of keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_SCHEMA_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


def schema_issues(schema: Any, *, meta: bool = True) -> list[SchemaIssue]:
    """Return every reason `schema` cannot be saved (empty when it can): nested too deeply, not
    valid Draft 2020-12 (unless `meta` is False), a pattern RE2 cannot run, a reference that
    resolves nowhere."""
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        return [SchemaIssue((), f"the schema is nested deeper than {MAX_SCHEMA_DEPTH} levels")]
    issues: list[SchemaIssue] = []
    if meta:
        issues += _meta_schema_issues(schema)
    if isinstance(schema, dict):
        taken = [issue.pointer for issue in issues]
        issues += [issue for issue in _walk(schema) if not _within(issue.pointer, taken)]
    return issues


def _meta_schema_issues(schema: Any) -> list[SchemaIssue]:
    try:
        Draft202012Validator.check_schema(schema, format_checker=_FORMATS)
    except SchemaError as exc:
        cause = f" ({exc.cause})" if exc.cause is not None else ""
        return [
            SchemaIssue(
                tuple(exc.absolute_path),
                f"not a valid JSON Schema (Draft 2020-12): {exc.message}{cause}",
            )
        ]
    return []


def _within(pointer: str, taken: list[str]) -> bool:
    # The meta-schema's verdict on a keyword covers what the walk finds inside it.
    return any(pointer == t or (t and pointer.startswith(t + "/")) for t in taken)


def _walk(schema: dict[str, Any]) -> Iterator[SchemaIssue]:
    """Yield the patterns RE2 cannot run and the references that resolve nowhere."""
    root = _registry().resolver_with_root(DRAFT202012.create_resource(schema))
    stack: list[tuple[Any, tuple[str | int, ...], Any]] = [(schema, (), root)]
    while stack:
        node, path, resolver = stack.pop()
        if not isinstance(node, dict):
            continue
        if path and isinstance(node.get("$id"), str):
            resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        for key, value in node.items():
            where = (*path, key)
            if key in _DATA_KEYWORDS:
                continue
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                try:
                    resolver.lookup(value)
                except Unresolvable:
                    yield SchemaIssue(
                        where,
                        f"{key} {value!r} resolves nowhere: a reference may point inside this "
                        "schema (e.g. '#/$defs/item'), to a JSON Schema meta-schema or to "
                        f"{SCHEMA_ID}; nothing is fetched",
                    )
            elif key == "pattern" and isinstance(value, str):
                problem = regex_problem(value)
                if problem is not None:
                    yield SchemaIssue(where, f"pattern {value!r}: {problem}")
            elif key in _SCHEMA_MAPS and isinstance(value, dict):
                for name, sub in value.items():
                    if key == "patternProperties":
                        problem = regex_problem(name)
                        if problem is not None:
                            yield SchemaIssue((*where, name), f"pattern {name!r}: {problem}")
                    stack.append((sub, (*where, name), resolver))
            elif isinstance(value, dict):
                stack.append((value, where, resolver))
            elif isinstance(value, list):
                stack.extend((item, (*where, i), resolver) for i, item in enumerate(value))


def schema_problem(schema: Any) -> str | None:
    """Return the first reason `schema` cannot be used, with its pointer, or None."""
    issues = schema_issues(schema)
    if not issues:
        return None
    first = issues[0]
    return f"{first.message} (at {first.pointer})" if first.pointer else first.message


# -- what a schema says about values -----------------------------------------------------------

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
