"""Routes: runs over time, per-workflow durations and per-component calls of the caller's runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from workflow_builder.api.deps import CurrentUser, DbSession, require
from workflow_builder.statistics import service
from workflow_builder.statistics.models import (
    Bucket,
    ComponentStatistics,
    RunStatistics,
    TestRuns,
    WorkflowStatisticsPage,
)

router = APIRouter(prefix="/statistics", tags=["statistics"])

Reader = Annotated[CurrentUser, require("executions:read")]
Since = Annotated[
    datetime | None,
    Query(description="Start of the window (inclusive; UTC when no zone is given)."),
]
Until = Annotated[datetime | None, Query(description="End of the window (exclusive); default now.")]
BucketParam = Annotated[
    Bucket,
    Query(
        description="Bucket length; the default window is 24 "
        "hours for `hour` and 30 days for `day`."
    ),
]

TestsParam = Annotated[
    TestRuns,
    Query(
        description="The test runs of drafts: counted with the others (`include`), left out "
        "(`exclude`, and `test_runs_left_out` says how many) or counted alone (`only`)."
    ),
]


@router.get("/runs")
def run_statistics(
    db_session: DbSession,
    user: Reader,
    project_id: UUID | None = None,
    workflow_id: UUID | None = None,
    since: Since = None,
    until: Until = None,
    bucket: BucketParam = "day",
    tests: TestsParam = "include",
) -> RunStatistics:
    """Runs started in the window, per hour or day and status, with the success rate."""
    window = service.window(since=since, until=until, bucket=bucket)
    service.check_scope(db_session=db_session, project_id=project_id, workflow_id=workflow_id)
    return service.run_statistics(
        db_session=db_session,
        window=window,
        project_id=project_id,
        workflow_id=workflow_id,
        tests=tests,
    )


@router.get("/workflows")
def workflow_statistics(
    db_session: DbSession,
    user: Reader,
    project_id: UUID | None = None,
    workflow_id: UUID | None = None,
    since: Since = None,
    until: Until = None,
    tests: TestsParam = "include",
) -> WorkflowStatisticsPage:
    """Per workflow: runs in the window, success rate, and duration average and percentiles."""
    window = service.window(since=since, until=until, bucket=None)
    service.check_scope(db_session=db_session, project_id=project_id, workflow_id=workflow_id)
    return WorkflowStatisticsPage(
        window=window,
        items=service.workflow_statistics(
            db_session=db_session,
            window=window,
            project_id=project_id,
            workflow_id=workflow_id,
            tests=tests,
        ),
    )


@router.get("/components")
def component_statistics(
    db_session: DbSession,
    user: Reader,
    project_id: UUID | None = None,
    workflow_id: UUID | None = None,
) -> list[ComponentStatistics]:
    """Per component: calls from the selected workflows since their first run, with success,
    durations, tokens and cost."""
    service.fold_counters(db_session)
    service.check_scope(db_session=db_session, project_id=project_id, workflow_id=workflow_id)
    return service.component_statistics(
        db_session=db_session, project_id=project_id, workflow_id=workflow_id
    )
