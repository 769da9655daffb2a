"""Wire shapes of the statistics: runs over time, per workflow and per component."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

Bucket = Literal["hour", "day"]
# Which runs a statistic counts: every run, all but the test runs of drafts, or those alone.
TestRuns = Literal["include", "exclude", "only"]


class StatusCounts(BaseModel):
    """How many runs ended (or stand) in each status."""

    total: int = 0
    pending: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    test_runs: int = Field(
        default=0, description="Of the total, the test runs of drafts started from the builder."
    )


class RunBucket(StatusCounts):
    """The runs started in one hour or day."""

    start: datetime


class RunTotals(StatusCounts):
    """The runs started in the window, with their success rate."""

    success_rate: float | None = Field(
        description="completed ÷ (completed + failed); null when no run has either status."
    )


class Window(BaseModel):
    """The time window a statistic covers: [since, until), in buckets of `bucket` if any."""

    since: datetime
    until: datetime
    bucket: Bucket | None = None


class RunStatistics(BaseModel):
    """Runs over time: one bucket per hour or day of the window, and the totals."""

    window: Window
    totals: RunTotals
    buckets: list[RunBucket]
    test_runs_left_out: int = Field(
        default=0,
        description="The test runs of drafts started in the window that `tests=exclude` left "
        "out of every number above (0 otherwise).",
    )


class WorkflowStatistics(BaseModel):
    """One workflow's runs in the window: counts, success rate and durations of finished runs."""

    workflow_id: UUID
    name: str
    display_name: str | None
    project_id: UUID | None
    runs: int
    completed: int
    failed: int
    canceled: int
    test_runs: int = Field(default=0, description="Of the runs, the test runs of drafts.")
    test_runs_left_out: int = Field(
        default=0, description="The workflow's test runs that `tests=exclude` left out."
    )
    success_rate: float | None
    avg_duration_ms: float | None
    min_duration_ms: int | None
    max_duration_ms: int | None
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    p99_duration_ms: float | None


class WorkflowStatisticsPage(BaseModel):
    """Per-workflow statistics over a window."""

    window: Window
    items: list[WorkflowStatistics]


class ComponentStatistics(BaseModel):
    """One component's calls from the selected workflows, since the first call."""

    component_id: UUID
    name: str | None
    display_name: str | None
    type: str | None
    execution_count: int
    success_count: int
    failure_count: int
    success_rate: float | None
    avg_duration_ms: float | None
    min_duration_ms: int | None
    max_duration_ms: int | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    last_executed_at: datetime | None
