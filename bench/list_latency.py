"""B7: latency of listing executions as an authenticated user under row-level security, with
1,000,000 executions in the table, at 200 requests per second (open loop)."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from bench.harness import (
    Api,
    Spread,
    chain_definition,
    load,
    machine,
    progress,
    quick,
    server_url,
    stack,
    update_docs,
)

SECTION = "B7 — API latency"
USERS = 3 if quick() else 10
WORKFLOWS_PER_USER = 1 if quick() else 2
RATE = 20 if quick() else 200
# One per core: a single Python process cannot serve 200 authenticated requests/s here.
API_PROCESSES = 2
# The first requests of a process open its pooled connections and fill its caches.
WARM_UP_SECONDS = 1.0 if quick() else 3.0

# Run g goes to workflow g mod W; its status cycles with g / W, so every workflow has runs of
# every status (3 in 5 completed, 1 failed, 1 canceled).
_FILL = """
insert into workflow_executions (workflow_id, project_id, created_by, compiled_code_id, status,
  inputs, outputs, started_at, completed_at, duration_ms, trigger_kind, engine_run_id)
select w.id, w.project_id, w.created_by, w.compiled_code_id,
  (array['completed', 'completed', 'completed', 'failed', 'canceled'])
    [1 + (g / %(workflows)s) %% 5],
  jsonb_build_object('order', g), jsonb_build_object('ok', true),
  now() - make_interval(secs => g * 0.5),
  now() - make_interval(secs => g * 0.5) + interval '200 milliseconds', 200,
  (array['manual', 'webhook', 'schedule'])[1 + g %% 3], null
from generate_series(1, %(rows)s) g
join (select w.id, w.project_id, w.created_by, c.id as compiled_code_id,
        row_number() over (order by w.id) - 1 as k
      from workflows w join workflow_compiled_code c on c.workflow_id = w.id and c.is_active) w
  on w.k = g %% %(workflows)s
"""


def _settings() -> tuple[int, float, int]:
    """Return (rows, seconds per window, windows)."""
    return (20_000, 2.0, 1) if quick() else (1_000_000, 5.0, 5)


def fill(database_url: str, rows: int) -> float:
    """Insert `rows` executions spread evenly over every workflow; return the seconds it took."""
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        workflows = conn.execute("select count(*) from workflows").fetchone()
        # Building the plain indexes once after the insert is much faster than maintaining
        # them row by row; they are recreated exactly as they were.
        indexes = conn.execute(
            "select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) from pg_index i "
            "where i.indrelid = 'workflow_executions'::regclass and not i.indisprimary "
            "and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)"
        ).fetchall()
        with conn.transaction():
            for name, _ in indexes:
                conn.execute(f"drop index {name}")
            conn.execute("set local synchronous_commit = off")
            conn.execute(_FILL, {"rows": rows, "workflows": workflows[0] if workflows else 1})
            for _, definition in indexes:
                conn.execute(definition)
        conn.execute("vacuum analyze workflow_executions")
        # Write the bulk load's pages out now, not in a checkpoint during the measurement.
        conn.execute("checkpoint")
    return time.perf_counter() - started


def _as_user(conn: psycopg.Connection[Any], user_id: str) -> None:
    """Make the rest of `conn`'s transaction run as `authenticated` for `user_id`, under RLS."""
    conn.execute(
        "select set_config('role', 'authenticated', true), "
        "set_config('request.jwt.claim.sub', %s, true)",
        (user_id,),
    )


def count_visible(database_url: str, user_id: str) -> int:
    """Return how many executions `user_id` sees through row-level security."""
    with psycopg.connect(database_url) as conn:
        _as_user(conn, user_id)
        row = conn.execute("select count(*) from workflow_executions").fetchone()
        conn.rollback()
    return int(row[0]) if row else 0


def explain(database_url: str, user_id: str, query: str) -> str:
    """Return EXPLAIN ANALYZE of `query` run as `authenticated` for `user_id`."""
    with psycopg.connect(database_url) as conn:
        _as_user(conn, user_id)
        rows = conn.execute(f"explain (analyze, buffers off, costs off) {query}").fetchall()
        conn.rollback()
    return "\n".join(str(row[0]) for row in rows)


def listing_queries() -> dict[str, str]:
    """Return the SQL `GET /api/v1/executions` runs without filters: its page and its count."""
    from workflow_builder.executions.views import _COLUMNS, _VISIBLE, COUNT_BEYOND_PAGE

    return {
        "page": f"select {_COLUMNS} from workflow_executions where {_VISIBLE} "
        "order by started_at desc, id limit 50 offset 0",
        "count": f"select count(*) from (select 1 from workflow_executions where {_VISIBLE} "
        f"limit {50 + COUNT_BEYOND_PAGE}) page",
    }


