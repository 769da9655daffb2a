"""A run's durable records: history rows, statistics and the journal, written together.

What a run has done lives in three tables, always written in the same transaction:

- `execution_steps` — the history the API and the UI show: one row per node (per loop
  iteration), with its inputs, output or error, attempts and timing;
- `execution_journal` — keyed facts a replay needs besides the history: when a timer fires
  (`timer:<key>`), what the clock read (`now:<key>`), how each finished call attempt ended
  (`call:<key>#<attempt>`, which also makes its statistics count exactly once), and a wait
  that timed out (`timeout:<key>`);
- `activity_statistics` and the project's call counter, for the attempts counted in that
  transaction (by `wfb_count_calls`, which takes its locks in the one order every statement
  that changes counters keeps, so runs finishing together never deadlock).

`RunJournal` keeps what a run records between two writes and sends it in one statement,
guarded by a *fence*: an engine-specific condition that holds while this process still owns
the run (for DBOS, its ownership token on the workflow's status row, locked for the
statement). A write whose fence fails writes nothing and reports it, so a process that lost
a run can never record anything for it. Records are kept in order, one write at a time per run;
rows of one node merge (the later state wins, earlier inputs are kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workflow_builder.runtime.aio import AsyncPool
from workflow_builder.runtime.port import NodeRecord

# The metrics that statistics sum, by the activity_statistics column they go to.
INPUT_TOKENS_METRIC = "prompt_tokens"
OUTPUT_TOKENS_METRIC = "completion_tokens"
COST_METRIC = "cost_usd"

_STEP_COLUMNS = """node_id text, iteration text, node_type text, component_id uuid,
  status text, inputs jsonb, outputs jsonb, error text, metrics jsonb, attempts int,
  started_at timestamptz, completed_at timestamptz, attempt_key text"""

_WRITE = """
with fence as ({fence}),
rows as (
  select r.* from jsonb_to_recordset(cast(%(rows)s as jsonb)) as r({step_columns})
  where exists (select 1 from fence)
),
step as (
  insert into execution_steps as s (execution_id, node_id, iteration, node_type, component_id,
    status, inputs, outputs, error, metrics, attempts, started_at, completed_at, duration_ms,
    last_attempt_key)
  select %(e)s, node_id, iteration, node_type, component_id, status, inputs, outputs, error,
    metrics, coalesce(attempts, 0), coalesce(started_at, now()), completed_at,
    (extract(epoch from (completed_at - coalesce(started_at, now()))) * 1000)::int, attempt_key
  from rows
  on conflict (execution_id, node_id, iteration) do update set
    node_type = excluded.node_type,
    component_id = coalesce(excluded.component_id, s.component_id),
    status = excluded.status,
    inputs = coalesce(excluded.inputs, s.inputs),
    outputs = excluded.outputs,
    error = excluded.error,
    metrics = coalesce(excluded.metrics, s.metrics),
    attempts = greatest(s.attempts, excluded.attempts),
    completed_at = excluded.completed_at,
    duration_ms = (extract(epoch from (excluded.completed_at - s.started_at)) * 1000)::int,
    last_attempt_key = coalesce(excluded.last_attempt_key, s.last_attempt_key)
),
entries as (
  select r.* from jsonb_to_recordset(cast(%(entries)s as jsonb)) as r(key text, value jsonb)
  where exists (select 1 from fence)
),
journal as (
  insert into execution_journal (execution_id, key, value)
  select %(e)s, key, value from entries
  on conflict (execution_id, key) do nothing
),
published as (
  update workflow_executions set variables = cast(%(vars)s as jsonb)
  where id = %(e)s and %(publish)s and exists (select 1 from fence)
)
select exists (select 1 from fence) as owned
"""

# The statistics of the attempts written by _WRITE, counted once (see wfb_count_calls).
_COUNT = """
select public.wfb_count_calls(%(e)s, %(w)s, %(p)s, cast(%(calls)s as jsonb)) as counted
from ({fence}) as fence
"""

# The run closing itself: no `closed` announcement (that is for a run closed from outside).
_CLOSE = """
select public.wfb_close_own_execution(%(e)s, %(status)s, cast(%(outputs)s as jsonb),
  %(error)s) as closed
