"""A short-lived, bounded cache of verified callers, so that a request does not look its
credential up in the database every time.

What is kept: for an API key (keyed by its SHA-256, never the key), the key's id and user; for
a sign-in session (keyed by user and session id, after the access token's signature and expiry
were verified), the caller's email, role and permissions and that the session is live. An entry
lives at most `AUTH_CACHE_SECONDS` (and never past the API key's own expiry).

Revoking takes effect at once in every API process: deleting an API key, signing out, ending
other sessions with a password change, changing a user's role or a role's permissions drop the
entries concerned in the process that makes the change, and send a PostgreSQL notification
(`NOTIFY wfb_auth_revoked`, delivered when the change commits) on which every other process
drops them too. Each process listens on a connection of its own and caches nothing while that
connection is down. A change made behind the API's back (SQL in psql) takes effect when the
entries expire, within `AUTH_CACHE_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from sqlalchemy import event, text
from sqlalchemy.orm import Session

AUTH_CACHE_SECONDS = 5.0
AUTH_CACHE_ENTRIES = 10_000
CHANNEL = "wfb_auth_revoked"
_FIRST_CONNECT_SECONDS = 2.0
_NOTIFY = text("select pg_notify(:channel, :payload)")


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
        self._listeners: dict[str, _Listener] = {}

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

    def listening(self, database_url: str) -> bool:
        """Whether revocations on `database_url` reach this process now (its listener is
        connected), starting the listener on first use (and waiting a moment for it to
        connect; call it from a worker thread). Nothing is cached while it is not."""
        listener = self._listeners.get(database_url)
        if listener is None:
            with self._lock:
                listener = self._listeners.get(database_url)
                if listener is None:
                    listener = self._listeners[database_url] = _Listener(database_url, self)
                    listener.start()
            listener.ready.wait(_FIRST_CONNECT_SECONDS)
        return listener.ready.is_set()

    def apply(self, payload: str) -> None:
        """Drop what a revocation notification names: `credential:<id>`, `user:<id>`, `all`."""
        kind, _, value = payload.partition(":")
        try:
            if kind == "credential":
                credential = UUID(value)
                self.forget(lambda entry: entry.credential_id == credential)
            elif kind == "user":
                user = UUID(value)
                self.forget(lambda entry: entry.user_id == user)
            else:
                self.clear()
        except ValueError:
            self.clear()


class _Listener(threading.Thread):
    """Receives revocation notifications for one database and applies them to the cache;
    while its connection is down the cache is emptied and nothing is stored."""

    def __init__(self, database_url: str, cache: AuthCache) -> None:
        super().__init__(name="wfb-auth-revocations", daemon=True)
        self.database_url = database_url
        self.cache = cache
        self.ready = threading.Event()

    def run(self) -> None:
        while True:
            try:
                with psycopg.connect(self.database_url, autocommit=True) as conn:
                    conn.execute(f"listen {CHANNEL}")
                    self.ready.set()
                    for notification in conn.notifies():
                        self.cache.apply(notification.payload)
            except Exception:  # the connection went away, whatever the error: reconnect
                pass
            finally:
                self.ready.clear()
                self.cache.clear()  # revocations may have been missed meanwhile
            time.sleep(1.0)


auth_cache = AuthCache()


def _revoke(session: Session, payload: str) -> None:
    """Drop what `payload` names now, tell every process when `session` commits, and drop it
    here again then (a request that read the old row meanwhile cannot keep it)."""
    auth_cache.apply(payload)
    session.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})
    event.listen(session, "after_commit", lambda _: auth_cache.apply(payload), once=True)


def forget_credential(credential_id: UUID, session: Session) -> None:
    """Drop what is cached for one API key or one sign-in session (its id)."""
    _revoke(session, f"credential:{credential_id}")


def forget_user(user_id: UUID, session: Session) -> None:
    """Drop what is cached for every credential of a user."""
    _revoke(session, f"user:{user_id}")


def forget_everyone(session: Session) -> None:
    """Drop the whole cache (a role's permissions changed)."""
    _revoke(session, "all")
