"""Validation problems: stable codes, locations, and the result that groups them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from jsonschema.exceptions import ValidationError

Severity = Literal["error", "warning"]

# Every code the validator emits, with its one-line meaning (docs/definition-format.md lists them).
CODES: dict[str, str] = {
    "invalid_json": "The document is not JSON.",
    "invalid_document": "The document does not match the definition schema.",
    "missing_trigger": "No trigger node: a workflow needs exactly one.",
    "multiple_triggers": "More than one trigger node.",
    "trigger_has_incoming": "An edge points into the trigger.",
    "incomplete_trigger": "A schedule trigger without cron, a signal trigger without signal, "
    "or an hmac webhook trigger without secret.",
    "invalid_webhook_path": "A webhook path that is not lowercase segments of letters, digits, "
    "_ and - joined by /.",
    "unexpected_webhook_setting": "A webhook setting on a trigger that is not a webhook, or a "
    "secret on a webhook authenticated by API key.",
    "duplicate_node_id": "Two nodes share an id.",
    "duplicate_edge_id": "Two edges share an id.",
    "dangling_edge": "An edge's source or target is not a node.",
    "unknown_outcome": "An edge leaves from a handle the source node does not have.",
    "invalid_target_handle": "An edge enters through a handle the target does not have.",
    "end_has_outgoing": "An edge leaves an end node.",
    "unreachable_node": "A node cannot be reached from the trigger.",
    "undeclared_cycle": "A cycle that is not closed by a loop's back edge.",
    "loop_missing_body": "A for_each or loop node without a body edge.",
    "loop_missing_back_edge": "A loop body that never returns to its loop node.",
    "back_edge_outside_body": "A back edge from a node outside that loop's body.",
    "loop_body_entered_from_outside": "An edge enters a loop body other than by the body handle.",
    "loop_missing_max_iterations": "A loop node without max_iterations.",
    "duplicate_case": "Two switch cases share a name, or a case is named default.",
    "invalid_delay": "A delay needs exactly one of seconds and until.",
    "unknown_component": "No component with that name in the catalog.",
    "unknown_component_version": "The component exists, but not at that version.",
    "component_type_mismatch": "The component's type does not match the node type.",
    "deprecated_component": "The component version is deprecated (warning).",
    "invalid_config": "The node's config does not match the component's config_schema.",
    "invalid_json_schema": "A JSON Schema in the definition is not a valid Draft 2020-12 schema.",
    "invalid_variable_initial": "A variable's initial value does not match its schema.",
    "invalid_expression": "An expression does not parse.",
    "unknown_reference": "An expression reads a name other than input, vars, nodes, item, "
    "index or iteration.",
    "reference_out_of_scope": "item/index outside a for_each body, or iteration outside a loop.",
    "unknown_node_reference": "An expression reads a node that does not exist.",
    "invalid_node_reference": "An expression reads nodes.<id>.<x> where x is not output or status.",
    "reference_not_ancestor": "An expression reads a node that cannot have run before this point.",
    "unknown_output_field": "An expression reads a field absent from that node's output schema.",
    "unknown_input_field": "An expression reads a field absent from the trigger's input schema.",
    "unknown_variable": "A variable that is not declared.",
    "missing_required_input": "A required input property of the component is not provided.",
    "unknown_input_property": "An input property the component's input schema does not accept.",
    "incompatible_schemas": "A value's schema cannot satisfy the input schema it feeds.",
    "invalid_cron": "A cron expression that does not parse.",
    "invalid_timezone": "A time zone that is not an IANA name.",
    "name_collision": "Two signals, queries or work queues with the same (or generated) name.",
    "undeclared_signal": "A signal that the definition does not declare.",
    "unknown_work_queue": "A work queue that the definition does not declare.",
    "unknown_child_workflow": "A child workflow name not known in this context.",
    "undeclared_child_workflow": "A child workflow node whose workflow is not declared (warning).",
    "condition_outcome_unwired": "A condition with its true or false handle unwired (warning).",
    "switch_case_unwired": "A switch case or default with no edge (warning).",
    "no_end_node": "No end node: runs complete with a null output (warning).",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition, located by a JSON pointer."""

    code: str
    message: str
    pointer: str
    severity: Severity = "error"
    node_id: str | None = None
    edge_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the problem as a JSON-ready dict."""
        return asdict(self)


@dataclass
class ValidationResult:
    """Every problem found, errors and warnings apart."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when there is no error (warnings allowed)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict."""
        return {
            "valid": self.ok,
            "errors": [p.to_dict() for p in self.errors],
            "warnings": [p.to_dict() for p in self.warnings],
        }


