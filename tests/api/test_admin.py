"""Administration: users and roles are managed by admins only, and roles are enforced."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import ApiUser, assert_problem
from tests.support import unique


def test_developers_cannot_list_users(client: TestClient, alice: ApiUser) -> None:
    body = assert_problem(client.get("/api/v1/users", headers=alice.headers), 403, "forbidden")
    assert body["permission"] == "users:manage"


def test_admin_lists_users_and_changes_a_role(
    client: TestClient, admin: ApiUser, alice: ApiUser
) -> None:
    listed = client.get("/api/v1/users", params={"q": alice.email}, headers=admin.headers)
    assert [u["id"] for u in listed.json()["items"]] == [str(alice.id)]
    demoted = client.patch(
        f"/api/v1/users/{alice.id}", json={"role": "viewer"}, headers=admin.headers
    )
    assert demoted.json()["role"] == "viewer"
    refused = client.post(
        "/api/v1/components", json={"name": unique("c"), "type": "activity"}, headers=alice.headers
    )
    assert_problem(refused, 403)


def test_unknown_role_is_a_422(client: TestClient, admin: ApiUser, alice: ApiUser) -> None:
    response = client.patch(
        f"/api/v1/users/{alice.id}", json={"role": "emperor"}, headers=admin.headers
    )
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/role"


def test_developer_cannot_change_their_own_role(client: TestClient, alice: ApiUser) -> None:
    response = client.patch(
        f"/api/v1/users/{alice.id}", json={"role": "admin"}, headers=alice.headers
    )
    assert_problem(response, 403)


def test_admin_manages_roles(client: TestClient, admin: ApiUser, alice: ApiUser) -> None:
    name = unique("auditor").replace("-", "_")
    created = client.post(
        "/api/v1/roles",
        json={"name": name, "permissions": ["workflows:read"]},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    path = f"/api/v1/roles/{created.json()['id']}"
    updated = client.patch(
        path, json={"permissions": ["workflows:read", "components:read"]}, headers=admin.headers
    )
    assert updated.json()["permissions"] == ["workflows:read", "components:read"]
    assert_problem(client.post("/api/v1/roles", json={"name": "x"}, headers=alice.headers), 403)
    client.patch(f"/api/v1/users/{alice.id}", json={"role": name}, headers=admin.headers)
    assert_problem(client.delete(path, headers=admin.headers), 409)
    client.patch(f"/api/v1/users/{alice.id}", json={"role": "developer"}, headers=admin.headers)
    assert client.delete(path, headers=admin.headers).status_code == 204


def test_builtin_roles_cannot_be_deleted(client: TestClient, admin: ApiUser) -> None:
    roles = client.get("/api/v1/roles", headers=admin.headers).json()
    viewer = next(r for r in roles if r["name"] == "viewer")
    assert_problem(client.delete(f"/api/v1/roles/{viewer['id']}", headers=admin.headers), 409)