def measure_windows(api: Api, base_urls: list[str], path: str, seconds: float, windows: int) -> Any:
    """Return the spread of p50 and of p99 (ms) over `windows` windows of load on `path`,
    after a warm-up window that is not counted."""

    def window_of_load(length: float) -> dict[str, Any]:
        return load(
            {
                "urls": [f"{base_url}{path}" for base_url in base_urls],
                "method": "GET",
                "headers": api.headers,
                "rate": RATE,
                "seconds": length,
                "expect": [200],
            }
        )

    warm = window_of_load(WARM_UP_SECONDS)
    progress(
        f"B7 {path} warm-up ({WARM_UP_SECONDS:.0f} s, not counted): p50 {warm['p50_ms']:.1f} ms, "
        f"p99 {warm['p99_ms']:.1f} ms, {warm['errors']} errors"
    )
    p50s, p99s, errors = [], [], 0
    for window in range(windows):
        summary = window_of_load(seconds)
        errors += summary["errors"]
        if summary["errors"]:
            progress(f"B7 errors: {summary['error_sample']}")
        p50s.append(summary["p50_ms"])
        p99s.append(summary["p99_ms"])
        progress(
            f"B7 {path} window {window + 1}/{windows}: p50 {summary['p50_ms']:.1f} ms, "
            f"p99 {summary['p99_ms']:.1f} ms, {summary['rate']:.0f} req/s, "
            f"{summary['errors']} errors"
        )
    return Spread.of(p50s), Spread.of(p99s), errors


def measure(rows: int, seconds: float, windows: int) -> dict[str, Any]:
    """Build the data set and measure; return everything the section needs."""
    with stack(apis=API_PROCESSES) as running:
        users = [running.sign_up() for _ in range(USERS)]
        workflow_ids: list[str] = []
        for index, api in enumerate(users):
            project = api.project(f"b7-{index}")
            for _ in range(WORKFLOWS_PER_USER):
                workflow_ids.append(api.deploy(chain_definition(1, "transform"), project))
        progress(f"B7: inserting {rows:,} executions")
        fill_seconds = fill(running.database_url, rows)
        progress(f"B7: inserted in {fill_seconds:.0f} s")
        me = users[0]
        visible = count_visible(running.database_url, me.user_id)
        plan = "\n\n".join(
            explain(running.database_url, me.user_id, query) for query in listing_queries().values()
        )
        results = {
            "all": measure_windows(me, running.base_urls, "/api/v1/executions", seconds, windows),
            "workflow": measure_windows(
                me,
                running.base_urls,
                f"/api/v1/executions?workflow_id={workflow_ids[0]}&status=completed",
                seconds,
                windows,
            ),
        }
    return {"rows": rows, "visible": visible, "plan": plan, "results": results}


def section(found: dict[str, Any], where: str, seconds: float) -> str:
    """Return the Markdown section."""
    lines = [
        "| request | p50 ms, median (min-max) | p99 ms, median (min-max) | errors |",
        "| --- | ---: | ---: | ---: |",
    ]
    labels = {
        "all": "`GET /api/v1/executions` (first page of 50, newest first, with total)",
        "workflow": "`GET /api/v1/executions?workflow_id=...&status=completed`",
    }
    for key, (p50, p99, errors) in found["results"].items():
        lines.append(f"| {labels[key]} | {p50.cell(1)} | {p99.cell(1)} | {errors} |")

    def p99_of(key: str) -> tuple[float, str]:
        p99, errors = found["results"][key][1].median, found["results"][key][2]
        if p99 != p99:  # nan: no request answered
            return p99, f"none: {errors:,} requests were not answered within the client's 30 s"
        return p99, f"{p99:.1f} ms"

    p99_all, p99_text = p99_of("all")
    p99_filtered, filtered_text = p99_of("workflow")
    met = "met" if p99_all <= 50 else "missed"
    filtered_met = "also within" if p99_filtered <= 50 else "outside"
    table = "\n".join(lines)
    windows = found["results"]["all"][0].count
    return f"""## {SECTION}

`python -m bench.list_latency` — {where}.

{found["rows"]:,} executions in `workflow_executions`, spread evenly over {USERS} users x
{WORKFLOWS_PER_USER} workflows (bulk-inserted with `generate_series`, then `VACUUM ANALYZE`
and `CHECKPOINT`), so the signed-in user's requests see {found["visible"]:,} of them through
row-level security. A separate load-generating process (`bench/loadgen.py`, aiohttp) sends
{RATE} requests/s on a fixed schedule (open loop; latency counted from when each request was
due), alternating between {API_PROCESSES} `wfb api` processes (one per core, as a load
balancer would spread them), in {windows} windows of {seconds:.0f} s, each request kind after a
{WARM_UP_SECONDS:.0f}-second warm-up at the same rate that is not counted (it opens the
processes' pooled connections).

{table}

Result: p99 of the listing {p99_text} (target ≤ 50 ms: {met}); filtered by workflow and
status {filtered_text}, {filtered_met} the target.

The listing's query as the `authenticated` role (`EXPLAIN ANALYZE`):

```
{found["plan"]}
```
"""


def main() -> None:
    """Measure and update docs/benchmarks.md."""
    rows, seconds, windows = _settings()
    where = machine(server_url())
    found = measure(rows, seconds, windows)
    text = section(found, where, seconds)
    print(text, flush=True)
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    main()
