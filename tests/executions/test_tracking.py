"""Statistics, tokens and cost included, stay exact when many runs record at once."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import text

from tests.support import create_user, scalar, unique
from workflow_builder.db import Database, system_session, user_session
from workflow_builder.executions.tracking import (
    StepRecord,
    execution_finished,
    execution_started,
    record_component_call,
)

RUNS = 12
STEPS_PER_RUN = 8


def _setup(db: Database) -> dict[str, Any]:
    owner = create_user(db, role="developer")
    with user_session(owner, db=db) as s:
        project = scalar(
            s,
            "insert into projects (name, created_by) values (:n, :u) returning id",
            n=unique("p"),
            u=owner,
        )
        workflow = scalar(
            s,
            """insert into workflows (name, display_name, kebab_name, created_by, visibility_id,
                 status_id, task_queue_id, project_id)
               values (:k, 'W', :k, :u, public.visibility_id('private'),
                 (select id from workflow_statuses where name = 'active'),
                 (select id from task_queues where name = 'default'), :p) returning id""",
            k=unique("stats"),
            u=owner,
            p=project,
        )
        version = scalar(
            s,
            "insert into workflow_compiled_code (workflow_id, version, "
            "workflow_code) values (:w, '1.0.0', '{}') returning id",
            w=workflow,
        )
        runs = [
            scalar(
                s,
                "insert into workflow_executions (workflow_id, project_id, compiled_code_id) "
                "values (:w, :p, :v) returning id",
                w=workflow,
                p=project,
                v=version,
            )
            for _ in range(RUNS)
        ]
    with system_session(db=db) as s:
        component = scalar(
            s,
            "insert into components (name, display_name, component_type_id, "
            "visibility_id) values (:n, 'C', (select id from component_types "
            "where name = 'activity'), public.visibility_id('public')) "
            "returning id",
            n=unique("c"),
        )
    return {
        "project": project,
        "workflow": workflow,
        "version": version,
        "runs": runs,
        "component": component,
    }


Call = tuple[int, bool, dict[str, float]]


def _run(db: Database, world: dict[str, Any], execution_id: UUID, seed: int) -> list[Call]:
    rng = random.Random(seed)
    calls = []
    with system_session(db=db) as s:
        execution_started(s, execution_id=execution_id)
    for step in range(STEPS_PER_RUN):
        duration, ok = rng.randint(1, 500), rng.random() > 0.25
        # An agent's usage; a failed call was paid for too. Other components record none.
        metrics = (
            {
                "prompt_tokens": float(rng.randint(1, 5000)),
                "completion_tokens": float(rng.randint(0, 900)),
                "cost_usd": rng.randint(0, 10**6) / 10**6,
                "latency_ms": rng.random() * 900,
            }
            if step % 2
            else {}
        )
        record = StepRecord(
            execution_id=execution_id,
            node_id=f"n{step}",
            node_type="activity",
            status="completed" if ok else "failed",
            component_id=world["component"],
            attempts=1,
            started_at=datetime.now(UTC),
            completed_at=datetime.now(UTC),
            metrics=metrics or None,
        )
        counted = []
        for _ in range(2):  # a step re-executed after a crash records the same attempt again
            with system_session(db=db) as s:
                counted.append(
                    record_component_call(
                        s,
                        record,
                        attempt_key=f"{execution_id}:{step}#1",
                        workflow_id=world["workflow"],
                        project_id=world["project"],
                        duration_ms=duration,
                        succeeded=ok,
                    )
                )
        assert counted == [True, False]
        calls.append((duration, ok, metrics))
    with system_session(db=db) as s:
        assert execution_finished(s, execution_id=execution_id, status="completed", outputs={})
        assert not execution_finished(s, execution_id=execution_id, status="failed")
    return calls


def test_counters_equal_the_sum_of_concurrent_histories(db: Database) -> None:
    world = _setup(db)
    with ThreadPoolExecutor(max_workers=6) as pool:
        histories = list(
            pool.map(
                lambda a: _run(db, world, *a), [(run, i) for i, run in enumerate(world["runs"])]
            )
        )
    calls = [call for history in histories for call in history]
    durations = [d for d, _, _ in calls]
    expected_stats = (
        len(calls),
        sum(ok for _, ok, _ in calls),
        sum(not ok for _, ok, _ in calls),
        sum(durations) // len(calls),
        min(durations),
        max(durations),
        sum(int(m.get("prompt_tokens", 0)) for _, _, m in calls),
        sum(int(m.get("completion_tokens", 0)) for _, _, m in calls),
        sum(Decimal(str(m.get("cost_usd", 0))) for _, _, m in calls),
    )
    assert expected_stats[6] > 0 and expected_stats[8] > 0
    with system_session(db=db) as s:
        stats = s.execute(
            text(
                """select workflow_id is null, execution_count, success_count, failure_count,
                      avg_duration_ms, min_duration_ms, max_duration_ms, input_tokens,
                      output_tokens, cost_usd
               from activity_statistics where component_id = :c order by 1"""
            ),
            {"c": world["component"]},
        ).all()
        assert [tuple(row[1:]) for row in stats] == [expected_stats, expected_stats]
        run_durations = (
            s.execute(
                text(
                    "select duration_ms from workflow_executions where id = any(:ids) "
                    "and status = 'completed'"
                ),
                {"ids": world["runs"]},
            )
            .scalars()
            .all()
        )
        assert len(run_durations) == RUNS
        project = s.execute(
            text(
                """select total_workflow_executions, finished_workflow_executions,
                      total_activity_executions, avg_execution_duration_ms, last_execution_at
               from projects where id = :p"""
            ),
            {"p": world["project"]},
        ).one()
        assert project[:4] == (RUNS, RUNS, len(calls), sum(run_durations) // RUNS)
        assert project.last_execution_at is not None
        version = s.execute(
            text(
                "select execution_count, avg_execution_duration_ms from workflow_compiled_code "
                "where id = :v"
            ),
            {"v": world["version"]},
        ).one()
        assert tuple(version) == (RUNS, sum(run_durations) // RUNS)
        steps = scalar(
            s,
            "select count(*) from execution_steps where execution_id = any(:ids)",
            ids=world["runs"],
        )
        assert steps == len(calls)
        recorded = (
            s.execute(
                text("select metrics from execution_steps where execution_id = any(:ids)"),
                {"ids": world["runs"]},
            )
            .scalars()
            .all()
        )
        assert sorted(json.dumps(m, sort_keys=True) for m in recorded) == sorted(
            json.dumps(m or None, sort_keys=True) for _, _, m in calls
        )