from ({fence}) as fence
"""


def dumps(value: Any) -> str:
    """Return `value` as JSON text for a jsonb parameter."""
    return json.dumps(value, default=str)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class StepRow:
    """A history row as it will be written."""

    node_id: str
    iteration: str
    node_type: str
    status: str
    component_id: str | None = None
    inputs: Any = None
    outputs: Any = None
    error: str | None = None
    metrics: Mapping[str, float] | None = None
    attempts: int | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    attempt_key: str | None = None

    @classmethod
    def of(cls, record: NodeRecord, at: datetime) -> StepRow:
        """Return the row of a node record made at `at`."""
        finished = record.status not in ("waiting", "running")
        return cls(
            node_id=record.node["id"],
            iteration=record.iteration,
            node_type=record.node["type"],
            status=record.status,
            component_id=record.component_id,
            inputs=record.inputs,
            outputs=record.outputs,
            error=record.error,
            attempts=record.attempts or None,
            started_at=record.started_at or at,
            completed_at=(record.completed_at or at) if finished else None,
        )

    def merge(self, later: StepRow) -> StepRow:
        """Return this row updated by a later state of the same node."""
        return StepRow(
            node_id=self.node_id,
            iteration=self.iteration,
            node_type=later.node_type,
            status=later.status,
            component_id=later.component_id or self.component_id,
            inputs=later.inputs if later.inputs is not None else self.inputs,
            outputs=later.outputs,
            error=later.error,
            metrics=later.metrics if later.metrics is not None else self.metrics,
            attempts=max(self.attempts or 0, later.attempts or 0),
            started_at=self.started_at or later.started_at,
            completed_at=later.completed_at,
            attempt_key=later.attempt_key or self.attempt_key,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "iteration": self.iteration,
            "node_type": self.node_type,
            "component_id": self.component_id,
            "status": self.status,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "error": self.error,
            "metrics": dict(self.metrics) if self.metrics else None,
            "attempts": self.attempts,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "attempt_key": self.attempt_key,
        }


@dataclass(frozen=True)
class CountedCall:
    """One finished call attempt for the statistics, counted once: by its journal key, or,
    for a call made in the workflow code (no key), with the first write of its node's row."""

    key: str | None
    component_id: str | None
    ok: bool
    duration_ms: int
    metrics: Mapping[str, float]
    row: tuple[str, str] | None = None  # (node id, iteration) of a call made in the workflow

    def as_json(self) -> dict[str, Any]:
        node_id, iteration = self.row or (None, None)
        return {
            "key": self.key,
            "node_id": node_id,
            "iteration": iteration,
            "component_id": self.component_id,
            "ok": int(self.ok),
            "duration": max(self.duration_ms, 0),
            "input_tokens": int(self.metrics.get(INPUT_TOKENS_METRIC, 0)),
            "output_tokens": int(self.metrics.get(OUTPUT_TOKENS_METRIC, 0)),
            "cost": float(self.metrics.get(COST_METRIC, 0)),
        }


class FenceLost(Exception):
    """This process no longer owns the run: nothing was written, and nothing more may be."""


@dataclass
class Records:
    """What a run has recorded and not written yet: history rows (merged per node), journal
    entries, finished call attempts to count, and its variables."""

    rows: dict[tuple[str, str], StepRow] = field(default_factory=dict)
    entries: dict[str, Any] = field(default_factory=dict)
    calls: list[CountedCall] = field(default_factory=list)
    variables: Mapping[str, Any] | None = None

    def keep_row(self, row: StepRow) -> None:
        where = (row.node_id, row.iteration)
        earlier = self.rows.get(where)
        self.rows[where] = earlier.merge(row) if earlier is not None else row

    def __bool__(self) -> bool:
        return bool(self.rows or self.entries or self.calls or self.variables is not None)


@dataclass(frozen=True)
class RunRef:
    """Whose records these are."""

    execution_id: str
    workflow_id: str
    project_id: str | None


NO_FENCE = "select 1"


