"""Listing runs: newest first, filtered, paged, with a total that is exact up to a cap."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.api.conftest import ApiUser
from tests.support import scalar, unique
from workflow_builder.db import system_session, user_session
from workflow_builder.executions import views

STATUSES = ["completed", "completed", "failed"]


def _workflow_with_runs(owner: UUID, runs: int) -> str:
    """Create a workflow of `owner` with `runs` runs, one second apart, statuses cycling."""
    with user_session(owner) as s:
        workflow = scalar(
            s,
            """insert into workflows (name, display_name, kebab_name, created_by, visibility_id,
                 status_id, task_queue_id)
               values (:k, 'W', :k, :u, public.visibility_id('private'),
                 (select id from workflow_statuses where name = 'active'),
                 (select id from task_queues where name = 'default')) returning id""",
            k=unique("listing"),
            u=owner,
        )
    with system_session() as s:
        for index in range(runs):
            scalar(
                s,
                "insert into workflow_executions (workflow_id, created_by, status, started_at) "
                "values (:w, :u, :s, now() - make_interval(secs => :i)) returning id",
                w=workflow,
                u=owner,
                s=STATUSES[index % len(STATUSES)],
                i=index,
            )
    return str(workflow)


def _list(client: TestClient, user: ApiUser, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/executions", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_pages_are_newest_first_and_carry_the_total(client: TestClient, alice: ApiUser) -> None:
    workflow = _workflow_with_runs(alice.id, 60)
    first = _list(client, alice, workflow_id=workflow, limit=50)
    assert (len(first["items"]), first["total"], first["total_exact"]) == (50, 60, True)
    started = [item["started_at"] for item in first["items"]]
    assert started == sorted(started, reverse=True)
    last = _list(client, alice, workflow_id=workflow, limit=50, offset=50)
    assert (len(last["items"]), last["total"]) == (10, 60)
    assert {i["id"] for i in first["items"]}.isdisjoint(i["id"] for i in last["items"])
    beyond = _list(client, alice, workflow_id=workflow, limit=50, offset=100)
    assert (beyond["items"], beyond["total"], beyond["total_exact"]) == ([], 60, True)


def test_a_status_filter_counts_only_its_runs(client: TestClient, alice: ApiUser) -> None:
    workflow = _workflow_with_runs(alice.id, 30)
    failed = _list(client, alice, workflow_id=workflow, status="failed", limit=5)
    assert (len(failed["items"]), failed["total"]) == (5, 10)
    assert {item["status"] for item in failed["items"]} == {"failed"}
    assert _list(client, alice, workflow_id=workflow, status="running")["total"] == 0


def test_the_total_past_the_cap_is_a_lower_bound(
    client: TestClient, alice: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow = _workflow_with_runs(alice.id, 40)
    monkeypatch.setattr(views, "COUNT_BEYOND_PAGE", 5)
    capped = _list(client, alice, workflow_id=workflow, limit=10)
    assert (len(capped["items"]), capped["total"], capped["total_exact"]) == (10, 15, False)
    near_end = _list(client, alice, workflow_id=workflow, limit=10, offset=30)
    assert (near_end["total"], near_end["total_exact"]) == (40, True)


def test_another_user_sees_none_of_the_runs(
    client: TestClient, alice: ApiUser, bob: ApiUser
) -> None:
    workflow = _workflow_with_runs(alice.id, 3)
    assert _list(client, bob, workflow_id=workflow) | {"limit": 0} == {
        "items": [],
        "total": 0,
        "total_exact": True,
        "limit": 0,
        "offset": 0,
    }


def test_runs_are_found_by_id_prefix_trigger_and_date_range(
    client: TestClient, alice: ApiUser
) -> None:
    workflow = _workflow_with_runs(alice.id, 6)
    with system_session() as s:
        s.execute(
            text(
                "update workflow_executions set trigger_kind = 'schedule' where id in "
                "(select id from workflow_executions where workflow_id = :w "
                "order by started_at desc limit 2)"
            ),
            {"w": workflow},
        )
    runs = _list(client, alice, workflow_id=workflow)["items"]
    target = runs[3]["id"]
    assert [r["id"] for r in _list(client, alice, q=target)["items"]] == [target]
    assert target in [r["id"] for r in _list(client, alice, q=target[:8].upper())["items"]]
    scheduled = _list(client, alice, workflow_id=workflow, trigger_kind="schedule")
    assert [r["id"] for r in scheduled["items"]] == [r["id"] for r in runs[:2]]
    window = _list(
        client,
        alice,
        workflow_id=workflow,
        started_after=runs[4]["started_at"],
        started_before=runs[1]["started_at"],
    )
    assert [r["id"] for r in window["items"]] == [r["id"] for r in runs[2:5]]
    bad = client.get("/api/v1/executions", params={"q": "not an id"}, headers=alice.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "q"]
