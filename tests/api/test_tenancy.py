"""Tenancy through the API: A's private rows are invisible to B, A's organization rows are
readable (not writable) by C in A's organization, and public rows are readable by everyone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ApiUser, assert_problem, sign_up
from tests.support import unique


@dataclass
class Tenants:
    a: ApiUser
    b: ApiUser
    c: ApiUser
    organization_id: str


@pytest.fixture
def tenants(client: TestClient) -> Tenants:
    a, b, c = (sign_up(client, role="developer") for _ in range(3))
    org = client.post(
        "/api/v1/organizations", json={"name": unique("org")}, headers=a.headers
    ).json()
    added = client.post(
        f"/api/v1/organizations/{org['id']}/members",
        json={"user_id": str(c.id)},
        headers=a.headers,
    )
    assert added.status_code == 201
    return Tenants(a, b, c, org["id"])


def _component(name: str) -> dict[str, Any]:
    return {"name": name, "type": "activity"}


def _prompt(name: str) -> dict[str, Any]:
    return {"name": name, "prompt_content": "Hello {{ who }}"}


def _workflow(name: str) -> dict[str, Any]:
    return {"kebab_name": name}


RESOURCES: dict[str, tuple[Callable[[str], dict[str, Any]], dict[str, Any]]] = {
    "components": (_component, {"description": "changed"}),
    "agent-prompts": (_prompt, {"description": "changed"}),
    "workflows": (_workflow, {"description": "changed"}),
}


def _create(client: TestClient, user: ApiUser, kind: str, **sharing: Any) -> str:
    body, _ = RESOURCES[kind]
    response = client.post(
        f"/api/v1/{kind}", json={**body(unique("t")), **sharing}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    identifier: str = response.json()["id"]
    return identifier


@pytest.mark.parametrize("kind", sorted(RESOURCES))
def test_private_rows_are_invisible_to_other_users(
    client: TestClient, tenants: Tenants, kind: str
) -> None:
    row_id = _create(client, tenants.a, kind)
    path = f"/api/v1/{kind}/{row_id}"
    change = RESOURCES[kind][1]
    for outsider in (tenants.b, tenants.c):
        assert_problem(client.get(path, headers=outsider.headers), 404)
        assert_problem(client.patch(path, json=change, headers=outsider.headers), 404)
        assert_problem(client.delete(path, headers=outsider.headers), 404)
        listed = client.get(f"/api/v1/{kind}", params={"limit": 200}, headers=outsider.headers)
        assert row_id not in {item["id"] for item in listed.json()["items"]}
    assert client.get(path, headers=tenants.a.headers).is_success


@pytest.mark.parametrize("kind", sorted(RESOURCES))
def test_organization_rows_are_readable_but_not_writable_by_members(
    client: TestClient, tenants: Tenants, kind: str
) -> None:
    row_id = _create(
        client, tenants.a, kind, visibility="organization", organization_id=tenants.organization_id
    )
    path = f"/api/v1/{kind}/{row_id}"
    assert client.get(path, headers=tenants.c.headers).is_success
    assert_problem(client.patch(path, json=RESOURCES[kind][1], headers=tenants.c.headers), 403)
    assert_problem(client.delete(path, headers=tenants.c.headers), 403)
    assert_problem(client.get(path, headers=tenants.b.headers), 404)
    assert client.get(path, headers=tenants.a.headers).json().get("description") is None


@pytest.mark.parametrize("kind", sorted(RESOURCES))
def test_public_rows_are_readable_by_everyone_and_writable_by_the_owner_only(
    client: TestClient, tenants: Tenants, kind: str
) -> None:
    row_id = _create(client, tenants.a, kind, visibility="public")
    path = f"/api/v1/{kind}/{row_id}"
    for reader in (tenants.b, tenants.c):
        assert client.get(path, headers=reader.headers).is_success
    assert_problem(client.patch(path, json=RESOURCES[kind][1], headers=tenants.b.headers), 403)
    assert_problem(client.delete(path, headers=tenants.b.headers), 403)
    assert client.patch(path, json=RESOURCES[kind][1], headers=tenants.a.headers).is_success


def test_sharing_with_an_organization_one_is_not_in_is_refused(
    client: TestClient, tenants: Tenants
) -> None:
    response = client.post(
        "/api/v1/components",
        json={
            **_component(unique("c")),
            "visibility": "organization",
            "organization_id": tenants.organization_id,
        },
        headers=tenants.b.headers,
    )
    assert_problem(response, 403)


def test_declarations_on_anothers_workflow_are_hidden_or_read_only(
    client: TestClient, tenants: Tenants
) -> None:
    private = _create(client, tenants.a, "workflows")
    shared = _create(
        client,
        tenants.a,
        "workflows",
        visibility="organization",
        organization_id=tenants.organization_id,
    )
    signal = {"signal_name": "go"}
    assert_problem(
        client.post(f"/api/v1/workflows/{private}/signals", json=signal, headers=tenants.b.headers),
        404,
    )
    assert_problem(
        client.get(f"/api/v1/workflows/{private}/signals", headers=tenants.b.headers), 404
    )
    created = client.post(
        f"/api/v1/workflows/{shared}/signals", json=signal, headers=tenants.a.headers
    )
    assert created.status_code == 201
    readable = client.get(f"/api/v1/workflows/{shared}/signals", headers=tenants.c.headers)
    assert [s["signal_name"] for s in readable.json()["items"]] == ["go"]
    assert_problem(
        client.post(
            f"/api/v1/workflows/{shared}/signals",
            json={"signal_name": "other"},
            headers=tenants.c.headers,
        ),
        403,
    )
    assert_problem(
        client.delete(
            f"/api/v1/workflows/{shared}/signals/{created.json()['id']}",
            headers=tenants.c.headers,
        ),
        403,
    )
