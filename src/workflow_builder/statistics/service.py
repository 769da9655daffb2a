"""Statistics queries. Each runs in the caller's session, so row-level security decides which
runs, workflows and component calls count; the filters only narrow that further."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

from workflow_builder.api.errors import field_error, not_found, validation_problem
from workflow_builder.statistics.models import (
    Bucket,
    ComponentStatistics,
    RunBucket,
    RunStatistics,
    RunTotals,
    TestRuns,
    Window,
    WorkflowStatistics,
)

BUCKET_LENGTH = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
DEFAULT_SPAN = {"hour": timedelta(hours=24), "day": timedelta(days=30)}
MAX_BUCKETS = 1000

# Which runs count: `tests` is include (all), exclude (no test runs of drafts) or only.
_COUNTED = """(:tests = 'include' or (:tests = 'exclude' and not e.is_test)
  or (:tests = 'only' and e.is_test))"""

_STATUS_COUNTS = f"""count(*) filter (where {_COUNTED}) as total,
  count(*) filter (where {_COUNTED} and e.status = 'pending') as pending,
  count(*) filter (where {_COUNTED} and e.status = 'running') as running,
  count(*) filter (where {_COUNTED} and e.status = 'completed') as completed,
  count(*) filter (where {_COUNTED} and e.status = 'failed') as failed,
  count(*) filter (where {_COUNTED} and e.status = 'canceled') as canceled,
  count(*) filter (where {_COUNTED} and e.is_test) as test_runs,
  count(*) filter (where e.is_test and not {_COUNTED}) as test_runs_left_out"""

_RUN_FILTER = """e.started_at >= :since and e.started_at < :until
  and (cast(:project_id as uuid) is null or e.project_id = :project_id)
  and (cast(:workflow_id as uuid) is null or e.workflow_id = :workflow_id)"""


def fold_counters(db_session: Session) -> int:
    """Bring the counters and component statistics up to date before reading them.

    Runs record what they add as deltas in their own transactions (migration 0061);
    `wfb_fold_statistics()` moves every committed delta into `projects`,
    `workflow_compiled_code` and `activity_statistics`. Call it first in a transaction,
    before anything that locks one of those rows (folds run one at a time: a transaction
    that locked such a row and then waited for the fold lock could deadlock with a fold
    waiting for that row), so the API calls it at the start of the endpoints that answer
    with a counter, never from a service function another one may call. Returns how many
    deltas it folded.
    """
    return int(db_session.execute(text("select public.wfb_fold_statistics()")).scalar_one())


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def window(
    *,
    since: datetime | None,
    until: datetime | None,
    bucket: Bucket | None,
    now: datetime | None = None,
) -> Window:
    """Return the window [since, until): until defaults to now, since to a span before until
    (24 hours with hourly buckets, else 30 days).

    Times without a time zone are UTC. Raises a 422 naming the parameter when the window is
    empty or would need more than MAX_BUCKETS buckets.
    """
    end = _aware(until) if until is not None else (now or datetime.now(UTC))
    start = _aware(since) if since is not None else end - DEFAULT_SPAN[bucket or "day"]
    if start >= end:
        raise validation_problem([field_error(["query", "since"], "since must be before until")])
    if bucket is not None and (end - start) / BUCKET_LENGTH[bucket] > MAX_BUCKETS:
        raise validation_problem(
            [
                field_error(
                    ["query", "bucket"],
                    f"the window holds more than {MAX_BUCKETS} {bucket}s: "
                    "use a shorter window or a longer bucket",
                )
            ]
        )
    return Window(since=start, until=end, bucket=bucket)


def check_scope(*, db_session: Session, project_id: UUID | None, workflow_id: UUID | None) -> None:
    """Raise a 404 when the project or workflow filter names a row the caller cannot see."""
    if (
        project_id is not None
        and not db_session.execute(
            text("select 1 from projects where id = :id"), {"id": project_id}
        ).first()
    ):
        raise not_found("Project")
    if (
        workflow_id is not None
        and not db_session.execute(
            text("select 1 from workflows where id = :id"), {"id": workflow_id}
        ).first()
    ):
        raise not_found("Workflow")


def _success_rate(completed: int, failed: int) -> float | None:
    return completed / (completed + failed) if completed + failed else None


def run_statistics(
    *,
    db_session: Session,
    window: Window,
    project_id: UUID | None,
    workflow_id: UUID | None,
    tests: TestRuns = "include",
) -> RunStatistics:
    """Return the runs started in the window per bucket (UTC) and status, and their totals.

    `tests` counts the test runs of drafts with the others (include), leaves them out (exclude:
    `test_runs_left_out` says how many) or counts them alone (only)."""
    bucket = window.bucket or "day"
    params: dict[str, Any] = {
        "since": window.since,
        "until": window.until,
        "bucket": bucket,
        "step": f"1 {bucket}",
        "project_id": project_id,
        "workflow_id": workflow_id,
        "tests": tests,
    }
    rows = (
        db_session.execute(
            text(
                f"""with runs as (
                      select date_trunc(:bucket, e.started_at, 'UTC') as start, {_STATUS_COUNTS}
                      from workflow_executions e where {_RUN_FILTER} group by 1
                    ), slots as (
                      select generate_series(date_trunc(:bucket, cast(:since as timestamptz),
                        'UTC'), cast(:until as timestamptz) - interval '1 microsecond',
                        cast(:step as interval)) as start
                    )
                    select slots.start, coalesce(total, 0) as total,
                      coalesce(pending, 0) as pending, coalesce(running, 0) as running,
                      coalesce(completed, 0) as completed, coalesce(failed, 0) as failed,
                      coalesce(canceled, 0) as canceled, coalesce(test_runs, 0) as test_runs,
                      coalesce(test_runs_left_out, 0) as test_runs_left_out
                    from slots left join runs using (start) order by slots.start"""
            ),
            params,
        )
        .mappings()
        .all()
    )
    buckets = [RunBucket.model_validate(dict(row)) for row in rows]
    left_out = sum(row["test_runs_left_out"] for row in rows)
    totals = {
        key: sum(getattr(b, key) for b in buckets)
        for key in ("total", "pending", "running", "completed", "failed", "canceled", "test_runs")
    }
    return RunStatistics(
        window=window,
        totals=RunTotals(
            **totals, success_rate=_success_rate(totals["completed"], totals["failed"])
        ),
        buckets=buckets,
        test_runs_left_out=left_out,
    )


def workflow_statistics(
    *,
    db_session: Session,
    window: Window,
    project_id: UUID | None,
    workflow_id: UUID | None,
    tests: TestRuns = "include",
) -> list[WorkflowStatistics]:
    """Return, per workflow with runs in the window, run counts and finished-run durations
    (of the runs `tests` counts, see run_statistics)."""
    rows = db_session.execute(
        text(
            f"""select w.id as workflow_id, w.name, w.display_name, w.project_id,
                  count(*) filter (where {_COUNTED}) as runs,
                  count(*) filter (where {_COUNTED} and e.status = 'completed') as completed,
                  count(*) filter (where {_COUNTED} and e.status = 'failed') as failed,
                  count(*) filter (where {_COUNTED} and e.status = 'canceled') as canceled,
                  count(*) filter (where {_COUNTED} and e.is_test) as test_runs,
                  count(*) filter (where e.is_test and not {_COUNTED}) as test_runs_left_out,
                  avg(e.duration_ms) filter (where {_COUNTED}) as avg_duration_ms,
                  min(e.duration_ms) filter (where {_COUNTED}) as min_duration_ms,
                  max(e.duration_ms) filter (where {_COUNTED}) as max_duration_ms,
                  percentile_cont(array[0.5, 0.95, 0.99]) within group
                    (order by e.duration_ms) filter (where {_COUNTED}) as percentiles
                from workflow_executions e join workflows w on w.id = e.workflow_id
                where {_RUN_FILTER}
                group by w.id having count(*) filter (where {_COUNTED}) > 0
                order by count(*) filter (where {_COUNTED}) desc, w.name, w.id"""
        ),
        {
            "since": window.since,
            "until": window.until,
            "project_id": project_id,
            "workflow_id": workflow_id,
            "tests": tests,
        },
    ).mappings()
    result = []
    for row in rows:
        p50, p95, p99 = row["percentiles"] or (None, None, None)
        result.append(
            WorkflowStatistics(
                workflow_id=row["workflow_id"],
                name=row["name"],
                display_name=row["display_name"],
                project_id=row["project_id"],
                runs=row["runs"],
                completed=row["completed"],
                failed=row["failed"],
                canceled=row["canceled"],
                test_runs=row["test_runs"],
                test_runs_left_out=row["test_runs_left_out"],
                success_rate=_success_rate(row["completed"], row["failed"]),
                avg_duration_ms=(
                    float(row["avg_duration_ms"]) if row["avg_duration_ms"] is not None else None
                ),
                min_duration_ms=row["min_duration_ms"],
                max_duration_ms=row["max_duration_ms"],
                p50_duration_ms=p50,
                p95_duration_ms=p95,
                p99_duration_ms=p99,
            )
        )
    return result


def component_statistics(
    *, db_session: Session, project_id: UUID | None, workflow_id: UUID | None
) -> list[ComponentStatistics]:
    """Return, per component, the calls made by the selected workflows (all time), summed
    from their per-workflow `activity_statistics` rows.

    The global rows (no workflow) are left out: they count every tenant's calls.
    """
    rows = db_session.execute(
        text(
            """select a.component_id, c.name, c.display_name, t.name as type,
                  sum(a.execution_count) as execution_count,
                  sum(a.success_count) as success_count,
                  sum(a.failure_count) as failure_count,
                  sum(a.total_duration_ms) as total_duration_ms,
                  min(a.min_duration_ms) as min_duration_ms,
                  max(a.max_duration_ms) as max_duration_ms,
                  sum(a.input_tokens) as input_tokens,
                  sum(a.output_tokens) as output_tokens,
                  sum(a.cost_usd) as cost_usd,
                  max(a.last_executed_at) as last_executed_at
               from activity_statistics a
               join workflows w on w.id = a.workflow_id
               left join components c on c.id = a.component_id
               left join component_types t on t.id = c.component_type_id
               where (cast(:project_id as uuid) is null or w.project_id = :project_id)
                 and (cast(:workflow_id as uuid) is null or w.id = :workflow_id)
               group by a.component_id, c.name, c.display_name, t.name
               order by sum(a.execution_count) desc, c.name, a.component_id"""
        ),
        {"project_id": project_id, "workflow_id": workflow_id},
    ).mappings()
    return [
        ComponentStatistics(
            component_id=row["component_id"],
            name=row["name"],
            display_name=row["display_name"],
            type=row["type"],
            execution_count=row["execution_count"],
            success_count=row["success_count"],
            failure_count=row["failure_count"],
            success_rate=(
                row["success_count"] / row["execution_count"] if row["execution_count"] else None
            ),
            avg_duration_ms=(
                row["total_duration_ms"] / row["execution_count"]
                if row["execution_count"]
                else None
            ),
            min_duration_ms=row["min_duration_ms"],
            max_duration_ms=row["max_duration_ms"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cost_usd=float(row["cost_usd"]),
            last_executed_at=row["last_executed_at"],
        )
        for row in rows
    ]
