"""The one error model: every failure is an RFC 9457 problem document."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import ApiUser, assert_problem
from workflow_builder.db import Database, get_database, set_database


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/no-such-thing"), 404, "not-found")


def test_wrong_method_is_a_405_problem(client: TestClient) -> None:
    assert_problem(client.put("/api/v1/me"), 405, "method-not-allowed")


def test_malformed_json_is_a_400_problem(client: TestClient, alice: ApiUser) -> None:
    response = client.post(
        "/api/v1/components",
        content=b"{not json",
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert_problem(response, 400, "bad-request")


def test_validation_errors_point_into_the_body(client: TestClient, alice: ApiUser) -> None:
    response = client.post(
        "/api/v1/components",
        json={"name": "", "type": "activity", "tags": [1]},
        headers=alice.headers,
    )
    body = assert_problem(response, 422, "validation")
    assert {"/name", "/tags/0"} <= {error["pointer"] for error in body["errors"]}
    assert all(error["loc"][0] == "body" for error in body["errors"])


def test_query_parameter_errors_name_the_parameter(client: TestClient, alice: ApiUser) -> None:
    response = client.get("/api/v1/workflows", params={"limit": 0}, headers=alice.headers)
    body = assert_problem(response, 422, "validation")
    assert body["errors"][0]["loc"] == ["query", "limit"]


def test_malformed_ids_are_422_not_500(client: TestClient, alice: ApiUser) -> None:
    assert_problem(client.get("/api/v1/workflows/not-a-uuid", headers=alice.headers), 422)


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "/api/v1/workflows" in document["paths"]
    assert "Problem" in document["components"]["schemas"]
    assert client.get("/docs").status_code == 200
    assert client.get("/health").status_code in (200, 503)


def test_an_unreachable_database_is_a_503_to_retry(client: TestClient, alice: ApiUser) -> None:
    working = get_database()
    set_database(Database("postgresql://postgres@127.0.0.1:1/unreachable"))
    try:
        response = client.get("/api/v1/me", headers=alice.headers)
    finally:
        set_database(working)
    body = assert_problem(response, 503, "unavailable")
    assert "database" in body["detail"]
    assert response.headers["Retry-After"] == "1"
    assert client.get("/api/v1/me", headers=alice.headers).status_code == 200
