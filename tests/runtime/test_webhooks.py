"""Webhook triggers through the API: POST /hooks/{path} with an API key or an HMAC signature,
input checked against the trigger's schema, answered at once or after waiting for the result,
rate-limited, idempotent, and gone when the workflow is undeployed."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text

from tests.api.conftest import ApiUser, assert_problem, sign_up
from tests.runtime.conftest import Api, chain, transform
from tests.support import unique
from workflow_builder.db import system_session
from workflow_builder.webhooks import views as webhook_views

ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "integer"}, "note": {"type": "string"}},
    "required": ["order_id"],
}


def hook_definition(**config: Any) -> dict[str, Any]:
    """start (webhook) -> echo (transform of the input) -> done."""
    return {
        "nodes": [
            {
                "id": "start",
                "type": "trigger",
                "config": {"kind": "webhook", "input_schema": ORDER_SCHEMA, **config},
            },
            transform("echo", {"order": "input.order_id", "note": "input.note"}),
            {"id": "done", "type": "end", "config": {"output": "nodes.echo.output"}},
        ],
        "edges": chain("start", "echo", "done"),
    }


def api_key(api: Api) -> str:
    body = api.call("POST", "/api-keys", 201, json={"name": unique("hook")}).json()
    return str(body["key"])


def post(
    client: TestClient,
    path: str,
    payload: Any = None,
    *,
    key: str | None = None,
    query: str = "",
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> Response:
    sent = dict(headers or {})
    if key is not None:
        sent["X-API-Key"] = key
    if content is None:
        content = json.dumps(payload if payload is not None else {}).encode()
        sent.setdefault("Content-Type", "application/json")
    return client.post(f"/hooks/{path}{query}", content=content, headers=sent)


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-WFB-Timestamp": stamp,
        "X-WFB-Signature": f"sha256={digest}",
    }


def executions_of(workflow_id: str) -> list[Any]:
    with system_session() as session:
        return session.execute(
            text(
                "select id, created_by, trigger_kind, status from workflow_executions "
                "where workflow_id = :w"
            ),
            {"w": workflow_id},
        ).all()


@pytest.fixture
def key(api: Api) -> str:
    return api_key(api)


# -- API key --------------------------------------------------------------------------------


def test_an_api_key_starts_a_run_that_completes(api: Api, client: TestClient, key: str) -> None:
    path = unique("orders")
    workflow_id = api.deploy(hook_definition(path=path))

    response = post(client, path, {"order_id": 7, "note": "rush"}, key=key)

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "pending"
    assert body["status_url"] == f"/api/v1/executions/{body['execution_id']}"
    assert response.headers["location"] == body["status_url"]
    run = api.wait(body["execution_id"])
    assert (run["status"], run["outputs"], run["inputs"]) == (
        "completed",
        {"order": 7, "note": "rush"},
        {"order_id": 7, "note": "rush"},
    )
    [row] = executions_of(workflow_id)
    assert (row.trigger_kind, row.created_by) == ("webhook", api.user.id)


def test_the_default_path_is_the_workflow_kebab_name(api: Api, client: TestClient) -> None:
    workflow_id = api.create_workflow(hook_definition())
    deployed = api.call("POST", f"/workflows/{workflow_id}/deploy", 200).json()
    kebab = api.call("GET", f"/workflows/{workflow_id}", 200).json()["kebab_name"]
    bearer = {"Authorization": f"Bearer {api_key(api)}"}
    assert deployed["webhook_path"] == kebab

    response = post(client, kebab, {"order_id": 1}, headers=bearer)

    assert response.status_code == 202, response.text


def test_a_missing_or_unknown_key_is_refused(api: Api, client: TestClient) -> None:
    path = unique("orders")
    workflow_id = api.deploy(hook_definition(path=path))

    missing = post(client, path, {"order_id": 1})
    unknown = post(client, path, {"order_id": 1}, key="wfb_not-a-real-key")
    token = post(client, path, {"order_id": 1}, headers=api.user.headers)

    assert "X-API-Key" in assert_problem(missing, 401, "unauthorized")["detail"]
    assert_problem(unknown, 401, "unauthorized")
    assert_problem(token, 401, "unauthorized")
    assert executions_of(workflow_id) == []


def test_a_key_of_a_user_who_cannot_see_the_workflow_is_refused_by_the_database(
    api: Api, client: TestClient
) -> None:
    path = unique("orders")
    workflow_id = api.deploy(hook_definition(path=path))
    stranger = Api(client, sign_up(client, role="developer"))

    response = post(client, path, {"order_id": 1}, key=api_key(stranger))

    assert_problem(response, 404, "not-found")
    assert executions_of(workflow_id) == []


def test_a_key_of_a_member_who_may_read_but_not_run_the_workflow_is_refused_by_the_database(
    api: Api, client: TestClient
) -> None:
    member = Api(client, sign_up(client, role="developer"))
    organization = api.call("POST", "/organizations", 201, json={"name": unique("org")}).json()
    api.call(
        "POST",
        f"/organizations/{organization['id']}/members",
        201,
        json={"user_id": str(member.user.id)},
    )
    path = unique("orders")
    workflow_id = api.deploy(
        hook_definition(path=path),
        visibility="organization",
        organization_id=organization["id"],
    )
    member.call("GET", f"/workflows/{workflow_id}", 200)

    response = post(client, path, {"order_id": 1}, key=api_key(member))

    assert "row-level security" in assert_problem(response, 403, "forbidden")["detail"]
    assert executions_of(workflow_id) == []


# -- HMAC signatures -------------------------------------------------------------------------


def signed_workflow(api: Api, secret_value: str = "whsec-correct-horse") -> tuple[str, str]:
    """Deploy a signed webhook in a project with its secret; return (workflow id, path)."""
    project = api.call("POST", "/projects", 201, json={"name": unique("shop")}).json()["id"]
    api.call("PUT", f"/projects/{project}/secrets/hook_key", 201, json={"value": secret_value})
    path = unique("shop/orders")
    definition = hook_definition(path=path, auth="hmac", secret="hook_key")
    return api.deploy(definition, project_id=project), path


def test_a_good_signature_starts_a_run_as_the_workflow_owner(api: Api, client: TestClient) -> None:
    workflow_id, path = signed_workflow(api)
    body = b'{"order_id": 42}'

    response = post(client, path, content=body, headers=signed_headers("whsec-correct-horse", body))

    assert response.status_code == 202, response.text
    [row] = executions_of(workflow_id)
    assert (str(row.id), row.created_by, row.trigger_kind) == (
        response.json()["execution_id"],
        api.user.id,
        "webhook",
    )


def test_a_wrong_stale_or_missing_signature_is_refused(api: Api, client: TestClient) -> None:
    workflow_id, path = signed_workflow(api)
    body = b'{"order_id": 42}'
    now = int(time.time())

    wrong = post(client, path, content=body, headers=signed_headers("guessed", body))
    tampered = post(
        client,
        path,
        content=b'{"order_id": 43}',
        headers=signed_headers("whsec-correct-horse", body),
    )
    stale = post(
        client, path, content=body, headers=signed_headers("whsec-correct-horse", body, now - 301)
    )
    unsigned = post(client, path, {"order_id": 42}, key=api_key(api))

    assert "does not match" in assert_problem(wrong, 401, "unauthorized")["detail"]
    assert "does not match" in assert_problem(tampered, 401, "unauthorized")["detail"]
    assert "300 seconds" in assert_problem(stale, 401, "unauthorized")["detail"]
    assert "X-WFB-Signature" in assert_problem(unsigned, 401, "unauthorized")["detail"]
    assert executions_of(workflow_id) == []


def test_an_hmac_webhook_needs_its_secret_in_the_project(api: Api) -> None:
    project = api.call("POST", "/projects", 201, json={"name": unique("shop")}).json()["id"]
    definition = hook_definition(auth="hmac", secret="missing_key")
    workflow_id = api.create_workflow(definition, project_id=project)

    problem = api.call("POST", f"/workflows/{workflow_id}/deploy", 422).json()

    [error] = problem["errors"]
    assert error["pointer"] == "/definition/nodes/0/config/secret"
    assert "missing_key" in error["message"]
    assert api.call("GET", f"/workflows/{workflow_id}", 200).json()["status"] == "draft"


# -- the body --------------------------------------------------------------------------------


def test_input_that_breaks_the_schema_is_a_422_with_pointers(
    api: Api, client: TestClient, key: str
) -> None:
    path = unique("orders")
    workflow_id = api.deploy(hook_definition(path=path))

    wrong_type = post(client, path, {"order_id": "seven"}, key=key)
    missing = post(client, path, {"note": "no id"}, key=key)

    errors = assert_problem(wrong_type, 422, "validation")["errors"]
    assert [(e["pointer"], "integer" in e["message"]) for e in errors] == [("/order_id", True)]
    [error] = assert_problem(missing, 422, "validation")["errors"]
    assert "order_id" in error["message"]
    assert executions_of(workflow_id) == []


def test_a_body_that_is_not_a_json_object_is_refused(
    api: Api, client: TestClient, key: str
) -> None:
    path = unique("orders")
    api.deploy(hook_definition(path=path))
    as_json = {"Content-Type": "application/json"}

    malformed = post(client, path, key=key, content=b"{order_id: 1", headers=as_json)
    form = post(
        client,
        path,
        key=key,
        content=b"order_id=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    array = post(client, path, [1, 2], key=key)
    not_a_number = post(client, path, key=key, content=b'{"order_id": NaN}', headers=as_json)

    assert "not valid JSON" in assert_problem(malformed, 400, "bad-request")["detail"]
    assert "application/json" in assert_problem(form, 415, "unsupported-media-type")["detail"]
    assert "JSON object" in assert_problem(array, 422, "validation")["errors"][0]["message"]
    [error] = assert_problem(not_a_number, 422, "validation")["errors"]
    assert error["pointer"] == "/order_id" and "NaN" in error["message"]


# -- waiting for the result ------------------------------------------------------------------


def test_waiting_answers_the_outputs(api: Api, client: TestClient, key: str) -> None:
    path = unique("orders")
    api.deploy(hook_definition(path=path))

    waited = post(client, path, {"order_id": 5}, key=key, query="?wait=20")
    preferred = post(client, path, {"order_id": 6}, key=key, headers={"Prefer": "wait=20"})

    assert waited.status_code == 200, waited.text
    assert waited.json()["status"] == "completed"
    assert waited.json()["outputs"] == {"order": 5, "note": None}
    assert (preferred.status_code, preferred.json()["outputs"]["order"]) == (200, 6)


def test_a_run_that_outlasts_the_wait_is_answered_with_202(
    api: Api, client: TestClient, key: str
) -> None:
    path = unique("slow")
    definition = hook_definition(path=path)
    definition["nodes"].insert(1, {"id": "nap", "type": "delay", "config": {"seconds": 3}})
    definition["edges"] = chain("start", "nap", "echo", "done")
    api.deploy(definition)

    started = time.monotonic()
    response = post(client, path, {"order_id": 1}, key=key, query="?wait=0.5")
    elapsed = time.monotonic() - started

    assert response.status_code == 202, response.text
    assert response.json()["status"] in ("pending", "running")
    assert 0.5 <= elapsed < 2.5
    api.call("POST", f"/executions/{response.json()['execution_id']}/cancel", 200)


def test_a_wait_that_is_not_a_number_is_a_422(api: Api, client: TestClient, key: str) -> None:
    path = unique("orders")
    api.deploy(hook_definition(path=path))

    response = post(client, path, {"order_id": 1}, key=key, query="?wait=soon")

    assert assert_problem(response, 422, "validation")["errors"][0]["loc"] == ["query", "wait"]


# -- idempotency and rate limit --------------------------------------------------------------


def test_a_repeated_idempotency_key_starts_one_run(api: Api, client: TestClient, key: str) -> None:
    path = unique("orders")
    workflow_id = api.deploy(hook_definition(path=path))
    once = {"Idempotency-Key": unique("delivery")}

    first = post(client, path, {"order_id": 1}, key=key, headers=once)
    again = post(client, path, {"order_id": 1}, key=key, headers=once)
    api.wait(first.json()["execution_id"])
    after_it_ended = post(client, path, {"order_id": 1}, key=key, headers=once)

    # Without a wait the answer is 202 whether the run has ended meanwhile or not; the body
    # says how far it got.
    assert [first.status_code, again.status_code, after_it_ended.status_code] == [202] * 3
    assert first.json()["execution_id"] == again.json()["execution_id"]
    assert after_it_ended.json()["execution_id"] == first.json()["execution_id"]
    assert after_it_ended.json()["status"] == "completed"
    assert again.headers["idempotent-replayed"] == "true"
    assert after_it_ended.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(executions_of(workflow_id)) == 1


def test_the_rate_limit_answers_429_with_retry_after(
    api: Api, client: TestClient, key: str
) -> None:
    path = unique("orders")
    workflow_id = api.deploy(hook_definition(path=path, rate_limit_per_second=1))

    answers = [post(client, path, {"order_id": n}, key=key) for n in range(3)]

    assert answers[0].status_code == 202
    limited = [a for a in answers if a.status_code == 429]
    assert limited, [a.status_code for a in answers]
    problem = assert_problem(limited[0], 429, "rate-limited")
    assert "at most 1 run per second" in problem["detail"]
    assert limited[0].headers["retry-after"] == "1"
    assert len(executions_of(workflow_id)) == 3 - len(limited)


def test_callers_who_may_not_run_the_workflow_do_not_use_up_the_limit(
    api: Api, client: TestClient, key: str
) -> None:
    path = unique("orders")
    api.deploy(hook_definition(path=path, rate_limit_per_second=1))
    stranger = api_key(Api(client, sign_up(client, role="developer")))

    unknown = post(client, path, {"order_id": 1}, key="wfb_not-a-real-key")
    foreign = post(client, path, {"order_id": 1}, key=stranger)
    owner = post(client, path, {"order_id": 1}, key=key)

    assert (unknown.status_code, foreign.status_code, owner.status_code) == (401, 404, 202)


def test_the_token_bucket_refills_at_the_rate_and_bursts_up_to_it() -> None:
    now = [0.0]
    limiter = webhook_views.RateLimiter(clock=lambda: now[0])
    hook = UUID(int=1)

    granted = [limiter.acquire(hook, 4) for _ in range(5)]
    now[0] += 0.5
    refilled = [limiter.acquire(hook, 4) for _ in range(3)]

    assert granted[:4] == [0.0] * 4 and granted[4] == pytest.approx(0.25)
    assert refilled[:2] == [0.0, 0.0] and refilled[2] > 0
    limiter.refund(hook)
    assert limiter.acquire(hook, 4) == 0.0


# -- deploy, undeploy, pause ----------------------------------------------------------------


def test_a_path_another_workflow_holds_is_a_409_on_deploy(api: Api, client: TestClient) -> None:
    path = unique("shared")
    api.deploy(hook_definition(path=path))
    other = Api(client, sign_up(client, role="developer"))
    workflow_id = other.create_workflow(hook_definition(path=path))

    problem = other.call("POST", f"/workflows/{workflow_id}/deploy", 409).json()

    assert path in problem["detail"] and "config.path" in problem["detail"]
    assert other.call("GET", f"/workflows/{workflow_id}", 200).json()["status"] == "draft"


def test_undeploy_and_pause_take_the_webhook_down(api: Api, client: TestClient, key: str) -> None:
    path = unique("orders")
    workflow_id = api.deploy(hook_definition(path=path))
    assert post(client, path, {"order_id": 1}, key=key).status_code == 202

    api.call("PATCH", f"/workflows/{workflow_id}", 200, json={"status": "paused"})
    paused = post(client, path, {"order_id": 2}, key=key)
    api.call("PATCH", f"/workflows/{workflow_id}", 200, json={"status": "active"})
    resumed = post(client, path, {"order_id": 3}, key=key)
    api.call("POST", f"/workflows/{workflow_id}/undeploy", 200)
    undeployed = post(client, path, {"order_id": 4}, key=key)

    assert_problem(paused, 404, "not-found")
    assert resumed.status_code == 202, resumed.text
    assert f"/hooks/{path}" in assert_problem(undeployed, 404, "not-found")["detail"]
    assert len(executions_of(workflow_id)) == 2


def test_a_redeploy_without_a_webhook_trigger_removes_it(
    api: Api, client: TestClient, key: str
) -> None:
    path = unique("orders")
    workflow_id = api.deploy(hook_definition(path=path))
    manual = hook_definition()
    manual["nodes"][0]["config"] = {"kind": "manual", "input_schema": ORDER_SCHEMA}

    api.call("PATCH", f"/workflows/{workflow_id}", 200, json={"definition": manual})
    deployed = api.call("POST", f"/workflows/{workflow_id}/deploy", 200).json()

    assert deployed["webhook_path"] is None
    assert_problem(post(client, path, {"order_id": 1}, key=key), 404, "not-found")
    with system_session() as session:
        rows = session.execute(
            text("select count(*) from webhook_triggers where workflow_id = :w"),
            {"w": workflow_id},
        ).scalar_one()
    assert rows == 0


def test_an_unknown_or_malformed_path_is_a_404(client: TestClient, dev: ApiUser) -> None:
    for path in (unique("nowhere"), "Upper/Case", "nul%00byte", "a" * 256):
        assert_problem(post(client, path, {"order_id": 1}), 404, "not-found")
