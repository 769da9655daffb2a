"""Expressions: what they read, how they fail, and the parse cache."""

from __future__ import annotations

import pytest

from workflow_builder.compiler import ExpressionError, parse_expression


@pytest.mark.parametrize(
    ("source", "references"),
    [
        ("nodes.fetch.output.body.items", [("nodes", "fetch", "output", "body", "items")]),
        ("nodes.fetch.output.items[0].name", [("nodes", "fetch", "output", "items")]),
        ("nodes.a.output.items[?price > `3`].name", [("nodes", "a", "output", "items")]),
        ("length(input.items) > `3` && vars.ok", [("input", "items"), ("vars", "ok")]),
        ("{a: input.x, b: nodes.b.output}", [("input", "x"), ("nodes", "b", "output")]),
        ("sort_by(input.items, &price)", [("input", "items")]),
        ('nodes."my-node".output', [("nodes", "my-node", "output")]),
        ('`{"a": 1}`', []),
    ],
)
def test_references_are_the_paths_read_from_the_root(
    source: str, references: list[tuple[str, ...]]
) -> None:
    assert list(parse_expression(source).references) == references


def test_literals_are_recognised() -> None:
    assert parse_expression("`42`").literal == (True, 42)
    assert parse_expression("'text'").literal == (True, "text")
    assert parse_expression("input.x").literal == (False, None)


def test_parse_errors_name_the_column() -> None:
    with pytest.raises(ExpressionError, match="column 2"):
        parse_expression("a..b")


def test_parsed_expressions_are_cached_by_text() -> None:
    assert parse_expression("input.cached") is parse_expression("input.cached")


def test_expressions_evaluate_against_run_data() -> None:
    data = {"input": {"items": [{"price": 2}, {"price": 5}]}, "vars": {}, "nodes": {}}

    assert parse_expression("input.items[?price > `3`].price").search(data) == [5]
