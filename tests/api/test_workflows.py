"""Workflows: creation, nodes/edges sync, lifecycle, optimistic saves, versions, clone,
export and import."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.api.conftest import ApiUser, assert_problem
from tests.support import unique
from workflow_builder.db import system_session

DEFINITION = {
    "nodes": [
        {"id": "start", "type": "trigger", "position": {"x": 0, "y": 0}},
        {"id": "work", "type": "activity", "position": {"x": 200, "y": 0}, "config": {"a": 1}},
    ],
    "edges": [{"id": "e1", "source": "start", "target": "work", "source_handle": "out"}],
}


def new_workflow(client: TestClient, user: ApiUser, **fields: Any) -> dict[str, Any]:
    body = {"kebab_name": unique("wf"), "definition": DEFINITION, **fields}
    response = client.post("/api/v1/workflows", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_new_workflow_is_a_draft_on_the_default_queue(client: TestClient, alice: ApiUser) -> None:
    workflow = new_workflow(client, alice)
    assert workflow["status"] == "draft"
    assert workflow["version"] == "1.0.0"
    assert workflow["task_queue_name"] == "default"
    assert workflow["name"] == workflow["kebab_name"]


def test_workflow_in_a_project_runs_on_the_projects_queue(
    client: TestClient, alice: ApiUser
) -> None:
    project = client.post(
        "/api/v1/projects", json={"name": unique("p")}, headers=alice.headers
    ).json()
    workflow = new_workflow(client, alice, project_id=project["id"])
    assert workflow["task_queue_name"] == project["task_queue_name"]


def test_definition_nodes_and_edges_become_rows(client: TestClient, alice: ApiUser) -> None:
    workflow = new_workflow(client, alice)
    nodes = client.get(f"/api/v1/workflows/{workflow['id']}/nodes", headers=alice.headers).json()[
        "items"
    ]
    edges = client.get(f"/api/v1/workflows/{workflow['id']}/edges", headers=alice.headers).json()[
        "items"
    ]
    assert [(n["node_id"], n["node_type"]) for n in nodes] == [
        ("start", "trigger"),
        ("work", "activity"),
    ]
    assert nodes[1]["config"] == {"a": 1}
    assert [(e["edge_id"], e["source_node_id"], e["target_node_id"]) for e in edges] == [
        ("e1", "start", "work")
    ]
    assert edges[0]["config"] == {"source_handle": "out"}


def test_saving_a_definition_rewrites_the_rows(client: TestClient, alice: ApiUser) -> None:
    workflow = new_workflow(client, alice)
    definition = {"nodes": [{"id": "only", "type": "activity"}], "edges": []}
    response = client.patch(
        f"/api/v1/workflows/{workflow['id']}",
        json={"definition": definition},
        headers=alice.headers,
    )
    assert response.status_code == 200
    nodes = client.get(f"/api/v1/workflows/{workflow['id']}/nodes", headers=alice.headers).json()[
        "items"
    ]
    assert [n["node_id"] for n in nodes] == ["only"]
    edges = client.get(f"/api/v1/workflows/{workflow['id']}/edges", headers=alice.headers).json()[
        "items"
    ]
    assert edges == []


def test_nodes_resolve_their_component_by_name_and_version(
    client: TestClient, alice: ApiUser
) -> None:
    name = unique("comp")
    component = client.post(
        "/api/v1/components",
        json={"name": name, "type": "activity", "version": "2.0.0"},
        headers=alice.headers,
    ).json()
    definition = {
        "nodes": [{"id": "n", "type": "activity", "component": {"name": name, "version": "2.0.0"}}]
    }
    workflow = new_workflow(client, alice, definition=definition)
    nodes = client.get(f"/api/v1/workflows/{workflow['id']}/nodes", headers=alice.headers).json()[
        "items"
    ]
    assert nodes[0]["component_id"] == component["id"]


def test_another_users_private_component_is_not_resolved(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    name = unique("comp")
    client.post("/api/v1/components", json={"name": name, "type": "activity"}, headers=bob.headers)
    definition = {"nodes": [{"id": "n", "type": "activity", "component": {"name": name}}]}
    workflow = new_workflow(client, alice, definition=definition)
    nodes = client.get(f"/api/v1/workflows/{workflow['id']}/nodes", headers=alice.headers)
    assert nodes.json()["items"][0]["component_id"] is None
    report = client.post(f"/api/v1/workflows/{workflow['id']}/validate", headers=alice.headers)
    assert "unknown_component" in {problem["code"] for problem in report.json()["errors"]}


def test_latest_version_and_own_component_win(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    name = unique("comp")

    def register(user: ApiUser, version: str, visibility: str) -> str:
        response = client.post(
            "/api/v1/components",
            json={"name": name, "type": "activity", "version": version, "visibility": visibility},
            headers=user.headers,
        )
        assert response.status_code == 201, response.text
        identifier: str = response.json()["id"]
        return identifier

    register(bob, "1.9.0", "public")
    newest = register(bob, "1.10.0", "public")
    own = register(alice, "1.10.0", "private")
    definition = {"nodes": [{"id": "n", "type": "activity", "component": {"name": name}}]}
    for user, expected in ((bob, newest), (alice, own)):
        workflow = new_workflow(client, user, definition=definition)
        nodes = client.get(f"/api/v1/workflows/{workflow['id']}/nodes", headers=user.headers)
        assert nodes.json()["items"][0]["component_id"] == expected


def test_validate_reports_the_compilers_verdict(client: TestClient, alice: ApiUser) -> None:
    name = unique("comp")
    client.post(
        "/api/v1/components", json={"name": name, "type": "activity"}, headers=alice.headers
    )
    good = {
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "work", "type": "activity", "component": {"name": name}},
        ],
        "edges": [{"id": "e1", "source": "start", "target": "work"}],
    }
    workflow = new_workflow(client, alice, definition=good)
    report = client.post(f"/api/v1/workflows/{workflow['id']}/validate", headers=alice.headers)
    assert report.status_code == 200
    assert report.json()["valid"] is True
    assert report.json()["errors"] == []
    broken = {"nodes": [{"id": "work", "type": "activity", "component": {"name": name}}]}
    client.patch(
        f"/api/v1/workflows/{workflow['id']}", json={"definition": broken}, headers=alice.headers
    )
    report = client.post(f"/api/v1/workflows/{workflow['id']}/validate", headers=alice.headers)
    assert report.json()["valid"] is False
    assert "missing_trigger" in {problem["code"] for problem in report.json()["errors"]}


def test_malformed_definition_is_a_422_listing_every_problem_and_writes_nothing(
    client: TestClient, alice: ApiUser
) -> None:
    kebab = unique("wf")
    definition = {
        "nodes": [{"id": "a", "type": "activity"}, {"id": "a", "type": "activity"}, {"type": 3}],
        "edges": [{"id": "e", "source": "a", "target": "missing"}],
    }
    response = client.post(
        "/api/v1/workflows",
        json={"kebab_name": kebab, "definition": definition},
        headers=alice.headers,
    )
    body = assert_problem(response, 422, "validation")
    pointers = {error["pointer"] for error in body["errors"]}
    assert {
        "/definition/nodes/1/id",
        "/definition/nodes/2/id",
        "/definition/nodes/2/type",
        "/definition/edges/0/target",
    } <= pointers
    with system_session() as session:
        count = session.execute(
            text("select count(*) from public.workflows where kebab_name = :k"), {"k": kebab}
        ).scalar_one()
    assert count == 0


def test_kebab_name_must_be_kebab_case(client: TestClient, alice: ApiUser) -> None:
    for bad in ("Upper-Case", "trailing-", "1starts-with-digit", "double--dash", "snake_case"):
        response = client.post("/api/v1/workflows", json={"kebab_name": bad}, headers=alice.headers)
        assert assert_problem(response, 422)["errors"][0]["pointer"] == "/kebab_name"


def test_kebab_name_is_unique_and_immutable(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    workflow = new_workflow(client, alice)
    again = client.post(
        "/api/v1/workflows", json={"kebab_name": workflow["kebab_name"]}, headers=bob.headers
    )
    assert_problem(again, 409)
    renamed = client.patch(
        f"/api/v1/workflows/{workflow['id']}",
        json={"kebab_name": unique("other")},
        headers=alice.headers,
    )
    assert "immutable" in assert_problem(renamed, 409)["detail"]
    same = client.patch(
        f"/api/v1/workflows/{workflow['id']}",
        json={"kebab_name": workflow["kebab_name"]},
        headers=alice.headers,
    )
    assert same.status_code == 200


def test_status_follows_the_lifecycle(client: TestClient, alice: ApiUser) -> None:
    workflow = new_workflow(client, alice)
    path = f"/api/v1/workflows/{workflow['id']}"

    def move(to: str) -> Any:
        return client.patch(path, json={"status": to}, headers=alice.headers)

    assert_problem(move("paused"), 409)
    activated = move("active")
    assert activated.json()["status"] == "active"
    assert activated.json()["deployed_at"] is not None
    assert move("paused").json()["status"] == "paused"
    assert move("active").json()["status"] == "active"
    assert move("archived").json()["status"] == "archived"
    assert_problem(move("active"), 409)
    assert_problem(client.patch(path, json={"description": "x"}, headers=alice.headers), 409)
    assert move("draft").json()["status"] == "draft"


def test_stale_if_match_is_refused_with_412(client: TestClient, alice: ApiUser) -> None:
    workflow = new_workflow(client, alice)
    path = f"/api/v1/workflows/{workflow['id']}"
    loaded = client.get(path, headers=alice.headers)
    etag = loaded.headers["ETag"]
    assert etag == workflow["etag"]
    first = client.patch(
        path, json={"description": "one"}, headers={**alice.headers, "If-Match": etag}
    )
    assert first.status_code == 200
    assert first.headers["ETag"] != etag
    stale = client.patch(
        path, json={"description": "two"}, headers={**alice.headers, "If-Match": etag}
    )
    assert_problem(stale, 412, "precondition-failed")
    by_timestamp = client.patch(
        path,
        json={"description": "three"},
        headers={**alice.headers, "If-Match": first.json()["updated_at"]},
    )
    assert by_timestamp.status_code == 200
    weak = client.patch(
        path,
        json={"description": "three"},
        headers={**alice.headers, "If-Match": f"W/{by_timestamp.headers['ETag']}"},
    )
    assert weak.status_code == 200
    assert client.get(path, headers=alice.headers).json()["description"] == "three"


def test_version_bumps_follow_semver(client: TestClient, alice: ApiUser) -> None:
    workflow = new_workflow(client, alice, version="1.2.3")
    path = f"/api/v1/workflows/{workflow['id']}/version"
    assert client.post(path, json={"bump": "patch"}, headers=alice.headers).json()["version"] == (
        "1.2.4"
    )
    assert client.post(path, json={"bump": "minor"}, headers=alice.headers).json()["version"] == (
        "1.3.0"
    )
    assert client.post(path, json={"bump": "major"}, headers=alice.headers).json()["version"] == (
        "2.0.0"
    )
    assert_problem(client.post(path, json={"bump": "huge"}, headers=alice.headers), 422)


def test_workflows_list_filters_and_sorts(client: TestClient, bob: ApiUser) -> None:
    first = new_workflow(client, bob)
    second = new_workflow(client, bob)
    client.patch(
        f"/api/v1/workflows/{second['id']}", json={"status": "active"}, headers=bob.headers
    )
    page = client.get(
        "/api/v1/workflows",
        params={"created_by": str(bob.id), "sort": "created_at"},
        headers=bob.headers,
    ).json()
    assert [w["id"] for w in page["items"]] == [first["id"], second["id"]]
    assert "definition" not in page["items"][0]
    active = client.get(
        "/api/v1/workflows",
        params={"created_by": str(bob.id), "status": "active"},
        headers=bob.headers,
    ).json()
    assert [w["id"] for w in active["items"]] == [second["id"]]


def declare_everything(client: TestClient, user: ApiUser, workflow_id: str) -> None:
    base = f"/api/v1/workflows/{workflow_id}"
    queue = client.post(
        f"{base}/work-queues",
        json={"queue_name": "orders", "work_item_schema": {"type": "object"}},
        headers=user.headers,
    )
    assert queue.status_code == 201, queue.text
    for path, body in (
        ("signals", {"signal_name": "approve", "parameters": {"type": "object"}}),
        ("queries", {"query_name": "progress", "return_type": {"type": "number"}}),
        (
            "schedules",
            {
                "cron_expression": "0 9 * * 1-5",
                "timezone": "Europe/Paris",
                "work_queue_id": queue.json()["id"],
            },
        ),
        (
            "child-workflows",
            {"child_workflow_name": "send-invoice", "parent_close_policy": "abandon"},
        ),
    ):
        response = client.post(f"{base}/{path}", json=body, headers=user.headers)
        assert response.status_code == 201, response.text


def test_export_then_import_recreates_the_workflow(client: TestClient, alice: ApiUser) -> None:
    workflow = new_workflow(client, alice, description="exported")
    declare_everything(client, alice, workflow["id"])
    exported = client.get(f"/api/v1/workflows/{workflow['id']}/export", headers=alice.headers)
    assert exported.status_code == 200
    document = exported.json()
    assert document["workflow"]["definition"] == DEFINITION
    assert [s["signal_name"] for s in document["signals"]] == ["approve"]
    assert document["schedules"][0]["work_queue_name"] == "orders"

    new_kebab = unique("imported")
    imported = client.post(
        "/api/v1/workflows/import",
        json={**document, "kebab_name": new_kebab},
        headers=alice.headers,
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["kebab_name"] == new_kebab
    again = client.get(
        f"/api/v1/workflows/{imported.json()['id']}/export", headers=alice.headers
    ).json()
    assert {k: v for k, v in again.items() if k != "workflow"} == {
        k: v for k, v in document.items() if k != "workflow"
    }
    signals = client.get(
        f"/api/v1/workflows/{imported.json()['id']}/signals", headers=alice.headers
    ).json()["items"]
    assert {s["signal_name"] for s in signals} == {"approve", "orders_add"}


def test_failed_import_leaves_nothing_behind(client: TestClient, alice: ApiUser) -> None:
    kebab = unique("broken")
    document = {
        "workflow": {"name": kebab, "display_name": "Broken", "kebab_name": kebab},
        "schedules": [{"cron_expression": "not a cron"}],
    }
    assert_problem(
        client.post("/api/v1/workflows/import", json=document, headers=alice.headers), 422
    )
    listed = client.get(
        "/api/v1/workflows", params={"kebab_name": kebab}, headers=alice.headers
    ).json()
    assert listed["total"] == 0


def test_clone_copies_definition_and_declarations_into_a_new_draft(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    workflow = new_workflow(client, alice, visibility="public")
    declare_everything(client, alice, workflow["id"])
    client.patch(
        f"/api/v1/workflows/{workflow['id']}", json={"status": "active"}, headers=alice.headers
    )
    kebab = unique("copy")
    clone = client.post(
        f"/api/v1/workflows/{workflow['id']}/clone",
        json={"kebab_name": kebab},
        headers=bob.headers,
    )
    assert clone.status_code == 201, clone.text
    copy = clone.json()
    assert copy["created_by"] == str(bob.id)
    assert copy["status"] == "draft"
    assert copy["visibility"] == "private"
    assert copy["definition"] == DEFINITION
    queues = client.get(f"/api/v1/workflows/{copy['id']}/work-queues", headers=bob.headers).json()[
        "items"
    ]
    assert [q["queue_name"] for q in queues] == ["orders"]


def test_delete_workflow_removes_it(client: TestClient, alice: ApiUser) -> None:
    workflow = new_workflow(client, alice)
    path = f"/api/v1/workflows/{workflow['id']}"
    assert client.delete(path, headers=alice.headers).status_code == 204
    assert_problem(client.get(path, headers=alice.headers), 404)


def test_viewer_reads_public_workflows_but_cannot_create(
    client: TestClient, alice: ApiUser, viewer: ApiUser
) -> None:
    workflow = new_workflow(client, alice, visibility="public")
    assert client.get(f"/api/v1/workflows/{workflow['id']}", headers=viewer.headers).is_success
    refused = client.post(
        "/api/v1/workflows", json={"kebab_name": unique("wf")}, headers=viewer.headers
    )
    assert assert_problem(refused, 403)["permission"] == "workflows:write"


def test_workflow_runs_only_on_system_queues_or_the_owners_own(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    bobs_queue = client.post(
        "/api/v1/task-queues", json={"name": unique("q")}, headers=bob.headers
    ).json()
    refused = client.post(
        "/api/v1/workflows",
        json={"kebab_name": unique("wf"), "task_queue_id": bobs_queue["id"]},
        headers=alice.headers,
    )
    assert assert_problem(refused, 422)["errors"][0]["pointer"] == "/task_queue_id"
    own = client.post(
        "/api/v1/workflows",
        json={"kebab_name": unique("wf"), "task_queue_id": bobs_queue["id"]},
        headers=bob.headers,
    )
    assert own.json()["task_queue_name"] == bobs_queue["name"]


def test_a_project_or_queue_still_in_use_cannot_be_deleted(
    client: TestClient, alice: ApiUser
) -> None:
    project = client.post(
        "/api/v1/projects", json={"name": unique("p")}, headers=alice.headers
    ).json()
    workflow = new_workflow(client, alice, project_id=project["id"])
    assert_problem(client.delete(f"/api/v1/projects/{project['id']}", headers=alice.headers), 409)
    queue_id = workflow["task_queue_id"]
    assert_problem(client.delete(f"/api/v1/task-queues/{queue_id}", headers=alice.headers), 409)


def test_concurrent_saves_from_one_etag_let_exactly_one_through(
    client: TestClient, alice: ApiUser
) -> None:
    workflow = new_workflow(client, alice)
    path = f"/api/v1/workflows/{workflow['id']}"
    headers = {**alice.headers, "If-Match": workflow["etag"]}

    def save(index: int) -> int:
        definition = {"nodes": [{"id": f"n{index}", "type": "activity"}], "edges": []}
        return client.patch(path, json={"definition": definition}, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(save, range(4)))
    assert statuses == [200, 412, 412, 412]
    nodes = client.get(f"{path}/nodes", headers=alice.headers).json()["items"]
    assert len(nodes) == 1


def test_moving_a_workflow_into_a_project_moves_it_to_the_projects_queue(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    workflow = new_workflow(client, alice)
    project = client.post(
        "/api/v1/projects", json={"name": unique("p")}, headers=alice.headers
    ).json()
    path = f"/api/v1/workflows/{workflow['id']}"
    moved = client.patch(path, json={"project_id": project["id"]}, headers=alice.headers)
    assert moved.json()["task_queue_name"] == project["task_queue_name"]
    bobs_queue = client.post(
        "/api/v1/task-queues", json={"name": unique("q")}, headers=bob.headers
    ).json()
    refused = client.patch(
        path,
        json={"project_id": project["id"], "task_queue_id": bobs_queue["id"]},
        headers=alice.headers,
    )
    assert_problem(refused, 422)
    back = client.patch(path, json={"project_id": None}, headers=alice.headers)
    assert back.json()["task_queue_name"] == "default"
