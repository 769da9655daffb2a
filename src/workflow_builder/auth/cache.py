"""A short-lived, bounded cache of verified callers, so that a request does not look its
credential up in the database every time.

What is kept: for an API key (keyed by its SHA-256, never the key), the key's id and user; for
a sign-in session (keyed by user and session id, after the access token's signature and expiry
were verified), the caller's email, role and permissions and that the session is live. An entry
lives at most `AUTH_CACHE_SECONDS` (and never past the API key's own expiry).

Revoking takes effect at once in the process that revokes: deleting an API key, signing out,
ending other sessions with a password change, changing a user's role or a role's permissions
drop the entries concerned as the change is made and again once it commits (a request that read
the old row in between cannot keep it). Another API process sees the change when its entry
expires, within `AUTH_CACHE_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.orm import Session

AUTH_CACHE_SECONDS = 5.0
AUTH_CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    value: Any
    expires: float
    user_id: UUID
    # The API key's id or the sign-in session's id the entry stands for.
    credential_id: UUID | None


class AuthCache:
    """Entries with a time to live, the least recently stored dropped first when full."""

    def __init__(self, seconds: float = AUTH_CACHE_SECONDS, size: int = AUTH_CACHE_ENTRIES):
        self.seconds = seconds
        self.size = size
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        # Bumped by every forget: a value read from the database before a revocation is not
        # stored after it (`put` with the generation read before the lookup).
        self.generation = 0

    def get(self, key: Hashable) -> Any:
        """Return the live value stored under `key`, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= time.monotonic():
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            return None
        return entry.value

    def put(
        self,
        key: Hashable,
        value: Any,
        *,
        user_id: UUID,
        credential_id: UUID | None,
        generation: int,
        seconds: float | None = None,
    ) -> None:
        """Store `value` under `key` for AUTH_CACHE_SECONDS (or fewer `seconds`), unless
        something was forgotten since `generation` (read before `value` was)."""
        if self.seconds <= 0:
            return
        ttl = self.seconds if seconds is None else min(seconds, self.seconds)
        if ttl <= 0:
            return
        entry = _Entry(value, time.monotonic() + ttl, user_id, credential_id)
        with self._lock:
            if generation != self.generation:
                return
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, match: Callable[[_Entry], bool]) -> None:
        """Drop every entry `match` accepts."""
        with self._lock:
            self.generation += 1
            for key in [k for k, entry in self._entries.items() if match(entry)]:
                del self._entries[key]

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


auth_cache = AuthCache()


def _now_and_after_commit(session: Session | None, drop: Callable[[], None]) -> None:
    drop()
    if session is not None:
        event.listen(session, "after_commit", lambda _: drop(), once=True)


def forget_credential(credential_id: UUID, session: Session | None = None) -> None:
    """Drop what is cached for one API key or one sign-in session (its id)."""
    _now_and_after_commit(
        session, lambda: auth_cache.forget(lambda entry: entry.credential_id == credential_id)
    )


def forget_user(user_id: UUID, session: Session | None = None) -> None:
    """Drop what is cached for every credential of a user."""
    _now_and_after_commit(session, lambda: auth_cache.forget(lambda e: e.user_id == user_id))


def forget_everyone(session: Session | None = None) -> None:
    """Drop the whole cache (a role's permissions changed)."""
    _now_and_after_commit(session, auth_cache.clear)
