"""Sign-up, sign-in, tokens, sign-out, the current user, API keys and rate limiting."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.api.conftest import PASSWORD, ApiUser, assert_problem, sign_up
from tests.support import unique
from workflow_builder.auth.service import MAX_FAILED_SIGN_INS
from workflow_builder.db import system_session


def test_signup_returns_the_user_and_working_tokens(client: TestClient) -> None:
    user = sign_up(client, display_name="Ada")
    me = client.get("/api/v1/me", headers=user.headers)
    assert me.status_code == 200
    assert me.json()["display_name"] == "Ada"
    assert me.json()["email"] == user.email
    assert "workflows:read" in me.json()["permissions"]


def test_signup_twice_with_one_email_conflicts(client: TestClient) -> None:
    user = sign_up(client)
    again = client.post(
        "/api/v1/auth/signup", json={"email": user.email.upper(), "password": PASSWORD}
    )
    assert_problem(again, 409, "conflict")


def test_signup_rejects_a_short_password_naming_the_field(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/signup", json={"email": f"{unique('u')}@example.test", "password": "short"}
    )
    body = assert_problem(response, 422, "validation")
    assert body["errors"][0]["pointer"] == "/password"


def test_passwords_are_stored_as_argon2_hashes(client: TestClient) -> None:
    user = sign_up(client)
    with system_session() as session:
        stored = session.execute(
            text("select encrypted_password from auth.users where id = :id"), {"id": user.id}
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_signin_records_the_login_time(client: TestClient, alice: ApiUser) -> None:
    response = client.post("/api/v1/auth/signin", json={"email": alice.email, "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["last_login_at"] is not None
    with system_session() as session:
        signed_in = session.execute(
            text("select last_sign_in_at from auth.users where id = :id"), {"id": alice.id}
        ).scalar_one()
    assert signed_in is not None


def test_signin_failures_do_not_reveal_whether_the_email_exists(
    client: TestClient, alice: ApiUser
) -> None:
    wrong_password = client.post(
        "/api/v1/auth/signin", json={"email": alice.email, "password": "not the password"}
    )
    unknown_email = client.post(
        "/api/v1/auth/signin",
        json={"email": f"{unique('nobody')}@example.test", "password": "not the password"},
    )
    first = assert_problem(wrong_password, 401)
    second = assert_problem(unknown_email, 401)
    assert first["detail"] == second["detail"]
    assert first["title"] == second["title"]


def test_repeated_failed_signins_are_rate_limited(client: TestClient, bob: ApiUser) -> None:
    for _ in range(MAX_FAILED_SIGN_INS):
        failed = client.post("/api/v1/auth/signin", json={"email": bob.email, "password": "x"})
        assert failed.status_code == 401
    limited = client.post("/api/v1/auth/signin", json={"email": bob.email, "password": PASSWORD})
    assert_problem(limited, 429, "rate-limited")
    assert int(limited.headers["Retry-After"]) > 0


def test_requests_without_credentials_are_unauthorized(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/me"), 401, "unauthorized")
    bad = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert_problem(bad, 401)


def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(
    client: TestClient, alice: ApiUser
) -> None:
    first = client.post("/api/v1/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert first.status_code == 200
    new_tokens = first.json()
    replayed = client.post("/api/v1/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert_problem(replayed, 401)
    after_replay = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": new_tokens["refresh_token"]}
    )
    assert_problem(after_replay, 401)


def test_signout_revokes_the_session(client: TestClient, alice: ApiUser) -> None:
    response = client.post("/api/v1/auth/signout", json={}, headers=alice.headers)
    assert response.status_code == 204
    assert_problem(client.get("/api/v1/me", headers=alice.headers), 401)
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert_problem(refreshed, 401)


def test_signout_with_only_the_refresh_token_ends_the_session(
    client: TestClient, alice: ApiUser
) -> None:
    response = client.post("/api/v1/auth/signout", json={"refresh_token": alice.refresh_token})
    assert response.status_code == 204
    assert_problem(client.get("/api/v1/me", headers=alice.headers), 401)


def test_signout_needs_a_token(client: TestClient) -> None:
    assert_problem(client.post("/api/v1/auth/signout", json={}), 422)
    bad = client.post("/api/v1/auth/signout", json={"refresh_token": "nope"})
    assert_problem(bad, 401)


def test_refreshed_access_token_works(client: TestClient, alice: ApiUser) -> None:
    tokens = client.post("/api/v1/auth/refresh", json={"refresh_token": alice.refresh_token})
    access = tokens.json()["access_token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {access}"})
    assert me.json()["id"] == str(alice.id)


def test_refresh_token_is_not_an_access_token(client: TestClient, alice: ApiUser) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {alice.refresh_token}"})
    assert_problem(response, 401)


def test_me_can_change_email_and_sign_in_with_it(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    new_email = f"{unique('renamed')}@example.test"
    changed = client.patch("/api/v1/me", json={"email": new_email}, headers=alice.headers)
    assert changed.json()["email"] == new_email
    signin = client.post("/api/v1/auth/signin", json={"email": new_email, "password": PASSWORD})
    assert signin.status_code == 200
    taken = client.patch("/api/v1/me", json={"email": bob.email}, headers=alice.headers)
    assert_problem(taken, 409)


def test_me_can_change_display_name(client: TestClient, alice: ApiUser) -> None:
    response = client.patch("/api/v1/me", json={"display_name": "Alice"}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["display_name"] == "Alice"


def test_changing_the_password_needs_the_current_one(client: TestClient, alice: ApiUser) -> None:
    refused = client.patch(
        "/api/v1/me", json={"password": "a brand new password"}, headers=alice.headers
    )
    assert_problem(refused, 422)
    changed = client.patch(
        "/api/v1/me",
        json={"password": "a brand new password", "current_password": PASSWORD},
        headers=alice.headers,
    )
    assert changed.status_code == 200
    signin = client.post(
        "/api/v1/auth/signin", json={"email": alice.email, "password": "a brand new password"}
    )
    assert signin.status_code == 200


def test_api_key_is_shown_once_stored_hashed_and_authenticates(
    client: TestClient, alice: ApiUser
) -> None:
    created = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=alice.headers)
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith(created.json()["prefix"])
    listed = client.get("/api/v1/api-keys", headers=alice.headers).json()
    assert listed["total"] == 1
    assert "key" not in listed["items"][0]
    with system_session() as session:
        stored = session.execute(
            text("select key_hash from public.api_keys where user_id = :id"), {"id": alice.id}
        ).scalar_one()
    assert key not in stored
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        me = client.get("/api/v1/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["id"] == str(alice.id)
    listed = client.get("/api/v1/api-keys", headers=alice.headers).json()
    assert listed["items"][0]["last_used_at"] is not None


def test_deleted_api_key_stops_working(client: TestClient, alice: ApiUser) -> None:
    created = client.post("/api/v1/api-keys", json={"name": "tmp"}, headers=alice.headers).json()
    deleted = client.delete(f"/api/v1/api-keys/{created['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert_problem(client.get("/api/v1/me", headers={"X-API-Key": created["key"]}), 401)


def test_expired_api_key_is_refused(client: TestClient, alice: ApiUser) -> None:
    created = client.post("/api/v1/api-keys", json={"name": "old"}, headers=alice.headers).json()
    with system_session() as session:
        session.execute(
            text("update public.api_keys set expires_at = now() - interval '1 s' where id = :id"),
            {"id": created["id"]},
        )
    assert_problem(client.get("/api/v1/me", headers={"X-API-Key": created["key"]}), 401)


def test_users_cannot_see_or_delete_each_others_api_keys(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    created = client.post("/api/v1/api-keys", json={"name": "a"}, headers=alice.headers).json()
    assert client.get("/api/v1/api-keys", headers=bob.headers).json()["total"] == 0
    assert_problem(client.delete(f"/api/v1/api-keys/{created['id']}", headers=bob.headers), 404)
