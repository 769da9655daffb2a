"""Verified callers are cached for a few seconds (auth/cache.py); revoking still takes effect:
at once through the API (in every process: a PostgreSQL notification tells the others), and
within the cache's lifetime when made behind the API's back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.api.conftest import ApiUser, assert_problem, sign_up
from workflow_builder.auth.cache import CHANNEL, AuthCache, auth_cache
from workflow_builder.db import Database, system_session


@pytest.fixture
def short_cache() -> Iterator[AuthCache]:
    """The process's cache with a one-second lifetime."""
    seconds = auth_cache.seconds
    auth_cache.seconds = 1.0
    auth_cache.clear()
    try:
        yield auth_cache
    finally:
        auth_cache.seconds = seconds
        auth_cache.clear()


def _key(client: TestClient, user: ApiUser, **fields: object) -> dict[str, str]:
    created = client.post(
        "/api/v1/api-keys", json={"name": f"k{time.monotonic_ns()}", **fields}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    body: dict[str, str] = created.json()
    return body


def test_a_used_api_key_is_answered_from_the_cache(client: TestClient, alice: ApiUser) -> None:
    key = _key(client, alice)
    headers = {"X-API-Key": key["key"]}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    # Gone from the table behind the API's back, the key still works while its entry lives:
    # the request did not look it up again.
    with system_session() as session:
        session.execute(text("delete from public.api_keys where id = :id"), {"id": key["id"]})
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_revoking_a_used_api_key_takes_effect_at_once(client: TestClient, alice: ApiUser) -> None:
    key = _key(client, alice)
    headers = {"X-API-Key": key["key"]}
    assert client.get("/api/v1/executions", headers=headers).status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 200

    deleted = client.delete(f"/api/v1/api-keys/{key['id']}", headers=alice.headers)

    assert deleted.status_code == 204
    assert_problem(client.get("/api/v1/me", headers=headers), 401)
    assert_problem(client.get("/api/v1/executions", headers=headers), 401)


def test_a_revocation_notified_by_another_process_takes_effect_at_once(
    client: TestClient, alice: ApiUser, db: Database
) -> None:
    key = _key(client, alice)
    headers = {"X-API-Key": key["key"]}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    # What another API process does when it revokes the key: delete it and notify, in one
    # transaction, on a connection of its own.
    with psycopg.connect(db.url) as other:
        other.execute("set role service_role")
        other.execute("delete from public.api_keys where id = %s", (key["id"],))
        other.execute("select pg_notify(%s, %s)", (CHANNEL, f"credential:{key['id']}"))

    deadline = time.monotonic() + 5
    while client.get("/api/v1/me", headers=headers).status_code == 200:
        assert time.monotonic() < deadline, "the notification never dropped the entry"
        time.sleep(0.05)
    assert auth_cache.seconds >= 5  # well before the entry would have expired on its own


def test_a_key_revoked_behind_the_apis_back_stops_working_when_its_entry_expires(
    client: TestClient, alice: ApiUser, short_cache: AuthCache
) -> None:
    key = _key(client, alice)
    headers = {"X-API-Key": key["key"]}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    # An operator deletes it in psql: no process is told.
    with system_session() as session:
        session.execute(text("delete from public.api_keys where id = :id"), {"id": key["id"]})

    time.sleep(short_cache.seconds + 0.1)

    assert_problem(client.get("/api/v1/me", headers=headers), 401)


def test_an_entry_never_outlives_its_api_key(client: TestClient, alice: ApiUser) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    key = _key(client, alice, expires_at=expires.isoformat())
    headers = {"X-API-Key": key["key"]}
    assert client.get("/api/v1/me", headers=headers).status_code == 200

    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.1)

    assert auth_cache.seconds > 2  # the default lifetime would outlast the key
    assert_problem(client.get("/api/v1/me", headers=headers), 401)


def test_signing_out_a_used_token_takes_effect_at_once(client: TestClient, alice: ApiUser) -> None:
    assert client.get("/api/v1/executions", headers=alice.headers).status_code == 200

    assert client.post("/api/v1/auth/signout", json={}, headers=alice.headers).status_code == 204

    assert_problem(client.get("/api/v1/executions", headers=alice.headers), 401)
    assert_problem(client.get("/api/v1/me", headers=alice.headers), 401)


def test_a_password_change_ends_the_other_cached_sessions_at_once(
    client: TestClient, alice: ApiUser
) -> None:
    other = client.post(
        "/api/v1/auth/signin",
        json={"email": alice.email, "password": "correct horse battery staple"},
    ).json()
    other_headers = {"Authorization": f"Bearer {other['access_token']}"}
    assert client.get("/api/v1/me", headers=other_headers).status_code == 200

    changed = client.patch(
        "/api/v1/me",
        json={
            "password": "a different long passphrase 42",
            "current_password": "correct horse battery staple",
        },
        headers=alice.headers,
    )

    assert changed.status_code == 200, changed.text
    assert_problem(client.get("/api/v1/me", headers=other_headers), 401)
    assert client.get("/api/v1/me", headers=alice.headers).status_code == 200


def test_a_role_change_applies_to_the_next_request(client: TestClient, admin: ApiUser) -> None:
    viewer = sign_up(client, role="viewer")
    body = {"name": "p", "description": None}
    assert_problem(client.post("/api/v1/projects", json=body, headers=viewer.headers), 403)

    changed = client.patch(
        f"/api/v1/users/{viewer.id}", json={"role": "developer"}, headers=admin.headers
    )

    assert changed.status_code == 200, changed.text
    created = client.post("/api/v1/projects", json=body | {"name": "p2"}, headers=viewer.headers)
    assert created.status_code == 201, created.text


def test_a_lookup_that_raced_a_revocation_is_not_stored() -> None:
    cache = AuthCache(seconds=60)
    user = UUID(int=1)
    generation = cache.generation  # read before the lookup
    cache.forget(lambda entry: True)  # a revocation commits meanwhile

    cache.put("k", "stale", user_id=user, credential_id=None, generation=generation)

    assert cache.get("k") is None
    cache.put("k", "fresh", user_id=user, credential_id=None, generation=cache.generation)
    assert cache.get("k") == "fresh"


def test_the_cache_is_bounded() -> None:
    cache = AuthCache(seconds=60, size=3)
    for index in range(5):
        cache.put(index, index, user_id=UUID(int=index), credential_id=None, generation=0)
    assert len(cache) == 3
    assert cache.get(0) is None and cache.get(4) == 4