class Problems:
    """Collects problems while checks run."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def error(
        self,
        code: str,
        message: str,
        pointer: str,
        *,
        node_id: str | None = None,
        edge_id: str | None = None,
    ) -> None:
        """Record an error."""
        self.items.append(Problem(code, message, pointer, "error", node_id, edge_id))

    def warning(
        self,
        code: str,
        message: str,
        pointer: str,
        *,
        node_id: str | None = None,
        edge_id: str | None = None,
    ) -> None:
        """Record a warning."""
        self.items.append(Problem(code, message, pointer, "warning", node_id, edge_id))

    def result(self) -> ValidationResult:
        """Return the recorded problems, deduplicated and in a stable order."""
        unique = sorted(set(self.items), key=_sort_key)
        return ValidationResult(
            errors=[p for p in unique if p.severity == "error"],
            warnings=[p for p in unique if p.severity == "warning"],
        )


def _sort_key(problem: Problem) -> tuple[list[tuple[int, int, str]], str, str]:
    # Numeric parts compare as numbers so /nodes/10 follows /nodes/9.
    parts = [
        (0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p)
        for p in problem.pointer.split("/")
    ]
    return (parts, problem.code, problem.message)


def pointer(*parts: str | int) -> str:
    """Return an RFC 6901 JSON pointer built from path parts."""
    return "".join(["/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts])


class CompilationError(Exception):
    """Raised by compile_definition when the definition has errors; carries the result."""

    def __init__(self, result: ValidationResult) -> None:
        self.result = result
        count = len(result.errors)
        first = result.errors[0] if result.errors else None
        detail = f": {first.code} at {first.pointer or '/'}: {first.message}" if first else ""
        super().__init__(f"definition has {count} error(s){detail}")


def shorten(text: str, limit: int = 80) -> str:
    """Return `text` cut to `limit` characters (with an ellipsis), for quoting in messages."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "nothing",
}
_MISSING = re.compile(r"^'([^']+)' is a required property")
_UNEXPECTED = re.compile(r"\('([^']+)' (?:was|were) unexpected\)")


def _type_words(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join(_TYPE_WORDS.get(str(name), str(name)) for name in names)


def plain_config_error(error: ValidationError) -> str:
    """Return a node config's schema violation in plain words, naming the setting (not the
    schema or the validator): "the setting memory_mb must be a whole number, not empty"."""
    setting = ".".join(str(part) for part in error.absolute_path)
    subject = f"the setting {setting}" if setting else "the settings"
    keyword, expected = error.validator, error.validator_value
    if keyword == "required":
        found = _MISSING.match(error.message)
        name = f"{setting}.{found.group(1)}" if found and setting else (found and found.group(1))
        return f"the setting {name} is required" if name else f"{subject} miss a required value"
    if keyword == "type":
        got = "empty" if error.instance is None else f"got {shorten(repr(error.instance))}"
        return f"{subject} must be {_type_words(expected)} ({got})"
    if keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "more than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }[str(keyword)]
        return f"{subject} must be {words} {expected}"
    if keyword == "minLength" and expected == 1:
        return f"{subject} must not be empty"
    if keyword == "enum":
        return f"{subject} must be one of {', '.join(map(str, expected))}"
    if keyword == "additionalProperties":
        found = _UNEXPECTED.search(error.message)
        extra = found.group(1) if found else "a setting"
        return f"{extra!r} is not a setting here" + (f" (in {setting})" if setting else "")
    if keyword in ("anyOf", "oneOf") and all(
        isinstance(option, dict) and set(option) == {"required"} for option in expected
    ):
        names = [name for option in expected for name in option["required"]]
        return f"the settings need {' or '.join(names)}"
    if keyword in ("anyOf", "oneOf"):
        return f"{subject} is none of the kinds of value it takes"
    if keyword in ("minLength", "maxLength", "minItems", "maxItems"):
        unit = "characters" if keyword.endswith("Length") else "items"
        bound = "at least" if keyword.startswith("min") else "at most"
        return f"{subject} must have {bound} {expected} {unit}"
    if keyword == "not" and isinstance(expected, dict) and set(expected) == {"required"}:
        return f"give only one of {', '.join(expected['required'])}"
    if keyword == "pattern":
        return f"{subject} does not have the expected form ({expected})"
    return f"{subject}: {error.message}"
