"""Property-based fuzzing of the whole OpenAPI document: for generated requests to every
operation, the API never answers 5xx, and every answer matches its documented schema, status
code and content type. Requests are authenticated with a real API key of an admin, so the
generated data reaches the services rather than stopping at the auth check."""

from __future__ import annotations

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
