"""Workflows as documents: POST /workflows/validate checks an exported document without saving
anything; PUT /workflows/{id}/export makes a workflow match one."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ApiUser, assert_problem
from tests.support import unique
from workflow_builder.activities.registry import sync_components
from workflow_builder.db import Database, system_session


@pytest.fixture(autouse=True)
def built_in_components(db: Database) -> None:
    with system_session() as session:
        sync_components(session)


def definition(word: str = "hello") -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "trigger", "config": {"kind": "manual"}},
            {
                "id": "greet",
                "type": "activity",
                "component": {"name": "transform"},
                "input": {"greeting": f"'{word}'"},
            },
            {"id": "done", "type": "end"},
        ],
        "edges": [
            {"id": "a", "source": "start", "target": "greet"},
            {"id": "b", "source": "greet", "target": "done"},
        ],
    }


def document(kebab: str, **extra: Any) -> dict[str, Any]:
    body = {"workflow": {"name": kebab, "display_name": kebab, "kebab_name": kebab}, **extra}
    body["workflow"]["definition"] = definition()
    return body


def validate(client: TestClient, user: ApiUser, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/workflows/validate", json=body, headers=user.headers)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def test_a_valid_new_document_is_valid_and_nothing_is_saved(
    client: TestClient, alice: ApiUser
) -> None:
    kebab = unique("doc")
    report = validate(client, alice, document(kebab, signals=[{"signal_name": "go"}]))
    assert report == {"valid": True, "errors": [], "warnings": []}
    listed = client.get("/api/v1/workflows", params={"kebab_name": kebab}, headers=alice.headers)
    assert listed.json()["total"] == 0


def test_definition_problems_point_into_the_document_and_name_the_node(
    client: TestClient, alice: ApiUser
) -> None:
    body = document(unique("doc"))
    body["workflow"]["definition"]["nodes"][1]["component"]["name"] = "no-such-component"
    report = validate(client, alice, body)
    assert not report["valid"]
    [problem] = [p for p in report["errors"] if p["code"] == "unknown_component"]
    assert problem["node_id"] == "greet"
    assert problem["pointer"].startswith("/workflow/definition/nodes/1")


def test_declaration_problems_are_located(client: TestClient, alice: ApiUser) -> None:
    body = document(
        unique("doc"),
        schedules=[
            {"cron_expression": "every day", "timezone": "Mars/Olympus"},
            {"cron_expression": "0 9 * * *", "work_queue_name": "missing"},
        ],
        signals=[{"signal_name": "go", "parameters": {"type": "no-such-type"}}],
    )
    report = validate(client, alice, body)
    pointers = {p["pointer"]: p["code"] for p in report["errors"]}
    assert pointers["/schedules/0/cron_expression"] == "invalid_cron"
    assert pointers["/schedules/0/timezone"] == "invalid_timezone"
    assert pointers["/schedules/1/work_queue_name"] == "invalid_document"
    assert any(p.startswith("/signals/0/parameters") for p in pointers)


def test_a_kebab_name_taken_by_a_workflow_you_cannot_see_is_a_problem(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    kebab = unique("taken")
    created = client.post("/api/v1/workflows/import", json=document(kebab), headers=bob.headers)
    assert created.status_code == 201, created.text
    report = validate(client, alice, document(kebab))
    assert not report["valid"]
    assert report["errors"][0]["code"] == "invalid_document"


def test_a_document_a_workflow_already_matches_writes_nothing(
    client: TestClient, alice: ApiUser
) -> None:
    kebab = unique("doc")
    created = client.post(
        "/api/v1/workflows/import", json=document(kebab), headers=alice.headers
    ).json()
    path = f"/api/v1/workflows/{created['id']}"
    exported = client.get(f"{path}/export", headers=alice.headers).json()
    before = client.get(path, headers=alice.headers).headers["ETag"]

    applied = client.put(f"{path}/export", json=exported, headers=alice.headers)

    assert applied.status_code == 200, applied.text
    assert applied.json()["outcome"] == "unchanged"
    assert client.get(path, headers=alice.headers).headers["ETag"] == before
    assert validate(client, alice, exported)["valid"]


def test_a_changed_document_updates_the_workflow_and_replaces_its_declarations(
    client: TestClient, alice: ApiUser
) -> None:
    kebab = unique("doc")
    created = client.post(
        "/api/v1/workflows/import",
        json=document(kebab, signals=[{"signal_name": "old"}]),
        headers=alice.headers,
    ).json()
    path = f"/api/v1/workflows/{created['id']}"
    changed = client.get(f"{path}/export", headers=alice.headers).json()
    changed["workflow"]["definition"] = definition("bye")
    changed["workflow"]["version"] = "1.2.0"
    changed["signals"] = [{"signal_name": "new"}]
    changed["work_queues"] = [{"queue_name": "orders"}]

    applied = client.put(f"{path}/export", json=changed, headers=alice.headers)

    assert applied.status_code == 200, applied.text
    assert applied.json()["outcome"] == "updated"
    assert applied.json()["workflow"]["version"] == "1.2.0"
    again = client.get(f"{path}/export", headers=alice.headers).json()
    assert again["workflow"]["definition"] == definition("bye")
    assert [s["signal_name"] for s in again["signals"]] == ["new"]
    assert [q["queue_name"] for q in again["work_queues"]] == ["orders"]
    repeated = client.put(f"{path}/export", json=again, headers=alice.headers).json()
    assert repeated["outcome"] == "unchanged"
    assert repeated["content_hash"] == applied.json()["content_hash"]


def test_a_document_cannot_rename_a_workflow_or_touch_anothers(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    kebab = unique("doc")
    created = client.post(
        "/api/v1/workflows/import", json=document(kebab), headers=alice.headers
    ).json()
    path = f"/api/v1/workflows/{created['id']}/export"
    renamed = document(unique("other"))
    assert_problem(client.put(path, json=renamed, headers=alice.headers), 422)
    changed = document(kebab)
    changed["workflow"]["definition"] = definition("bye")
    response = client.put(path, json=changed, headers=bob.headers)
    assert response.status_code in (403, 404), response.text
