"""Webhook services: finding a path's trigger (cached briefly), checking a caller's signature or
API key, and starting the run as a user under row-level security.

The hot path per request is one cached lookup and one transaction that checks the API key,
records the run and enqueues it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text

from workflow_builder.auth.security import sha256_hex
from workflow_builder.compiler.definition import WEBHOOK_PATH_MAX_LENGTH, WEBHOOK_PATH_PATTERN
from workflow_builder.db import get_database, system_session
from workflow_builder.runtime import service as runtime
from workflow_builder.secrets.crypto import SecretDecryptionError, decrypt_value

log = logging.getLogger(__name__)

# How long a looked-up path (or its absence) is reused. Deploy and undeploy clear the cache of
# their own process at once; other API processes see the change within this time.
CACHE_SECONDS = 5.0
_CACHE_MAX_ENTRIES = 10_000
# Signed requests older or newer than this are refused (replay protection).
SIGNATURE_TOLERANCE_SECONDS = 300
SIGNATURE_PREFIX = "sha256="
TERMINAL = frozenset({"completed", "failed", "canceled"})


@dataclass(frozen=True)
class Hook:
    """An active webhook trigger and what starting its workflow needs."""

    id: UUID
    path: str
    workflow_id: UUID
    owner_id: UUID
    auth: str
    secret_name: str | None
    # The plaintext of an hmac trigger's secret; None when the project has no such secret.
    secret: bytes | None
    rate_limit_per_second: int
    queue_name: str
    max_concurrent_workflows: int


class SignatureRefused(Exception):
    """The request's signature headers are missing, stale or wrong (401)."""


_LOOKUP = text(
    """
    select h.id, h.path, h.workflow_id, h.auth, h.secret_name, h.rate_limit_per_second,
           w.created_by as owner_id, w.project_id, q.name as queue_name,
           q.max_concurrent_workflows, s.encrypted_value
    from webhook_triggers h
    join workflows w on w.id = h.workflow_id
    join workflow_statuses st on st.id = w.status_id
    join task_queues q on q.id = w.task_queue_id
    left join project_secrets s on s.project_id = w.project_id and s.name = h.secret_name
      and s.kind = 'secret'
    where h.path = :path and h.is_active and st.name = 'active'
    """
)

_cache: dict[str, tuple[float, Hook | None]] = {}
_cache_lock = threading.Lock()


_PATH = re.compile(WEBHOOK_PATH_PATTERN)


def is_webhook_path(path: str) -> bool:
    """Whether `path` has the shape of a webhook path (others are not looked up)."""
    return len(path) <= WEBHOOK_PATH_MAX_LENGTH and _PATH.fullmatch(path) is not None


def cached_hook(path: str) -> tuple[bool, Hook | None]:
    """Return (found in cache, hook) for `path`: a fresh cache entry, without the database."""
    entry = _cache.get(path)
    if entry is not None and entry[0] > time.monotonic():
        return True, entry[1]
    return False, None


def load_hook(path: str) -> Hook | None:
    """Return the active trigger answering on `path` (as the system), and cache the answer."""
    with system_session() as session:
        row = session.execute(_LOOKUP, {"path": path}).mappings().first()
    hook = _hook(row) if row is not None else None
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX_ENTRIES:
            _cache.clear()
        _cache[path] = (time.monotonic() + CACHE_SECONDS, hook)
    return hook


def _hook(row: Any) -> Hook:
    secret: bytes | None = None
    if row["auth"] == "hmac" and row["encrypted_value"] is not None:
        try:
            value = decrypt_value(
                project_id=row["project_id"],
                name=row["secret_name"],
                ciphertext=bytes(row["encrypted_value"]),
            )
            secret = str(value).encode("utf-8")
        except SecretDecryptionError as exc:
            log.warning("webhook %s: %s", row["path"], exc)
    return Hook(
        id=row["id"],
        path=row["path"],
        workflow_id=row["workflow_id"],
        owner_id=row["owner_id"],
        auth=row["auth"],
        secret_name=row["secret_name"],
        secret=secret,
        rate_limit_per_second=row["rate_limit_per_second"],
        queue_name=row["queue_name"],
        max_concurrent_workflows=row["max_concurrent_workflows"],
    )


