"""Property-based fuzzing of the whole OpenAPI document: for generated requests to every
operation, the API never answers 5xx, and every answer matches its documented schema, status
code and content type. Requests are authenticated with a real API key of an admin, so the
generated data reaches the services rather than stopping at the auth check."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import sign_up
from workflow_builder.api.app import create_app
from workflow_builder.db import Database

# Generated examples per operation, on top of the boundary cases schemathesis derives from
# each schema; with about 90 operations the run takes about a minute on two cores.
EXAMPLES_PER_OPERATION = 6


@pytest.fixture(scope="module")
def fuzz_key(client: TestClient) -> str:
    admin = sign_up(client, role="admin")
    created = client.post("/api/v1/api-keys", json={"name": "fuzz"}, headers=admin.headers)
    assert created.status_code == 201
    key: str = created.json()["key"]
    return key


# Loading the document needs no database; the generated calls run once the fixtures below
# have pointed the process at the test database.
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_never_fails_and_answers_as_documented(case: Any, fuzz_key: str, db: Database) -> None:
    case.call_and_validate(
        headers={"X-API-Key": fuzz_key},
        checks=[
            not_a_server_error,
            response_schema_conformance,
            status_code_conformance,
            content_type_conformance,
        ],
    )


# -- hostile values in every operation --------------------------------------------------------

HOSTILE_VALUES = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e309": "1e309",
    "NUL": '"a\\u0000b"',
    "lone surrogate": '"a\\ud800b"',
}


DOCUMENT = create_app().openapi()


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)


def _body_fields(operation: dict[str, Any]) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return sorted(schema.get("properties", {})) or ["value"]


BODY_OPERATIONS = [
    (method, path, field)
    for method, path, operation in _operations()
    if "requestBody" in operation
    for field in _body_fields(operation)[:2]
]


@pytest.mark.parametrize(("method", "path", "field"), BODY_OPERATIONS)
def test_hostile_values_in_any_body_are_a_located_422(
    client: TestClient, fuzz_key: str, method: str, path: str, field: str
) -> None:
    for name, value in HOSTILE_VALUES.items():
        response = client.request(
            method,
            _concrete(path),
            content=f'{{"{field}": {value}}}'.encode(),
            headers={"X-API-Key": fuzz_key, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (name, response.text)
        assert [e["pointer"] for e in response.json()["errors"]] == [f"/{field}"], name


QUERY_OPERATIONS = [
    (path, parameter["name"])
    for method, path, operation in _operations()
    if method == "GET"
    for parameter in operation.get("parameters", [])
    if parameter["in"] == "query" and parameter.get("schema", {}).get("type") != "boolean"
]


@pytest.mark.parametrize(("path", "name"), QUERY_OPERATIONS)
def test_nul_in_any_query_parameter_is_a_located_422(
    client: TestClient, fuzz_key: str, path: str, name: str
) -> None:
    response = client.get(_concrete(path), params={name: "a\x00b"}, headers={"X-API-Key": fuzz_key})
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [["query", name]]
