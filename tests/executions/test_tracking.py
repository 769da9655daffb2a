"""Statistics, tokens and cost included, stay exact when many runs record at once, and every
attempt counts once however often it is recorded (a replay after a crash records it again).

The counters are changed by three database functions every runtime path goes through:
`wfb_start_execution`, `wfb_count_calls` and `wfb_close_execution`."""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import text

from tests.support import create_user, scalar, unique
from workflow_builder.db import Database, system_session, user_session

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


def _record(s: Any, world: dict[str, Any], execution_id: UUID, step: int, call: Call) -> int:
    """Record one finished call attempt as a worker does: its history row and journal entry,
    then its statistics; return how many attempts were counted."""
    duration, ok, metrics = call
    key = f"call:n{step}#1"
    s.execute(
        text(
            """insert into execution_steps (execution_id, node_id, node_type, component_id,
                 status, attempts, completed_at, duration_ms, metrics)
               values (:e, :n, 'activity', :c, :s, 1, now(), :d, cast(:m as jsonb))
               on conflict (execution_id, node_id, iteration) do nothing"""
        ),
        {
            "e": execution_id,
            "n": f"n{step}",
            "c": world["component"],
            "s": "completed" if ok else "failed",
            "d": duration,
            "m": json.dumps(metrics or None),
        },
    )
    s.execute(
        text(
            """insert into execution_journal (execution_id, key, value)
               values (:e, :k, '{}') on conflict do nothing"""
        ),
        {"e": execution_id, "k": key},
    )
    calls = [
        {
            "key": key,
            "component_id": str(world["component"]),
            "ok": int(ok),
            "duration": duration,
            "input_tokens": int(metrics.get("prompt_tokens", 0)),
            "output_tokens": int(metrics.get("completion_tokens", 0)),
            "cost": metrics.get("cost_usd", 0),
        }
    ]
    counted: int = s.execute(
        text("select public.wfb_count_calls(:e, :w, :p, cast(:calls as jsonb))"),
        {
            "e": execution_id,
            "w": world["workflow"],
            "p": world["project"],
            "calls": json.dumps(calls),
        },
    ).scalar_one()
    return counted


def _run(db: Database, world: dict[str, Any], execution_id: UUID, seed: int) -> list[Call]:
    rng = random.Random(seed)
    calls = []
    with system_session(db=db) as s:
        assert s.execute(
            text("select public.wfb_start_execution(:e)"), {"e": execution_id}
        ).scalar()
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
        call = (duration, ok, metrics)
        counted = []
        for _ in range(2):  # a replay after a crash records the same attempt again
            with system_session(db=db) as s:
                counted.append(_record(s, world, execution_id, step, call))
        assert counted == [1, 0]
        calls.append(call)
    close = text("select public.wfb_close_execution(:e, :s, '{}', null)")
    with system_session(db=db) as s:
        assert s.execute(close, {"e": execution_id, "s": "completed"}).scalar()
        assert not s.execute(close, {"e": execution_id, "s": "failed"}).scalar()
    return calls


def _fold(db: Database) -> int:
    with system_session(db=db) as s:
        return int(s.execute(text("select public.wfb_fold_statistics()")).scalar_one())


def test_counters_equal_the_sum_of_concurrent_histories(db: Database) -> None:
    """Runs record their counters and statistics as deltas while folds move them into the
    counted rows at the same time: once the last fold is done, every counter is exact."""
    world = _setup(db)
    done = threading.Event()
    folded: list[int] = []

    def fold_meanwhile() -> None:
        while not done.is_set():
            folded.append(_fold(db))

    folder = threading.Thread(target=fold_meanwhile)
    folder.start()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            histories = list(
                pool.map(
                    lambda a: _run(db, world, *a),
                    [(run, i) for i, run in enumerate(world["runs"])],
                )
            )
    finally:
        done.set()
        folder.join()
    folded.append(_fold(db))
    assert sum(folded) > folded[-1], "no fold ran while the runs recorded"
    assert _fold(db) == 0
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


def test_only_a_run_closed_from_outside_is_announced_closed(db: Database) -> None:
    """`closed` on channel wfb_run tells a run that someone else closed it (a cancel, its
    parent's terminate policy); a run closing itself announces nothing, so its close does not
    wake every worker's listener."""
    import psycopg

    world = _setup(db)
    own, outside = world["runs"][0], world["runs"][1]
    with psycopg.connect(db.url, autocommit=True) as listener:
        listener.execute("listen wfb_run")
        with system_session(db=db) as s:
            for run in (own, outside):
                assert s.execute(text("select public.wfb_start_execution(:e)"), {"e": run}).scalar()
            assert s.execute(
                text("select public.wfb_close_own_execution(:e, 'completed', '{}', null)"),
                {"e": own},
            ).scalar()
            assert s.execute(
                text("select public.wfb_close_execution(:e, 'canceled', null, 'canceled')"),
                {"e": outside},
            ).scalar()
        heard = [n.payload for n in listener.notifies(timeout=1.0)]
    assert heard == [f"closed:{outside}"], heard
    with system_session(db=db) as s:
        closed = s.execute(
            text("select id, status from workflow_executions where id = any(:ids)"),
            {"ids": [own, outside]},
        ).all()
    assert {row.id: row.status for row in closed} == {own: "completed", outside: "canceled"}


def test_deltas_of_a_deleted_workflow_or_component_fold_as_their_delete_would_have(
    db: Database,
) -> None:
    """A call counted, then its workflow deleted before the fold: the workflow keeps no
    statistics row (deleting it cascades), the component's overall row still counts the
    call. A deleted component's deltas go with it. Neither stops the fold."""
    kept, gone = _setup(db), _setup(db)
    for world in (kept, gone):
        with system_session(db=db) as s:
            s.execute(text("select public.wfb_start_execution(:e)"), {"e": world["runs"][0]})
            assert _record(s, world, world["runs"][0], 0, (40, True, {})) == 1
    with system_session(db=db) as s:
        s.execute(
            text("delete from workflow_executions where workflow_id = :w"), {"w": kept["workflow"]}
        )
        s.execute(text("delete from workflows where id = :w"), {"w": kept["workflow"]})
        s.execute(text("delete from components where id = :c"), {"c": gone["component"]})
    assert _fold(db) > 0
    with system_session(db=db) as s:
        rows = s.execute(
            text(
                """select component_id, workflow_id, execution_count from activity_statistics
                   where component_id = any(:c)"""
            ),
            {"c": [kept["component"], gone["component"]]},
        ).all()
        left = scalar(s, "select count(*) from activity_statistics_deltas")
    assert [tuple(row) for row in rows] == [(kept["component"], None, 1)], rows
    assert left == 0