def forget_hooks() -> None:
    """Drop every cached lookup (deploy and undeploy call it when they commit)."""
    with _cache_lock:
        _cache.clear()


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """Return the X-WFB-Signature value of a request: sha256=HMAC(secret, "<timestamp>.<body>")."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify_signature(
    hook: Hook, *, signed: str | None, timestamp: str | None, body: bytes, now: float
) -> None:
    """Raise SignatureRefused unless `signed` is the hook's signature of `timestamp` and `body`
    and `timestamp` (unix seconds) is within the tolerance of `now`."""
    if hook.secret is None:
        raise SignatureRefused(
            f"The signature cannot be checked: the project secret {hook.secret_name!r} this "
            "webhook signs with does not exist; ask the workflow's owner to create it"
        )
    if not signed or not timestamp:
        raise SignatureRefused(
            "Sign the request: send X-WFB-Timestamp (unix seconds) and X-WFB-Signature: "
            "sha256=<hex HMAC-SHA256 of '<timestamp>.<body>' keyed by the webhook's secret>"
        )
    if not timestamp.isascii() or not timestamp.isdigit():
        raise SignatureRefused("X-WFB-Timestamp must be whole unix seconds, e.g. 1767225600")
    if abs(now - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
        raise SignatureRefused(
            f"X-WFB-Timestamp is more than {SIGNATURE_TOLERANCE_SECONDS} seconds away from the "
            "server's time; sign again with the current time"
        )
    expected = signature(hook.secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signed.strip().lower().encode()):
        raise SignatureRefused(
            "X-WFB-Signature does not match: expected sha256=<hex HMAC-SHA256 of "
            "'<X-WFB-Timestamp>.<raw body>' keyed by the webhook's secret>"
        )


def replay_key(signed: str) -> str:
    """Return the idempotency key of a signed request: its signature, hashed (a request signed
    with the same timestamp and body is the same request)."""
    return "signature:" + hashlib.sha256(signed.strip().lower().encode()).hexdigest()


@dataclass(frozen=True)
class RunState:
    """Where a run started by a webhook stands."""

    execution_id: UUID
    status: str
    outputs: Any = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the run has ended."""
        return self.status in TERMINAL


# The API key's user, if the key is known and unexpired; last_used_at is advisory and written
# at most once a minute, as for every API-key request (api/deps.py).
_KEY_USER = text(
    """
    with found as (
      select id, user_id from public.api_keys
      where key_hash = :hash and (expires_at is null or expires_at > now())),
    touched as (
      update public.api_keys k set last_used_at = now() from found
      where k.id = found.id
        and (k.last_used_at is null or k.last_used_at < now() - interval '1 minute'))
    select user_id from found
    """
)
_BECOME_USER = text(
    "select set_config('role', 'authenticated', true), "
    "set_config('request.jwt.claim.sub', :sub, true)"
)


class UnknownApiKey(Exception):
    """The API key is unknown, revoked or expired (401)."""


def start_run(
    hook: Hook,
    *,
    api_key: str | None,
    inputs: dict[str, Any],
    idempotency_key: str | None,
) -> tuple[UUID, bool]:
    """Record and enqueue a run of the hook's workflow in one transaction; return its id and
    whether it is new (False: a repeated idempotency key).

    The run starts as the API key's user (api_key hooks) or the workflow's owner (signed hooks;
    `api_key` None). The key is checked as the system at the start of the transaction, which
    then runs as that user under row-level security, so the database decides whether they may
    see and run the workflow. Raises UnknownApiKey, and the runtime's NotFound,
    ExecutionRefused and InvalidPayload.
    """
    runtime.ensure_queues(hook.queue_name, hook.max_concurrent_workflows)
    database = get_database()
    with (
        database.unit_of_work("authenticated", hook.owner_id)
        if api_key is None
        else database.unit_of_work("service_role")
    ) as session:
        user_id = hook.owner_id
        if api_key is not None:
            found = session.execute(_KEY_USER, {"hash": sha256_hex(api_key)}).scalar()
            if found is None:
                raise UnknownApiKey("The API key is unknown, revoked or expired")
            user_id = found
            session.execute(_BECOME_USER, {"sub": str(user_id)})
        started = runtime.insert_execution(
            session,
            user_id=user_id,
            workflow_id=hook.workflow_id,
            inputs=inputs,
            idempotency_key=idempotency_key,
            trigger_kind="webhook",
            enqueue=True,
        )
    return started.execution_id, started.created


def run_state(execution_id: UUID) -> RunState:
    """Return a run's status, outputs and error (read as the system: the caller started it)."""
    with system_session() as session:
        row = session.execute(
            text("select status, outputs, error from workflow_executions where id = :e"),
            {"e": execution_id},
        ).one()
    return RunState(execution_id, row.status, row.outputs, row.error)