def statements(
    run: RunRef,
    records: Records,
    *,
    fence: str = NO_FENCE,
    fence_params: Mapping[str, Any] | None = None,
    close: tuple[str, Any, str | None] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Return the statements that write `records` (and, with `close` = (status, output, error),
    close the run), to run in one transaction. The first answers `owned`; with `close`, the
    last answers `closed` (False when the run was closed already)."""
    params = {
        **(fence_params or {}),
        "e": run.execution_id,
        "w": run.workflow_id,
        "p": run.project_id,
        "rows": dumps([row.as_json() for row in records.rows.values()]),
        "entries": dumps([{"key": k, "value": v} for k, v in records.entries.items()]),
        "calls": dumps([call.as_json() for call in records.calls]),
        "vars": dumps(records.variables) if records.variables is not None else None,
        "publish": records.variables is not None,
    }
    result = [(_WRITE.format(fence=fence, step_columns=_STEP_COLUMNS), params)]
    if records.calls or close is not None:
        result.append((_COUNT.format(fence=fence), params))
    if close is not None:
        status, output, error = close
        closing = {
            **params,
            "status": status,
            "outputs": dumps(output) if output is not None else None,
            "error": error,
        }
        result.append((_CLOSE.format(fence=fence), closing))
    return result


class RunJournal:
    """What one run records, kept until its next write and sent in one transaction."""

    def __init__(
        self,
        pool: AsyncPool,
        run: RunRef,
        *,
        fence: str,
        fence_params: Mapping[str, Any],
    ) -> None:
        self.pool = pool
        self.run = run
        self.fence = fence
        self.fence_params = dict(fence_params)
        self._records = Records()
        self._lock = asyncio.Lock()
        self._soon: asyncio.Task[None] | None = None
        self.lost = False

    # -- keeping --------------------------------------------------------------------------

    def keep_row(self, row: StepRow) -> None:
        self._records.keep_row(row)

    def keep_entry(self, key: str, value: Any) -> None:
        self._records.entries.setdefault(key, value)

    def keep_call(self, call: CountedCall) -> None:
        self._records.calls.append(call)

    def keep_variables(self, variables: Mapping[str, Any]) -> None:
        self._records.variables = dict(variables)

    @property
    def pending(self) -> bool:
        return bool(self._records)

    # -- writing --------------------------------------------------------------------------

    def write_soon(self) -> None:
        """Write what is kept shortly, unless a write the run makes meanwhile takes it along.

        The pause is a few turns of the event loop: enough for the interpreter to reach its
        next durable step (which writes everything kept) after a call returns, not a timer.
        """
        if self._soon is None or self._soon.done():
            self._soon = asyncio.get_running_loop().create_task(self._write_soon())

    async def _write_soon(self) -> None:
        for _ in range(4):
            await asyncio.sleep(0)
        if self.pending and not self.lost:
            with contextlib.suppress(FenceLost):  # the run's next write reports it
                await self.write()

    async def write(self) -> None:
        """Write everything kept, fenced; raise FenceLost if the run is no longer ours."""
        async with self._lock:
            if not self.pending:
                return
            records, self._records = self._records, Records()
            results = await self.pool.transaction(
                statements(self.run, records, fence=self.fence, fence_params=self.fence_params),
                what="a run's records",
            )
            if not results[0] or not results[0][0]["owned"]:
                self.lost = True
                raise FenceLost(self.run.execution_id)

    async def close(self, status: str, output: Any, error: str | None) -> bool:
        """Write everything kept and close the run, in one transaction; return False if the
        run was closed already (by a cancel, or its parent). Raise FenceLost if not ours."""
        async with self._lock:
            records, self._records = self._records, Records()
            results = await self.pool.transaction(
                statements(
                    self.run,
                    records,
                    fence=self.fence,
                    fence_params=self.fence_params,
                    close=(status, output, error),
                ),
                what="closing a run",
            )
            written, closing = results[0], results[-1]
            if not written or not written[0]["owned"] or not closing:
                self.lost = True
                raise FenceLost(self.run.execution_id)
            return bool(closing[0]["closed"])
