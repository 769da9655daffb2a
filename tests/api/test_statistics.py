"""Statistics: runs over time, per-workflow durations and per-component calls, counted exactly
from real rows, visible only to their tenant, with every bad parameter named."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.api.conftest import ApiUser, assert_problem, sign_up
from tests.support import unique
from workflow_builder.db import system_session

DAY = datetime(2026, 3, 2, tzinfo=UTC)
WINDOW = {"since": "2026-03-02T00:00:00Z", "until": "2026-03-05T00:00:00Z"}


@dataclass
class Tenant:
    user: ApiUser
    project_id: str
    workflows: dict[str, str]
    component_id: str


def _post(client: TestClient, user: ApiUser, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1{path}", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _run(
    workflow_id: str,
    project_id: str | None,
    status: str,
    started_at: datetime,
    duration_ms: int | None = None,
) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "project_id": project_id,
        "status": status,
        "started_at": started_at,
        "duration_ms": duration_ms,
        "completed_at": (
            started_at + timedelta(milliseconds=duration_ms) if duration_ms is not None else None
        ),
    }


def _insert_runs(runs: list[dict[str, Any]]) -> None:
    with system_session() as session:
        session.execute(
            text(
                """insert into workflow_executions (workflow_id, project_id, status, started_at,
                     completed_at, duration_ms)
                   values (:workflow_id, :project_id, :status, :started_at, :completed_at,
                     :duration_ms)"""
            ),
            runs,
        )


def _insert_component_calls(rows: list[dict[str, Any]]) -> None:
    with system_session() as session:
        session.execute(
            text(
                """insert into activity_statistics (component_id, workflow_id, execution_count,
                     success_count, failure_count, total_duration_ms, avg_duration_ms,
                     min_duration_ms, max_duration_ms, input_tokens, output_tokens, cost_usd,
                     last_executed_at)
                   values (:component_id, :workflow_id, :count, :ok, :count - :ok, :total,
                     :total / :count, :min, :max, :input_tokens, :output_tokens, :cost, :at)"""
            ),
            rows,
        )


@pytest.fixture
def tenant(client: TestClient) -> Tenant:
    """A developer with one project, two workflows in it and one outside it, and their runs:

    - `billing` (in the project): day 1 at 09:xx two completed (100, 300 ms) and one failed
      (200 ms); day 3 at 14:00 one completed (400 ms) and one canceled (no duration).
    - `intake` (in the project): day 2 at 10:00 one running.
    - `loose` (no project): day 1 one failed (50 ms).
    - one `billing` run the day before the window, which no statistic over the window counts.
    """
    user = sign_up(client, role="developer")
    project_id = _post(client, user, "/projects", {"name": unique("stats")})["id"]
    workflows = {
        name: _post(
            client,
            user,
            "/workflows",
            {
                "kebab_name": unique(name),
                "name": name,
                **({} if name == "loose" else {"project_id": project_id}),
            },
        )["id"]
        for name in ("billing", "intake", "loose")
    }
    component_id = _post(
        client, user, "/components", {"name": unique("charge"), "type": "activity"}
    )["id"]
    billing, intake, loose = workflows["billing"], workflows["intake"], workflows["loose"]
    _insert_runs(
        [
            _run(billing, project_id, "completed", DAY + timedelta(hours=9), 100),
            _run(billing, project_id, "completed", DAY + timedelta(hours=9, minutes=20), 300),
            _run(billing, project_id, "failed", DAY + timedelta(hours=9, minutes=40), 200),
            _run(billing, project_id, "completed", DAY + timedelta(days=2, hours=14), 400),
            _run(billing, project_id, "canceled", DAY + timedelta(days=2, hours=14)),
            _run(intake, project_id, "running", DAY + timedelta(days=1, hours=10)),
            _run(loose, None, "failed", DAY + timedelta(hours=1), 50),
            _run(billing, project_id, "completed", DAY - timedelta(hours=1), 9000),
        ]
    )
    at = DAY + timedelta(days=2)
    _insert_component_calls(
        [
            {
                "component_id": component_id,
                "workflow_id": billing,
                "count": 4,
                "ok": 3,
                "total": 1000,
                "min": 100,
                "max": 400,
                "input_tokens": 1200,
                "output_tokens": 300,
                "cost": Decimal("0.012500"),
                "at": at,
            },
            {
                "component_id": component_id,
                "workflow_id": loose,
                "count": 1,
                "ok": 0,
                "total": 50,
                "min": 50,
                "max": 50,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost": Decimal("0"),
                "at": at - timedelta(days=1),
            },
            # The installation-wide row counts every tenant: never part of a user's numbers.
            {
                "component_id": component_id,
                "workflow_id": None,
                "count": 99,
                "ok": 99,
                "total": 9900,
                "min": 1,
                "max": 999,
                "input_tokens": 1,
                "output_tokens": 1,
                "cost": Decimal("9"),
                "at": at,
            },
        ]
    )
    return Tenant(user, project_id, workflows, component_id)


def _get(client: TestClient, user: ApiUser, path: str, **params: Any) -> Any:
    response = client.get(f"/api/v1/statistics{path}", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _counts(bucket: dict[str, Any]) -> tuple[int, ...]:
    return tuple(
        bucket[k] for k in ("total", "pending", "running", "completed", "failed", "canceled")
    )


def test_runs_per_day_per_status_with_the_success_rate(client: TestClient, tenant: Tenant) -> None:
    body = _get(client, tenant.user, "/runs", project_id=tenant.project_id, **WINDOW)
    assert body["window"] == {
        "since": "2026-03-02T00:00:00Z",
        "until": "2026-03-05T00:00:00Z",
        "bucket": "day",
    }
    assert [b["start"] for b in body["buckets"]] == [
        "2026-03-02T00:00:00Z",
        "2026-03-03T00:00:00Z",
        "2026-03-04T00:00:00Z",
    ]
    assert [_counts(b) for b in body["buckets"]] == [
        (3, 0, 0, 2, 1, 0),
        (1, 0, 1, 0, 0, 0),
        (2, 0, 0, 1, 0, 1),
    ]
    assert _counts(body["totals"]) == (6, 0, 1, 3, 1, 1)
    assert body["totals"]["success_rate"] == 0.75


def test_runs_per_hour_of_one_workflow(client: TestClient, tenant: Tenant) -> None:
    body = _get(
        client,
        tenant.user,
        "/runs",
        workflow_id=tenant.workflows["billing"],
        bucket="hour",
        since="2026-03-02T08:00:00Z",
        until="2026-03-02T11:00:00Z",
    )
    assert [(b["start"], b["total"], b["completed"], b["failed"]) for b in body["buckets"]] == [
        ("2026-03-02T08:00:00Z", 0, 0, 0),
        ("2026-03-02T09:00:00Z", 3, 2, 1),
        ("2026-03-02T10:00:00Z", 0, 0, 0),
    ]
    assert body["totals"]["success_rate"] == pytest.approx(2 / 3)


def test_without_a_project_filter_every_visible_run_counts(
    client: TestClient, tenant: Tenant
) -> None:
    body = _get(client, tenant.user, "/runs", **WINDOW)
    assert _counts(body["totals"]) == (7, 0, 1, 3, 2, 1)
    assert body["totals"]["success_rate"] == 0.6


def test_per_workflow_counts_and_duration_percentiles(client: TestClient, tenant: Tenant) -> None:
    body = _get(client, tenant.user, "/workflows", project_id=tenant.project_id, **WINDOW)
    assert body["window"] == {
        "since": "2026-03-02T00:00:00Z",
        "until": "2026-03-05T00:00:00Z",
        "bucket": None,
    }
    by_name = {item["name"]: item for item in body["items"]}
    assert list(by_name) == ["billing", "intake"]
    billing = by_name["billing"]
    assert billing["workflow_id"] == tenant.workflows["billing"]
    assert billing["project_id"] == tenant.project_id
    assert (billing["runs"], billing["completed"], billing["failed"], billing["canceled"]) == (
        5,
        3,
        1,
        1,
    )
    assert billing["success_rate"] == 0.75
    # Durations of the four runs that have one: 100, 200, 300, 400 ms.
    assert billing["avg_duration_ms"] == 250
    assert (billing["min_duration_ms"], billing["max_duration_ms"]) == (100, 400)
    assert billing["p50_duration_ms"] == 250
    assert billing["p95_duration_ms"] == pytest.approx(385)
    assert billing["p99_duration_ms"] == pytest.approx(397)
    intake = by_name["intake"]
    assert (intake["runs"], intake["success_rate"], intake["avg_duration_ms"]) == (1, None, None)
    assert intake["p50_duration_ms"] is None


def test_per_component_calls_tokens_and_cost(client: TestClient, tenant: Tenant) -> None:
    [in_project] = _get(client, tenant.user, "/components", project_id=tenant.project_id)
    assert in_project["component_id"] == tenant.component_id
    assert in_project["type"] == "activity"
    assert (
        in_project["execution_count"],
        in_project["success_count"],
        in_project["failure_count"],
    ) == (4, 3, 1)
    assert in_project["success_rate"] == 0.75
    assert in_project["avg_duration_ms"] == 250
    assert (in_project["min_duration_ms"], in_project["max_duration_ms"]) == (100, 400)
    assert (in_project["input_tokens"], in_project["output_tokens"]) == (1200, 300)
    assert in_project["cost_usd"] == 0.0125

    [everywhere] = _get(client, tenant.user, "/components")
    assert (everywhere["execution_count"], everywhere["failure_count"]) == (5, 2)
    assert everywhere["avg_duration_ms"] == 210
    assert (everywhere["min_duration_ms"], everywhere["max_duration_ms"]) == (50, 400)

    [loose] = _get(client, tenant.user, "/components", workflow_id=tenant.workflows["loose"])
    assert (loose["execution_count"], loose["success_rate"]) == (1, 0)


def test_another_tenant_sees_none_of_it(client: TestClient, tenant: Tenant) -> None:
    bob = sign_up(client, role="developer")
    runs = _get(client, bob, "/runs", **WINDOW)
    assert _counts(runs["totals"]) == (0, 0, 0, 0, 0, 0)
    assert runs["totals"]["success_rate"] is None
    assert _get(client, bob, "/workflows", **WINDOW)["items"] == []
    assert _get(client, bob, "/components") == []
    for path in ("/runs", "/workflows", "/components"):
        response = client.get(
            f"/api/v1/statistics{path}",
            params={"project_id": tenant.project_id},
            headers=bob.headers,
        )
        assert assert_problem(response, 404, "not-found")["detail"] == "Project was not found"
        response = client.get(
            f"/api/v1/statistics{path}",
            params={"workflow_id": tenant.workflows["billing"]},
            headers=bob.headers,
        )
        assert assert_problem(response, 404, "not-found")["detail"] == "Workflow was not found"


def test_a_long_window_is_fine_without_buckets(client: TestClient, tenant: Tenant) -> None:
    body = _get(
        client, tenant.user, "/workflows", since="2020-01-01T00:00:00Z", until="2026-03-05T00:00:00"
    )
    assert body["window"]["until"] == "2026-03-05T00:00:00Z"
    assert {item["name"]: item["runs"] for item in body["items"]} == {
        "billing": 6,
        "intake": 1,
        "loose": 1,
    }


def test_the_default_window_ends_now(client: TestClient, tenant: Tenant) -> None:
    body = _get(client, tenant.user, "/runs", bucket="hour")
    since = datetime.fromisoformat(body["window"]["since"])
    until = datetime.fromisoformat(body["window"]["until"])
    assert until - since == timedelta(hours=24)
    assert abs(datetime.now(UTC) - until) < timedelta(minutes=1)
    assert len(body["buckets"]) in (24, 25)
    assert body["totals"]["total"] == 0


@pytest.mark.parametrize(
    ("params", "loc", "message"),
    [
        (
            {"since": "2026-03-05T00:00:00Z", "until": "2026-03-02T00:00:00Z"},
            ["query", "since"],
            "since must be before until",
        ),
        (
            {"since": "2026-01-01T00:00:00Z", "until": "2026-03-05T00:00:00Z", "bucket": "hour"},
            ["query", "bucket"],
            "more than 1000 hours",
        ),
        ({"bucket": "minute"}, ["query", "bucket"], "'hour' or 'day'"),
        ({"since": "yesterday"}, ["query", "since"], "datetime"),
        ({"project_id": "not-a-uuid"}, ["query", "project_id"], "UUID"),
        ({"tests": "maybe"}, ["query", "tests"], "'include', 'exclude' or 'only'"),
    ],
)
def test_bad_parameters_are_named(
    client: TestClient, alice: ApiUser, params: dict[str, str], loc: list[str], message: str
) -> None:
    response = client.get("/api/v1/statistics/runs", params=params, headers=alice.headers)
    body = assert_problem(response, 422, "validation")
    [error] = body["errors"]
    assert error["loc"] == loc
    assert message in error["message"]


def test_statistics_need_a_signed_in_caller(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/statistics/runs"), 401)


def test_an_unknown_workflow_is_not_found(client: TestClient, alice: ApiUser) -> None:
    response = client.get(
        "/api/v1/statistics/components",
        params={"workflow_id": str(UUID(int=0))},
        headers=alice.headers,
    )
    assert assert_problem(response, 404)["detail"] == "Workflow was not found"


def _insert_test_runs(tenant: Tenant) -> None:
    """Three test runs of drafts in the window: two of `billing`, one of `intake`."""
    billing, intake = tenant.workflows["billing"], tenant.workflows["intake"]
    runs = [
        _run(billing, tenant.project_id, "completed", DAY + timedelta(hours=10), 1000),
        _run(billing, tenant.project_id, "failed", DAY + timedelta(hours=11), 5000),
        _run(intake, tenant.project_id, "completed", DAY + timedelta(days=1, hours=12), 50),
    ]
    with system_session() as session:
        session.execute(
            text(
                """insert into workflow_executions (workflow_id, project_id, status, started_at,
                     completed_at, duration_ms, is_test)
                   values (:workflow_id, :project_id, :status, :started_at, :completed_at,
                     :duration_ms, true)"""
            ),
            runs,
        )


def test_test_runs_are_counted_apart_left_out_or_alone(client: TestClient, tenant: Tenant) -> None:
    _insert_test_runs(tenant)
    scope = {"project_id": tenant.project_id, **WINDOW}

    counted = _get(client, tenant.user, "/runs", **scope)
    assert _counts(counted["totals"]) == (9, 0, 1, 5, 2, 1)
    assert counted["totals"]["test_runs"] == 3
    assert counted["test_runs_left_out"] == 0

    # Left out, the numbers are those of the deployed runs alone, and say how many were left.
    left_out = _get(client, tenant.user, "/runs", tests="exclude", **scope)
    assert _counts(left_out["totals"]) == (6, 0, 1, 3, 1, 1)
    assert left_out["totals"]["test_runs"] == 0
    assert left_out["totals"]["success_rate"] == 0.75
    assert left_out["test_runs_left_out"] == 3
    assert [_counts(b) for b in left_out["buckets"]] == [
        (3, 0, 0, 2, 1, 0),
        (1, 0, 1, 0, 0, 0),
        (2, 0, 0, 1, 0, 1),
    ]

    alone = _get(client, tenant.user, "/runs", tests="only", **scope)
    assert _counts(alone["totals"]) == (3, 0, 0, 2, 1, 0)
    assert alone["totals"]["test_runs"] == 3
    assert alone["test_runs_left_out"] == 0

    rows = {
        row["name"]: row
        for row in _get(client, tenant.user, "/workflows", tests="exclude", **scope)["items"]
    }
    billing = rows["billing"]
    assert (billing["runs"], billing["completed"], billing["failed"]) == (5, 3, 1)
    assert (billing["test_runs"], billing["test_runs_left_out"]) == (0, 2)
    # The test runs' durations (1000 and 5000 ms) are not in the percentiles.
    assert billing["max_duration_ms"] == 400
    assert billing["p50_duration_ms"] == 250
    assert (rows["intake"]["runs"], rows["intake"]["test_runs_left_out"]) == (1, 1)

    rows = {
        row["name"]: row
        for row in _get(client, tenant.user, "/workflows", tests="only", **scope)["items"]
    }
    assert (rows["billing"]["runs"], rows["billing"]["test_runs"]) == (2, 2)
    assert rows["billing"]["max_duration_ms"] == 5000
    assert (rows["intake"]["runs"], rows["intake"]["test_runs"]) == (1, 1)
