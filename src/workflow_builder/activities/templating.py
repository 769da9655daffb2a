"""The sandboxed template engine prompts are rendered with, in runs and in previews alike.

Jinja's sandbox stops templates from reaching Python internals; this one also bounds string
and list repetition and powers, so a template cannot exhaust a worker's memory or CPU with
`{{ 'x' * 10**12 }}`.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

MAX_RENDERED_LENGTH = 1_000_000
MAX_EXPONENT = 1_000


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox, with repetition and powers bounded so a template cannot exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse `*` and `**` whose result would be too large, else apply them."""
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(times, int)
                    and len(sequence) * times > MAX_RENDERED_LENGTH
                ):
                    raise SecurityError("the repeated value would be too long")
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponents are limited to {MAX_EXPONENT}")
        return super().call_binop(context, operator, left, right)


templates = BoundedSandbox(undefined=StrictUndefined, autoescape=False)
