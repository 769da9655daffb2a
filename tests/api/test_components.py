"""Components, agent prompts, rendering and the read-only lookups."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import ApiUser, assert_problem
from tests.support import unique


def new_component(client: TestClient, user: ApiUser, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("comp"), "type": "activity", **fields}
    response = client.post("/api/v1/components", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_lookups_list_their_seed_rows(client: TestClient, alice: ApiUser) -> None:
    expected = {
        "/api/v1/component-types": {"activity", "agent", "signal", "trigger"},
        "/api/v1/component-visibility": {"public", "private", "organization"},
        "/api/v1/workflow-statuses": {"draft", "active", "paused", "archived"},
        "/api/v1/roles": {"admin", "developer", "viewer"},
    }
    for path, names in expected.items():
        response = client.get(path, headers=alice.headers)
        assert response.status_code == 200
        assert names <= {row["name"] for row in response.json()}


def test_component_is_created_private_by_default(client: TestClient, alice: ApiUser) -> None:
    component = new_component(client, alice, config_schema={"type": "object"})
    assert component["visibility"] == "private"
    assert component["type"] == "activity"
    assert component["created_by"] == str(alice.id)
    fetched = client.get(f"/api/v1/components/{component['id']}", headers=alice.headers)
    assert fetched.json() == component


def test_same_name_and_version_twice_conflicts(client: TestClient, alice: ApiUser) -> None:
    component = new_component(client, alice)
    again = client.post(
        "/api/v1/components",
        json={"name": component["name"], "type": "activity"},
        headers=alice.headers,
    )
    assert_problem(again, 409, "conflict")


def test_invalid_json_schema_is_a_422_naming_the_field(client: TestClient, alice: ApiUser) -> None:
    for field in ("config_schema", "input_schema", "output_schema"):
        response = client.post(
            "/api/v1/components",
            json={"name": unique("c"), "type": "activity", field: {"type": "no-such-type"}},
            headers=alice.headers,
        )
        body = assert_problem(response, 422, "validation")
        assert body["errors"][0]["pointer"] == f"/{field}/type"


def test_unknown_component_type_is_a_422(client: TestClient, alice: ApiUser) -> None:
    response = client.post(
        "/api/v1/components", json={"name": unique("c"), "type": "nope"}, headers=alice.headers
    )
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/type"


def test_organization_visibility_requires_an_organization(
    client: TestClient, alice: ApiUser
) -> None:
    response = client.post(
        "/api/v1/components",
        json={"name": unique("c"), "type": "activity", "visibility": "organization"},
        headers=alice.headers,
    )
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/organization_id"


def test_components_filter_by_tags_capabilities_type_and_text(
    client: TestClient, alice: ApiUser
) -> None:
    marker = unique("tag")
    first = new_component(client, alice, tags=[marker, "a"], capabilities=["http"])
    second = new_component(client, alice, tags=[marker, "b"], type="agent")
    new_component(client, alice, tags=["unrelated"], description=f"mentions {marker}")

    def names(**params: Any) -> set[str]:
        response = client.get("/api/v1/components", params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return {c["name"] for c in response.json()["items"]}

    assert names(tags=[marker]) == {first["name"], second["name"]}
    assert names(tags=[marker, "a"], tag_match="all") == {first["name"]}
    assert names(tags=[marker], capabilities=["http"]) == {first["name"]}
    assert names(tags=[marker], type="agent") == {second["name"]}
    assert len(names(q=marker)) == 1


def test_component_lists_paginate_and_sort(client: TestClient, bob: ApiUser) -> None:
    tag = unique("page")
    for index in range(3):
        new_component(client, bob, name=f"{tag}-{index}", tags=[tag])
    page = client.get(
        "/api/v1/components",
        params={"tags": [tag], "limit": 2, "offset": 0, "sort": "-name"},
        headers=bob.headers,
    ).json()
    assert page["total"] == 3
    assert [c["name"] for c in page["items"]] == [f"{tag}-2", f"{tag}-1"]
    bad_sort = client.get("/api/v1/components", params={"sort": "secret"}, headers=bob.headers)
    assert_problem(bad_sort, 422)


def test_owner_updates_and_deletes_a_component(client: TestClient, alice: ApiUser) -> None:
    component = new_component(client, alice)
    updated = client.patch(
        f"/api/v1/components/{component['id']}",
        json={"deprecated": True, "visibility": "public"},
        headers=alice.headers,
    )
    assert updated.status_code == 200
    assert updated.json()["deprecated"] is True
    assert updated.json()["visibility"] == "public"
    assert updated.json()["updated_at"] >= component["updated_at"]
    path = f"/api/v1/components/{component['id']}"
    assert client.delete(path, headers=alice.headers).status_code == 204
    assert_problem(client.get(path, headers=alice.headers), 404)


def test_viewer_cannot_create_components(client: TestClient, viewer: ApiUser) -> None:
    response = client.post(
        "/api/v1/components", json={"name": unique("c"), "type": "activity"}, headers=viewer.headers
    )
    body = assert_problem(response, 403, "forbidden")
    assert body["permission"] == "components:write"
    assert "components:write" in body["detail"]


def new_prompt(client: TestClient, user: ApiUser, **fields: Any) -> dict[str, Any]:
    body = {
        "name": unique("prompt"),
        "prompt_content": "Summarise {{ topic }} in {{ words }} words.",
        "prompt_variables": {
            "type": "object",
            "properties": {"topic": {"type": "string"}, "words": {"type": "integer"}},
            "required": ["topic", "words"],
        },
        **fields,
    }
    response = client.post("/api/v1/agent-prompts", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_prompt_renders_with_valid_variables(client: TestClient, alice: ApiUser) -> None:
    prompt = new_prompt(client, alice)
    response = client.post(
        f"/api/v1/agent-prompts/{prompt['id']}/render",
        json={"variables": {"topic": "tides", "words": 20}},
        headers=alice.headers,
    )
    assert response.status_code == 200
    assert response.json()["content"] == "Summarise tides in 20 words."


def test_prompt_render_lists_every_bad_variable(client: TestClient, alice: ApiUser) -> None:
    prompt = new_prompt(client, alice)
    response = client.post(
        f"/api/v1/agent-prompts/{prompt['id']}/render",
        json={"variables": {"words": "many"}},
        headers=alice.headers,
    )
    body = assert_problem(response, 422, "validation")
    pointers = {error["pointer"] for error in body["errors"]}
    assert pointers == {"/variables", "/variables/words"}


def test_prompt_template_cannot_reach_python_internals(client: TestClient, alice: ApiUser) -> None:
    prompt = new_prompt(
        client,
        alice,
        prompt_content="{{ topic.__class__.__mro__[1].__subclasses__() }}",
        prompt_variables={"type": "object"},
    )
    response = client.post(
        f"/api/v1/agent-prompts/{prompt['id']}/render",
        json={"variables": {"topic": "x"}},
        headers=alice.headers,
    )
    assert_problem(response, 422)


def test_prompt_with_a_template_syntax_error_is_refused(client: TestClient, alice: ApiUser) -> None:
    response = client.post(
        "/api/v1/agent-prompts",
        json={"name": unique("p"), "prompt_content": "{{ unclosed"},
        headers=alice.headers,
    )
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/prompt_content"


def test_prompt_template_cannot_exhaust_memory(client: TestClient, alice: ApiUser) -> None:
    for content in ("{{ 'x' * 1000000000 }}", "{{ 10 ** 100000000 }}"):
        prompt = new_prompt(client, alice, prompt_content=content, prompt_variables={})
        response = client.post(
            f"/api/v1/agent-prompts/{prompt['id']}/render",
            json={"variables": {}},
            headers=alice.headers,
        )
        assert_problem(response, 422)


def test_prompt_with_an_unresolvable_schema_reference_is_refused(
    client: TestClient, alice: ApiUser
) -> None:
    response = client.post(
        "/api/v1/agent-prompts",
        json={
            "name": unique("p"),
            "prompt_content": "Hi",
            "prompt_variables": {"type": "object", "properties": {"a": {"$ref": "#/$defs/no"}}},
        },
        headers=alice.headers,
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["pointer"] == "/prompt_variables/properties/a/$ref"


def test_organization_id_with_another_visibility_is_a_422(
    client: TestClient, alice: ApiUser
) -> None:
    org = client.post(
        "/api/v1/organizations", json={"name": unique("org")}, headers=alice.headers
    ).json()
    component = new_component(client, alice, visibility="organization", organization_id=org["id"])
    path = f"/api/v1/components/{component['id']}"
    refused = client.patch(
        path, json={"visibility": "public", "organization_id": org["id"]}, headers=alice.headers
    )
    assert assert_problem(refused, 422)["errors"][0]["pointer"] == "/organization_id"
    public = client.patch(path, json={"visibility": "public"}, headers=alice.headers).json()
    assert (public["visibility"], public["organization_id"]) == ("public", None)
