"""Which passwords are too easy to guess: common ones and trivial patterns.

The list of common passwords ships with the package (`common_passwords.txt`); nothing is
downloaded. A password is refused when

- it is on the list, or is a listed word with digits or symbols around it, or written with
  common letter substitutions (`P@ssw0rd1!`);
- it has fewer than 5 distinct characters (`aaaaaaaa`, eight spaces, `abababab`);
- it is a run along the alphabet, the digits or a keyboard row (`abcdefgh`, `87654321`,
  `qwertyuiop`), or one short piece repeated (`abc123abc123`);
- it contains the account's email address name or display name.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

MIN_DISTINCT_CHARACTERS = 5
# Listed words shorter than this are common syllables rather than passwords.
_MIN_WORD = 4
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
)
_SUBSTITUTIONS = str.maketrans(
    {
        "@": "a",
        "4": "a",
        "3": "e",
        "1": "i",
        "!": "i",
        "0": "o",
        "$": "s",
        "5": "s",
        "7": "t",
        "+": "t",
        "8": "b",
        "9": "g",
    }
)
_AROUND = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_SYMBOLS_AROUND = re.compile(r"^[\W_]+|[\W_]+$")


@cache
def common_passwords() -> frozenset[str]:
    """Return the shipped list of common passwords (lowercase)."""
    text = resources.files("workflow_builder.auth").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _run_along(text: str) -> bool:
    """Whether `text` is a stretch of one of the sequences, forwards or backwards."""
    return any(text in sequence or text in sequence[::-1] for sequence in _SEQUENCES)


def _repeated(text: str) -> bool:
    """Whether `text` is one piece (up to half its length) repeated."""
    size = len(text)
    return any(size % n == 0 and text[:n] * (size // n) == text for n in range(1, size // 2 + 1))


def weakness(password: str, *, email: str | None = None, name: str | None = None) -> str | None:
    """Return why `password` is too easy to guess, or None when it is not."""
    lowered = password.lower()
    compact = re.sub(r"\s+", "", lowered)
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        return f"it uses fewer than {MIN_DISTINCT_CHARACTERS} different characters"
    common = common_passwords()
    bare = _SYMBOLS_AROUND.sub("", compact)
    candidates = {lowered, compact, bare, lowered.translate(_SUBSTITUTIONS)}
    candidates |= {_AROUND.sub("", c) for c in list(candidates)}
    candidates |= {_AROUND.sub("", c.translate(_SUBSTITUTIONS)) for c in list(candidates)}
    if any(c in common for c in candidates if len(c) >= _MIN_WORD):
        return "it is one of the most common passwords, or one with digits or symbols added"
    if any(_run_along(c) or _repeated(c) for c in (compact, bare) if c):
        return "it is a run of neighbouring keys or letters, or one piece repeated"
    personal = [email.split("@", 1)[0].lower() if email else "", (name or "").lower()]
    if any(len(part) >= _MIN_WORD and part in compact for part in personal):
        return "it contains your email address or name"
    return None
