"""The sandboxed template engine prompts are rendered with, in runs and in previews alike.

Jinja's sandbox stops templates from reaching Python internals; this one also bounds the work
a template can make, so a prompt cannot exhaust the memory or the time of the API process (the
preview) or of a worker (a run). `render` enforces, per rendering:

- output: at most `MAX_RENDERED_LENGTH` characters written in all (into the result, a macro's
  body or a `set` block), checked as each piece is written rather than once it is complete;
- value: no operation may build a string or list longer than that either (repetition,
  concatenation, `join`, `replace`, padding and format widths, `batch`), checked before it is
  built;
- loop: at most `MAX_LOOP_ITERATIONS` iterations of `for` loops in all (and `range()` no
  longer than that);
- calls: at most `MAX_CALLS` calls of macros, functions, methods and filters;
- time: at most `MAX_RENDER_SECONDS` of rendering.

Going over one raises `TemplateLimitExceeded`, naming the limit. The environment is also
immutable (lists and dicts cannot be changed in place) and has no `lipsum`.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_RENDERED_LENGTH = 1_000_000
MAX_EXPONENT = 1_000
MAX_LOOP_ITERATIONS = 10_000
MAX_CALLS = 100_000
MAX_RENDER_SECONDS = 2.0
# Numbers a method or filter takes besides its value (widths, counts) are sizes: above this
# they could only build values over the limit.
_MAX_SIZE_ARGUMENT = MAX_RENDERED_LENGTH
_LONG_WIDTH = re.compile(r"\d{7,}")
_SIZED_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice", "format"})
_SIZED_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


class TemplateLimitExceeded(SecurityError):
    """A rendering went over one of its limits; `limit` names it (output, value, loop, calls,
    time)."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass
class _Budget:
    deadline: float
    iterations: int = 0
    calls: int = 0
    written: int = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitExceeded(
                "time", f"the template took longer than {MAX_RENDER_SECONDS:g} seconds to render"
            )


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _current() -> _Budget:
    budget = _budget.get()
    if budget is None:  # rendered outside `render`: give it a budget of its own
        budget = _Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS)
        _budget.set(budget)
    return budget


def _too_long(what: str) -> TemplateLimitExceeded:
    return TemplateLimitExceeded(
        "value", f"{what} would be longer than {MAX_RENDERED_LENGTH:,} characters"
    )


def _count_call() -> None:
    budget = _current()
    budget.calls += 1
    if budget.calls > MAX_CALLS:
        raise TemplateLimitExceeded(
            "calls", f"the template made more than {MAX_CALLS:,} calls (macros, functions, filters)"
        )
    budget.tick()


def _check_sizes(values: Iterable[Any]) -> None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and value > _MAX_SIZE_ARGUMENT:
            raise _too_long(f"a value sized {value:,}")
        if isinstance(value, tuple | list):
            _check_sizes(value)


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else len(str(value))


def _bounded_join(separator: str, items: Iterable[Any]) -> str:
    listed = list(_bounded_iteration(items))
    size = sum(_length(item) for item in listed) + len(separator) * max(0, len(listed) - 1)
    if size > MAX_RENDERED_LENGTH:
        raise _too_long("the joined text")
    return separator.join(str(item) for item in listed)


def _check_replace(text: str, old: str, new: str, count: tuple[Any, ...]) -> None:
    found = len(text) + 1 if old == "" else text.count(old)
    if count and isinstance(count[0], int) and count[0] >= 0:
        found = min(found, count[0])
    if len(text) + found * (len(new) - len(old)) > MAX_RENDERED_LENGTH:
        raise _too_long("the replaced text")


def _check_format(fmt: Any) -> None:
    if isinstance(fmt, str) and _LONG_WIDTH.search(fmt):
        raise _too_long("a formatted value (its width)")


def _bounded_iteration(iterable: Any) -> Iterator[Any]:
    budget = _current()
    for item in iterable:
        budget.iterations += 1
        if budget.iterations > MAX_LOOP_ITERATIONS:
            raise TemplateLimitExceeded(
                "loop", f"the template's loops ran more than {MAX_LOOP_ITERATIONS:,} iterations"
            )
        budget.tick()
        yield item


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_LOOP_ITERATIONS:
        raise TemplateLimitExceeded(
            "loop", f"range() is limited to {MAX_LOOP_ITERATIONS:,} numbers"
        )
    return numbers


