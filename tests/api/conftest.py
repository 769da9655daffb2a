"""Fixtures for the API tests: the app over the test database and users signed up through it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.support import unique
from workflow_builder.api.app import create_app
from workflow_builder.db import Database, system_session

# A fixed key, so tests never create the generated one in the user's data directory.
os.environ.setdefault("WFB_SECRET_KEY", "test-secret-key-that-is-long-enough-for-hs256-signing")

PASSWORD = "correct horse battery staple"


@dataclass
class ApiUser:
    """A user signed up through the API, with the headers that authenticate as them."""

    id: UUID
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@pytest.fixture(scope="session")
def app(db: Database) -> FastAPI:
    return create_app()


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def sign_up(client: TestClient, *, role: str | None = None, **extra: Any) -> ApiUser:
    """Sign a new user up through the API; optionally give them `role` afterwards."""
    email = f"{unique('user')}@example.test"
    response = client.post(
        "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, **extra}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    user = ApiUser(
        id=UUID(body["user"]["id"]),
        email=email,
        access_token=body["tokens"]["access_token"],
        refresh_token=body["tokens"]["refresh_token"],
    )
    if role is not None:
        with system_session() as session:
            session.execute(
                text(
                    "update public.users set role_id = (select id from public.user_roles "
                    "where name = :role) where id = :id"
                ),
                {"role": role, "id": user.id},
            )
    return user


@pytest.fixture
def alice(client: TestClient) -> ApiUser:
    """A developer."""
    return sign_up(client, role="developer")


@pytest.fixture
def bob(client: TestClient) -> ApiUser:
    """Another developer, in no organization with alice."""
    return sign_up(client, role="developer")


@pytest.fixture
def viewer(client: TestClient) -> ApiUser:
    return sign_up(client, role="viewer")


@pytest.fixture
def admin(client: TestClient) -> ApiUser:
    return sign_up(client, role="admin")


def assert_problem(response: Any, status: int, kind: str | None = None) -> dict[str, Any]:
    """Assert `response` is a problem document with `status` (and `kind`), and return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://workflow-builder.dev/problems/")
    if kind is not None:
        assert body["type"].endswith("/" + kind), body
    return body
