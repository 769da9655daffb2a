"""Replacing secret plaintext with "***" in whatever the runtime records or shows."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Protocol

MASK = "***"
# Shorter values would mask ordinary words and digits all over a history; a secret this short
# protects nothing anyway.
MIN_REDACTED_LENGTH = 4


class SecretValues(Protocol):
    """Anything that knows the plaintexts to hide (a project's resolver)."""

    def plaintexts(self) -> Collection[str]:
        """Return every plaintext value that must never appear in output."""
        ...


def _pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, so a secret containing another is masked whole.
    candidates = sorted(
        {value for value in values if len(value) >= MIN_REDACTED_LENGTH}, key=len, reverse=True
    )
    if not candidates:
        return None
    return re.compile("|".join(re.escape(value) for value in candidates))


def _apply(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(MASK, value)
    if isinstance(value, Mapping):
        return {_apply(key, pattern): _apply(item, pattern) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_apply(item, pattern) for item in value]
    return value


def redact(value: Any, secrets: SecretValues) -> Any:
    """Return `value` (a string or JSON-like data) with every secret plaintext replaced by ***."""
    pattern = _pattern(secrets.plaintexts())
    if pattern is None:
        return value
    return _apply(value, pattern)