def _bounded_output(value: Any) -> Any:
    budget = _current()
    budget.written += _length(value)
    if budget.written > MAX_RENDERED_LENGTH:
        raise TemplateLimitExceeded(
            "output",
            f"the template would write more than {MAX_RENDERED_LENGTH:,} characters",
        )
    return value


def _bounded_concat(*parts: Any) -> str:
    texts = [str(part) for part in parts]
    if sum(len(text) for text in texts) > MAX_RENDERED_LENGTH:
        raise _too_long("the concatenated text")
    return "".join(texts)


class _Bound(NodeTransformer):
    """Routes every `for` loop's items, every `~` concatenation and every piece of output
    through the budget."""

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [_environment_call("bounded_output", [child]) for child in node.nodes]
        return node

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _environment_call("bounded_iteration", [node.iter])
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _environment_call("bounded_concat", list(node.nodes))


def _environment_call(name: str, arguments: Sequence[nodes.Node]) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(name), list(arguments), [], None, None)


def _guarded_filter(name: str, filter_function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(filter_function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _count_call()
        # A filter's value comes first (after the context or environment it may take).
        given = args[1:] if getattr(filter_function, "jinja_pass_arg", None) else args
        value, options = (given[0] if given else None), given[1:]
        if name in _SIZED_FILTERS:
            _check_sizes([*options, *kwargs.values()])
        if name == "join":
            separator = options[0] if options else kwargs.get("d", "")
            if isinstance(separator, str) and "attribute" not in kwargs and len(options) < 2:
                return _bounded_join(separator, value if value is not None else ())
        if name == "replace" and isinstance(value, str) and len(options) >= 2:
            _check_replace(value, str(options[0]), str(options[1]), options[2:3])
        if name == "format":
            _check_format(value)
        return filter_function(*args, **kwargs)

    return guarded


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the work of each rendering bounded (see the module)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals.pop("lipsum", None)
        self.globals["range"] = _bounded_range
        self.filters = {
            name: _guarded_filter(name, function) for name, function in self.filters.items()
        }

    bounded_iteration = staticmethod(_bounded_iteration)
    bounded_concat = staticmethod(_bounded_concat)
    bounded_output = staticmethod(_bounded_output)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        bounded: nodes.Template = _Bound().visit(tree)
        return bounded

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse operators whose result would be too large, else apply them."""
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(times, int)
                    and len(sequence) * times > MAX_RENDERED_LENGTH
                ):
                    raise _too_long("the repeated value")
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponents are limited to {MAX_EXPONENT}")
        if (
            operator == "+"
            and isinstance(left, str | list | tuple)
            and isinstance(right, str | list | tuple)
            and len(left) + len(right) > MAX_RENDERED_LENGTH
        ):
            raise _too_long("the sum")
        if operator == "%" and isinstance(left, str):
            _check_format(left)
            _check_sizes(right if isinstance(right, tuple) else [right])
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Count the call and refuse method arguments that would build too large a value."""
        _count_call()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str | list | tuple):
            method = getattr(__obj, "__name__", "")
            if method in _SIZED_METHODS:
                _check_sizes([*args, *kwargs.values()])
            if isinstance(owner, str) and method == "join" and len(args) == 1:
                return _bounded_join(owner, args[0])
            if isinstance(owner, str) and method == "replace" and len(args) >= 2:
                _check_replace(owner, str(args[0]), str(args[1]), args[2:3])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Refuse format strings with widths past the limit, else format as the sandbox does."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format(getattr(value, "__self__", None))
        return wrapped


templates = BoundedSandbox(undefined=StrictUndefined, autoescape=False)


def render(source: str, variables: Mapping[str, Any]) -> str:
    """Return `source` rendered with `variables` within the limits (see the module).

    Raises TemplateLimitExceeded when it goes over one, and Jinja's errors (TemplateError)
    for templates that fail otherwise.
    """
    token = _budget.set(_Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS))
    try:
        return templates.from_string(source).render(**variables)
    finally:
        _budget.reset(token)
