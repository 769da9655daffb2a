"""Expressions: JMESPath, parsed once per text, and the references they make."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import IncompleteExpressionError, JMESPathError, LexerError, ParseError

ROOT_NAMES = frozenset({"input", "vars", "nodes", "item", "index", "iteration"})
# Parsing and evaluating recurse once per level of nesting: deeper expressions are refused.
MAX_NESTING = 100
MAX_EXPRESSION_LENGTH = 10_000
_OPENING = frozenset("([{")
_CLOSING = frozenset(")]}")

# Node kinds whose children are evaluated against the current value; anything else (projections,
# pipes, filters) evaluates its right side against derived values, which are not the root.
_SAME_CONTEXT = frozenset(
    {
        "and_expression",
        "or_expression",
        "not_expression",
        "comparator",
        "function_expression",
        "multi_select_list",
        "multi_select_dict",
        "key_val_pair",
    }
)
_LEFT_ONLY = frozenset(
    {"projection", "value_projection", "filter_projection", "flatten", "index_expression", "pipe"}
)


@dataclass(frozen=True)
class ParsedExpression:
    """A parsed expression: its source, compiled form, and what it reads.

    `references` are the field paths read from the evaluation root; `path` is set when the
    whole expression is a plain `a.b.c` chain; `literal` is (True, value) for a literal.
    """

    source: str
    compiled: Any
    references: tuple[tuple[str, ...], ...]
    literal: tuple[bool, Any]
    path: tuple[str, ...] | None

    def search(self, data: Any) -> Any:
        """Return the expression's value against the evaluation data."""
        return self.compiled.search(data)


class ExpressionError(ValueError):
    """An expression that does not parse."""


@lru_cache(maxsize=8192)
def parse_expression(source: str) -> ParsedExpression:
    """Return the parsed expression for a source text (cached by text)."""
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"the expression is longer than {MAX_EXPRESSION_LENGTH:,} characters."
        )
    if _bracket_depth(source) > MAX_NESTING:
        raise ExpressionError(f"the expression nests more than {MAX_NESTING} levels deep.")
    try:
        compiled = jmespath.compile(source)
        ast = compiled.parsed
        if _ast_depth(ast) > MAX_NESTING:
            raise ExpressionError(f"the expression nests more than {MAX_NESTING} levels deep.")
        literal = (True, ast.get("value")) if ast.get("type") == "literal" else (False, None)
        references = tuple(_root_paths(ast))
        chain = _field_chain(ast)
    except JMESPathError as exc:
        raise ExpressionError(_describe(exc)) from None
    except RecursionError:
        raise ExpressionError(
            f"the expression nests more than {MAX_NESTING} levels deep."
        ) from None
    return ParsedExpression(source, compiled, references, literal, chain)


def _bracket_depth(source: str) -> int:
    """Return the deepest nesting of brackets outside quotes ('raw', `literal`, "identifier")."""
    depth = deepest = 0
    quote: str | None = None
    escaped = False
    for char in source:
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "'`\"":
            quote = char
        elif char in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSING:
            depth = max(0, depth - 1)
    return deepest


def _ast_depth(ast: dict[str, Any]) -> int:
    deepest = 0
    stack = [(ast, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        for child in node.get("children", []):
            if isinstance(child, dict):
                stack.append((child, level + 1))
    return deepest


def _describe(error: JMESPathError) -> str:
    """Return a one-line reason for a parse failure, with its column when known."""
    if isinstance(error, IncompleteExpressionError):
        return "the expression ends too early."
    if isinstance(error, LexerError):
        return f"{error.message} at column {error.lexer_position}."
    if isinstance(error, ParseError):
        return f"{error.msg} at column {error.lex_position}."
    return str(error).strip().splitlines()[0]


def _root_paths(node: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """Yield the field paths an AST reads from the evaluation root, e.g. ("nodes", "a")."""
    kind = node.get("type")
    children: list[Any] = node.get("children", [])
    if kind == "field":
        yield (node["value"],)
    elif kind == "subexpression":
        yield from _subexpression_paths(node, children)
    elif kind in _LEFT_ONLY and children:
        yield from _root_paths(children[0])
    elif kind in _SAME_CONTEXT:
        for child in children:
            if isinstance(child, dict):
                yield from _root_paths(child)


def _subexpression_paths(
    node: dict[str, Any], children: list[dict[str, Any]]
) -> Iterator[tuple[str, ...]]:
    chain = _field_chain(node)
    if chain is not None:
        yield chain
        return
    # Only the head is read from the root; later parts read whatever the head returned.
    head = _field_chain(children[0])
    if head is None:
        yield from _root_paths(children[0])
        return
    for child in children[1:]:
        field = _field_chain(child)
        if field is None:
            left = _left_chain(child)
            head = (*head, *left) if left else head
            break
        head = (*head, *field)
    yield head


def _left_chain(node: dict[str, Any]) -> tuple[str, ...] | None:
    """Return the field chain on the left of `items[0]` or `items[*]`, if any."""
    children = node.get("children", [])
    if node.get("type") in _LEFT_ONLY and children and isinstance(children[0], dict):
        return _field_chain(children[0])
    return None


def _field_chain(node: dict[str, Any]) -> tuple[str, ...] | None:
    """Return the names of a pure `a.b.c` chain, or None when the node is anything else."""
    if node.get("type") == "field":
        return (node["value"],)
    if node.get("type") != "subexpression":
        return None
    chain: tuple[str, ...] = ()
    for child in node.get("children", []):
        part = _field_chain(child)
        if part is None:
            return None
        chain = (*chain, *part)
    return chain
