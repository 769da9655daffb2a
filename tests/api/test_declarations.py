"""Signals, queries, work queues, schedules and child workflows declared on a workflow."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ApiUser, assert_problem
from tests.support import unique


@pytest.fixture
def workflow(client: TestClient, alice: ApiUser) -> str:
    response = client.post(
        "/api/v1/workflows", json={"kebab_name": unique("wf")}, headers=alice.headers
    )
    assert response.status_code == 201
    identifier: str = response.json()["id"]
    return identifier


def post(client: TestClient, user: ApiUser, path: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/workflows/{path}", json=body, headers=user.headers)


def test_signal_crud_and_unique_names(client: TestClient, alice: ApiUser, workflow: str) -> None:
    created = post(client, alice, f"{workflow}/signals", {"signal_name": "approve"})
    assert created.status_code == 201
    assert created.json()["auto_generated"] is False
    assert_problem(post(client, alice, f"{workflow}/signals", {"signal_name": "approve"}), 409)
    path = f"/api/v1/workflows/{workflow}/signals/{created.json()['id']}"
    changed = client.patch(path, json={"description": "Approves"}, headers=alice.headers)
    assert changed.json()["description"] == "Approves"
    assert client.delete(path, headers=alice.headers).status_code == 204
    assert_problem(client.get(path, headers=alice.headers), 404)


def test_signal_parameters_must_be_a_json_schema(
    client: TestClient, alice: ApiUser, workflow: str
) -> None:
    response = post(
        client, alice, f"{workflow}/signals", {"signal_name": "s", "parameters": {"type": 5}}
    )
    assert assert_problem(response, 422)["errors"][0]["pointer"] == "/parameters/type"


def test_query_crud(client: TestClient, alice: ApiUser, workflow: str) -> None:
    created = post(
        client, alice, f"{workflow}/queries", {"query_name": "status", "return_type": {}}
    )
    assert created.status_code == 201
    listed = client.get(f"/api/v1/workflows/{workflow}/queries", headers=alice.headers).json()[
        "items"
    ]
    assert [q["query_name"] for q in listed] == ["status"]
    assert_problem(post(client, alice, f"{workflow}/queries", {"query_name": "bad name"}), 422)


def test_work_queue_creates_its_signal_and_query(
    client: TestClient, alice: ApiUser, workflow: str
) -> None:
    queue = post(
        client,
        alice,
        f"{workflow}/work-queues",
        {"queue_name": "orders", "priority": "lifo", "work_item_schema": {"type": "object"}},
    )
    assert queue.status_code == 201, queue.text
    assert queue.json()["signal_name"] == "orders_add"
    assert queue.json()["query_name"] == "orders_items"
    signals = client.get(f"/api/v1/workflows/{workflow}/signals", headers=alice.headers).json()[
        "items"
    ]
    queries = client.get(f"/api/v1/workflows/{workflow}/queries", headers=alice.headers).json()[
        "items"
    ]
    assert [(s["signal_name"], s["auto_generated"]) for s in signals] == [("orders_add", True)]
    assert signals[0]["parameters"] == {"type": "object"}
    assert [(q["query_name"], q["auto_generated"]) for q in queries] == [("orders_items", True)]
    assert queries[0]["return_type"] == {"type": "array", "items": {"type": "object"}}
    generated = f"/api/v1/workflows/{workflow}/signals/{signals[0]['id']}"
    assert_problem(client.delete(generated, headers=alice.headers), 409)


def test_work_queue_rename_renames_its_handlers_and_delete_removes_them(
    client: TestClient, alice: ApiUser, workflow: str
) -> None:
    queue = post(client, alice, f"{workflow}/work-queues", {"queue_name": "jobs"}).json()
    path = f"/api/v1/workflows/{workflow}/work-queues/{queue['id']}"
    renamed = client.patch(path, json={"queue_name": "tasks"}, headers=alice.headers)
    assert renamed.json()["signal_name"] == "tasks_add"
    signals = client.get(f"/api/v1/workflows/{workflow}/signals", headers=alice.headers).json()[
        "items"
    ]
    assert [s["signal_name"] for s in signals] == ["tasks_add"]
    assert client.delete(path, headers=alice.headers).status_code == 204
    assert (
        client.get(f"/api/v1/workflows/{workflow}/signals", headers=alice.headers).json()["items"]
        == []
    )


def test_work_queue_names_clash_with_existing_handlers_as_409_and_roll_back(
    client: TestClient, alice: ApiUser, workflow: str
) -> None:
    post(client, alice, f"{workflow}/signals", {"signal_name": "orders_add"})
    clash = post(client, alice, f"{workflow}/work-queues", {"queue_name": "orders"})
    assert_problem(clash, 409)
    queues = client.get(f"/api/v1/workflows/{workflow}/work-queues", headers=alice.headers)
    assert queues.json()["items"] == []
    post(client, alice, f"{workflow}/work-queues", {"queue_name": "q"})
    assert_problem(post(client, alice, f"{workflow}/work-queues", {"queue_name": "q"}), 409)


def test_schedule_validates_cron_and_timezone(
    client: TestClient, alice: ApiUser, workflow: str
) -> None:
    good = post(
        client,
        alice,
        f"{workflow}/schedules",
        {"cron_expression": "*/5 * * * *", "timezone": "America/New_York", "max_runs": 3},
    )
    assert good.status_code == 201
    bad_cron = post(client, alice, f"{workflow}/schedules", {"cron_expression": "every minute"})
    assert assert_problem(bad_cron, 422)["errors"][0]["pointer"] == "/cron_expression"
    bad_zone = post(
        client,
        alice,
        f"{workflow}/schedules",
        {"cron_expression": "0 * * * *", "timezone": "Mars/Olympus"},
    )
    assert assert_problem(bad_zone, 422)["errors"][0]["pointer"] == "/timezone"
    path = f"/api/v1/workflows/{workflow}/schedules/{good.json()['id']}"
    changed = client.patch(path, json={"timezone": "Asia/Tokyo"}, headers=alice.headers)
    assert changed.json()["timezone"] == "Asia/Tokyo"


def test_child_workflow_links_a_visible_workflow_and_checks_the_policy(
    client: TestClient, alice: ApiUser, workflow: str
) -> None:
    child = client.post(
        "/api/v1/workflows", json={"kebab_name": unique("child")}, headers=alice.headers
    ).json()
    created = post(
        client,
        alice,
        f"{workflow}/child-workflows",
        {"child_workflow_id": child["id"], "parent_close_policy": "request_cancel"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["child_workflow_name"] == child["kebab_name"]
    bad_policy = post(
        client,
        alice,
        f"{workflow}/child-workflows",
        {"child_workflow_name": "x", "parent_close_policy": "explode"},
    )
    assert assert_problem(bad_policy, 422)["errors"][0]["pointer"] == "/parent_close_policy"
    path = f"/api/v1/workflows/{workflow}/child-workflows/{created.json()['id']}"
    changed = client.patch(path, json={"can_signal_parent": True}, headers=alice.headers)
    assert changed.json()["can_signal_parent"] is True
    assert client.delete(path, headers=alice.headers).status_code == 204
