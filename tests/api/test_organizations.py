"""Organizations, their members and member roles."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import ApiUser, assert_problem
from tests.support import unique


def new_organization(client: TestClient, owner: ApiUser) -> dict[str, Any]:
    response = client.post(
        "/api/v1/organizations", json={"name": f"Acme {unique('org')}"}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_creator_owns_the_organization_and_slug_is_derived(
    client: TestClient, alice: ApiUser
) -> None:
    org = new_organization(client, alice)
    assert org["slug"].startswith("acme-org-")
    assert org["my_role"] == "owner"
    members = client.get(f"/api/v1/organizations/{org['id']}/members", headers=alice.headers)
    assert [(m["user_id"], m["role"]) for m in members.json()["items"]] == [
        (str(alice.id), "owner")
    ]


def test_duplicate_slug_conflicts(client: TestClient, alice: ApiUser) -> None:
    slug = unique("slug")
    assert client.post(
        "/api/v1/organizations", json={"name": "A", "slug": slug}, headers=alice.headers
    ).is_success
    again = client.post(
        "/api/v1/organizations", json={"name": "B", "slug": slug}, headers=alice.headers
    )
    assert_problem(again, 409)


def test_members_are_added_by_email_or_id_and_see_the_organization(
    client: TestClient, alice: ApiUser, bob: ApiUser, viewer: ApiUser
) -> None:
    org = new_organization(client, alice)
    path = f"/api/v1/organizations/{org['id']}"
    assert_problem(client.get(path, headers=bob.headers), 404)
    by_email = client.post(f"{path}/members", json={"email": bob.email}, headers=alice.headers)
    assert by_email.status_code == 201, by_email.text
    by_id = client.post(f"{path}/members", json={"user_id": str(viewer.id)}, headers=alice.headers)
    assert by_id.status_code == 201
    assert client.get(path, headers=bob.headers).json()["my_role"] == "member"
    assert_problem(
        client.post(f"{path}/members", json={"email": bob.email}, headers=alice.headers), 409
    )


def test_plain_members_cannot_manage_the_organization(
    client: TestClient, alice: ApiUser, bob: ApiUser, viewer: ApiUser
) -> None:
    org = new_organization(client, alice)
    path = f"/api/v1/organizations/{org['id']}"
    client.post(f"{path}/members", json={"user_id": str(bob.id)}, headers=alice.headers)
    assert_problem(client.patch(path, json={"name": "Mine"}, headers=bob.headers), 403)
    assert_problem(client.delete(path, headers=bob.headers), 403)
    assert_problem(
        client.post(f"{path}/members", json={"user_id": str(viewer.id)}, headers=bob.headers),
        403,
    )
    assert_problem(
        client.patch(f"{path}/members/{alice.id}", json={"role": "member"}, headers=bob.headers),
        403,
    )


def test_owner_changes_roles_but_the_last_owner_stays(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    org = new_organization(client, alice)
    path = f"/api/v1/organizations/{org['id']}"
    client.post(f"{path}/members", json={"user_id": str(bob.id)}, headers=alice.headers)
    promoted = client.patch(
        f"{path}/members/{bob.id}", json={"role": "admin"}, headers=alice.headers
    )
    assert promoted.json()["role"] == "admin"
    demote_self = client.patch(
        f"{path}/members/{alice.id}", json={"role": "member"}, headers=alice.headers
    )
    assert "owner" in assert_problem(demote_self, 422)["detail"]
    renamed = client.patch(path, json={"description": "by an admin"}, headers=bob.headers)
    assert renamed.json()["description"] == "by an admin"


def test_a_member_can_leave_and_the_owner_can_delete(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    org = new_organization(client, alice)
    path = f"/api/v1/organizations/{org['id']}"
    client.post(f"{path}/members", json={"user_id": str(bob.id)}, headers=alice.headers)
    assert client.delete(f"{path}/members/{bob.id}", headers=bob.headers).status_code == 204
    assert_problem(client.get(path, headers=bob.headers), 404)
    assert client.delete(path, headers=alice.headers).status_code == 204


def test_deleting_an_organization_makes_its_shared_rows_private(
    client: TestClient, alice: ApiUser
) -> None:
    org = new_organization(client, alice)
    component = client.post(
        "/api/v1/components",
        json={
            "name": unique("c"),
            "type": "activity",
            "visibility": "organization",
            "organization_id": org["id"],
        },
        headers=alice.headers,
    ).json()
    client.delete(f"/api/v1/organizations/{org['id']}", headers=alice.headers)
    after = client.get(f"/api/v1/components/{component['id']}", headers=alice.headers).json()
    assert after["visibility"] == "private"
    assert after["organization_id"] is None
