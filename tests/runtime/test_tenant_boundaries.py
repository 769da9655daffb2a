"""The smaller boundaries between tenants: task queues are listed only to those who may see
them (row-level security decides), a signed webhook request starts one run however often it is
replayed, easily guessed passwords are refused, and a secret handed back encoded is still
masked."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.api.conftest import PASSWORD, ApiUser, assert_problem, sign_up
from tests.runtime.conftest import Api
from tests.runtime.test_webhooks import (
    executions_of,
    hook_definition,
    post,
    signed_headers,
    signed_workflow,
)
from tests.support import unique
from workflow_builder.db import Database, user_session
from workflow_builder.secrets.redaction import MASK, redact

# -- task queues -------------------------------------------------------------------------------


def queue_names(api: Api) -> set[str]:
    page = api.call("GET", "/task-queues", 200, params={"limit": 200}).json()
    return {queue["name"] for queue in page["items"]}


def test_a_tenant_lists_its_own_and_the_system_task_queues_only(client: TestClient) -> None:
    alice, bob = (Api(client, sign_up(client, role="developer")) for _ in range(2))
    secret_project = alice.call(
        "POST", "/projects", 201, json={"name": "Acquisition of Initech (confidential)"}
    ).json()
    bobs_project = bob.call("POST", "/projects", 201, json={"name": unique("shop")}).json()

    seen_by_bob = queue_names(bob)
    assert secret_project["task_queue_name"] not in seen_by_bob
    assert {"default", bobs_project["task_queue_name"]} <= seen_by_bob
    listed = bob.call("GET", "/task-queues", 200, params={"q": "Initech", "limit": 200}).json()
    assert listed["items"] == []
    queue_id = next(
        q["id"]
        for q in alice.call("GET", "/task-queues", 200, params={"limit": 200}).json()["items"]
        if q["name"] == secret_project["task_queue_name"]
    )
    assert_problem(bob.call("GET", f"/task-queues/{queue_id}"), 404)


def test_row_level_security_hides_other_tenants_queues_from_any_query(
    client: TestClient, db: Database
) -> None:
    alice = Api(client, sign_up(client, role="developer"))
    project = alice.call("POST", "/projects", 201, json={"name": unique("private")}).json()
    bob = sign_up(client, role="developer")
    with user_session(bob.id, db=db) as session:
        count = session.execute(
            text("select count(*) from task_queues where name = :n"),
            {"n": project["task_queue_name"]},
        ).scalar()
    assert count == 0


def test_the_queue_of_a_workflow_shared_with_you_is_visible_with_it(client: TestClient) -> None:
    alice, bob = (Api(client, sign_up(client, role="developer")) for _ in range(2))
    project = alice.call("POST", "/projects", 201, json={"name": unique("open")}).json()
    workflow_id = alice.create_workflow(
        hook_definition(), project_id=project["id"], visibility="public"
    )
    shared = bob.call("GET", f"/workflows/{workflow_id}", 200).json()
    assert shared["task_queue_name"] == project["task_queue_name"]
    assert project["task_queue_name"] in queue_names(bob)


# -- replayed signed webhooks ----------------------------------------------------------------


def test_a_replayed_signed_request_answers_with_the_first_run(api: Api, client: TestClient) -> None:
    workflow_id, path = signed_workflow(api)
    body = b'{"order_id": 7}'
    headers = signed_headers("whsec-correct-horse", body)

    first = post(client, path, content=body, headers=headers)
    replayed = post(client, path, content=body, headers=headers)
    with_new_key = post(
        client, path, content=body, headers={**headers, "Idempotency-Key": unique("k")}
    )

    assert first.status_code == 202, first.text
    for again in (replayed, with_new_key):
        assert again.status_code in (200, 202), again.text
        assert again.json()["execution_id"] == first.json()["execution_id"]
        assert again.headers["Idempotent-Replayed"] == "true"
    assert len(executions_of(workflow_id)) == 1
    resigned = post(
        client,
        path,
        content=body,
        headers=signed_headers("whsec-correct-horse", body, int(headers["X-WFB-Timestamp"]) - 1),
    )
    assert resigned.json()["execution_id"] != first.json()["execution_id"]
    assert len(executions_of(workflow_id)) == 2


# -- weak passwords --------------------------------------------------------------------------

WEAK = [
    "aaaaaaaa",
    " " * 8,
    "abababab",
    "password",
    "Password1!",
    "P@ssw0rd",
    "12345678",
    "qwertyuiop",
    "87654321",
    "abc123abc123",
    "iloveyou2024",
    "dragon!!!",
]


@pytest.mark.parametrize("password", WEAK)
def test_sign_up_refuses_an_easily_guessed_password(client: TestClient, password: str) -> None:
    response = client.post(
        "/api/v1/auth/signup",
        json={"email": f"{unique('u')}@example.test", "password": password},
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["pointer"] == "/password"
    assert "harder to guess" in body["errors"][0]["message"]


def test_a_password_made_of_the_email_name_is_refused(client: TestClient) -> None:
    name = unique("margaret")
    response = client.post(
        "/api/v1/auth/signup",
        json={"email": f"{name}@example.test", "password": f"{name}-2024"},
    )
    assert "email address or name" in assert_problem(response, 422)["errors"][0]["message"]


def test_changing_to_a_weak_password_is_refused(client: TestClient) -> None:
    user: ApiUser = sign_up(client)
    weak = client.patch(
        "/api/v1/me",
        json={"password": "letmein123", "current_password": PASSWORD},
        headers=user.headers,
    )
    assert assert_problem(weak, 422)["errors"][0]["pointer"] == "/password"
    strong = client.patch(
        "/api/v1/me",
        json={"password": "violet tractor on the moon", "current_password": PASSWORD},
        headers=user.headers,
    )
    assert strong.status_code == 200, strong.text


# -- secrets handed back encoded -------------------------------------------------------------


class Secrets:
    def __init__(self, *values: str) -> None:
        self.values = values

    def plaintexts(self) -> list[str]:
        return list(self.values)


SECRET = "sk-live/7Hq+Zp=secret"


def encoded_forms(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "reversed": secret[::-1],
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "url": quote(secret, safe=""),
        "form": quote_plus(secret),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        # inside a longer base64 text, at each of the three alignments
        **{
            f"embedded{n}": base64.b64encode(b"x" * n + json.dumps({"t": secret}).encode()).decode()
            for n in range(3)
        },
    }


def test_redaction_masks_the_common_encodings_of_a_secret() -> None:
    masked: Any = redact(encoded_forms(SECRET), Secrets(SECRET))
    for name, value in masked.items():
        assert MASK in value, name
        for form in encoded_forms(SECRET).values():
            assert form not in value
    assert redact("QUJD plain words 1234", Secrets(SECRET)) == "QUJD plain words 1234"
