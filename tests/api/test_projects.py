"""Projects (with their generated task queues) and task queues."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import ApiUser, assert_problem
from tests.support import unique


def test_project_gets_a_task_queue_named_after_it(client: TestClient, alice: ApiUser) -> None:
    response = client.post("/api/v1/projects", json={"name": unique("proj")}, headers=alice.headers)
    assert response.status_code == 201, response.text
    project = response.json()
    assert project["task_queue_name"] == f"{alice.id}-{project['id']}"
    assert project["total_workflow_executions"] == 0
    assert project["avg_execution_duration_ms"] == 0
    queues = client.get(
        "/api/v1/task-queues", params={"q": project["task_queue_name"]}, headers=alice.headers
    ).json()
    assert [q["name"] for q in queues["items"]] == [project["task_queue_name"]]


def test_project_names_are_unique_per_owner(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    name = unique("proj")
    assert client.post("/api/v1/projects", json={"name": name}, headers=alice.headers).is_success
    again = client.post("/api/v1/projects", json={"name": name}, headers=alice.headers)
    assert_problem(again, 409)
    assert client.post("/api/v1/projects", json={"name": name}, headers=bob.headers).is_success


def test_projects_are_private_to_their_owner(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    project = client.post(
        "/api/v1/projects", json={"name": unique("p")}, headers=alice.headers
    ).json()
    path = f"/api/v1/projects/{project['id']}"
    assert_problem(client.get(path, headers=bob.headers), 404)
    assert_problem(client.patch(path, json={"name": "x"}, headers=bob.headers), 404)
    assert_problem(client.delete(path, headers=bob.headers), 404)
    assert client.get("/api/v1/projects", headers=bob.headers).json()["total"] == 0
    updated = client.patch(path, json={"is_active": False}, headers=alice.headers)
    assert updated.json()["is_active"] is False
    assert client.delete(path, headers=alice.headers).status_code == 204


def test_only_admins_create_or_change_system_task_queues(
    client: TestClient, alice: ApiUser, admin: ApiUser
) -> None:
    body = {"name": unique("sys"), "is_system_queue": True}
    refused = assert_problem(
        client.post("/api/v1/task-queues", json=body, headers=alice.headers), 403
    )
    assert refused["permission"] == "task_queues:system"
    created = client.post("/api/v1/task-queues", json=body, headers=admin.headers)
    assert created.status_code == 201
    path = f"/api/v1/task-queues/{created.json()['id']}"
    assert_problem(
        client.patch(path, json={"max_concurrent_workflows": 5}, headers=alice.headers), 403
    )
    changed = client.patch(path, json={"max_concurrent_workflows": 5}, headers=admin.headers)
    assert changed.json()["max_concurrent_workflows"] == 5


def test_developer_manages_own_task_queue_and_cannot_see_anothers(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    created = client.post(
        "/api/v1/task-queues", json={"name": unique("q")}, headers=alice.headers
    ).json()
    path = f"/api/v1/task-queues/{created['id']}"
    assert_problem(client.patch(path, json={"description": "x"}, headers=bob.headers), 404)
    assert_problem(client.delete(path, headers=bob.headers), 404)
    assert client.delete(path, headers=alice.headers).status_code == 204


def test_task_queue_limits_must_be_positive(client: TestClient, alice: ApiUser) -> None:
    response = client.post(
        "/api/v1/task-queues",
        json={"name": unique("q"), "max_concurrent_workflows": 0},
        headers=alice.headers,
    )
    assert_problem(response, 422)
