"""Replacing secret plaintext with "***" in whatever the runtime records or shows.

A remote service may hand a secret back transformed, so each secret is masked in its common
encodings as well: base64 (standard and URL-safe, padded or not, also where it sits inside a
longer base64 text), percent-encoding (as in a URL path or a form), hexadecimal (either case)
and reversed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values would mask ordinary words and digits all over a history; a secret this short
# protects nothing anyway.
MIN_REDACTED_LENGTH = 4


class SecretValues(Protocol):
    """Anything that knows the plaintexts to hide (a project's resolver)."""

    def plaintexts(self) -> Collection[str]:
        """Return every plaintext value that must never appear in output."""
        ...


# Base64 of a secret inside a longer text depends on where it starts (modulo 3): only the
# characters that do not mix with its neighbours' bytes are the same, and only runs this long
# are distinctive enough to mask.
MIN_EMBEDDED_BASE64_LENGTH = 8


def _base64_forms(raw: bytes) -> set[str]:
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        forms |= {whole, whole.rstrip("=")}
        for offset in range(3):
            # Encoded after `offset` other bytes, the characters whose 6 bits all come from
            # the secret are those from ceil(8 * offset / 6) up to 8 * (offset + n) // 6.
            shifted = encode(b"\0" * offset + raw).decode("ascii")
            core = shifted[-(-8 * offset // 6) : 8 * (offset + len(raw)) // 6]
            if len(core) >= MIN_EMBEDDED_BASE64_LENGTH:
                forms.add(core)
    return forms


def encodings(value: str) -> set[str]:
    """Return `value` and the forms a remote service may send it back in."""
    raw = value.encode("utf-8")
    forms = {value, value[::-1], quote(value, safe=""), quote_plus(value), quote(value)}
    forms |= {raw.hex(), raw.hex().upper()}
    forms |= _base64_forms(raw)
    return forms


def _pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, so a secret containing another is masked whole.
    candidates = sorted(
        {
            form
            for value in values
            if len(value) >= MIN_REDACTED_LENGTH
            for form in encodings(value)
            if len(form) >= MIN_REDACTED_LENGTH
        },
        key=len,
        reverse=True,
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
