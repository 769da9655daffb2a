"""B7: how many requests/s listing executions (as an authenticated user under row-level
security, with 1,000,000 executions in the table) two `wfb api` processes serve with p99 ≤ 50 ms,
beside a minimal endpoint running the same query under the same role and claims on the same
processes and pool (api/bench_peer.py)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg

from bench.costs import cpu_seconds as tree_cpu_seconds
from bench.costs import postmaster_pid
from bench.harness import (
    Api,
    Stack,
    chain_definition,
    load,
    machine,
    progress,
    quick,
    server_url,
    update_docs,
)

SECTION = "B7 — API latency"
USERS = 3 if quick() else 10
WORKFLOWS_PER_USER = 1 if quick() else 2
# One per core, as a load balancer would spread them.
API_PROCESSES = 1 if quick() else 2
TARGET_P99_MS = 50.0
# The offered rates of the ramp (requests/s), each a window of its own for each system.
RATES = (
    [10, 20]
    if quick()
    else [10, 15, 20, 25, 32, 40, 50, 63, 80, 100, 125, 160, 200, 250, 320, 400, 500, 630, 800]
)
# A system's ramp stops after this many failed steps in a row.
FAILS_TO_STOP = 3
# The first requests of a process open its pooled connections and fill its caches.
WARM_UP_SECONDS = 0.5 if quick() else 3.0
# Clients of the closed-loop measurement (the most each system delivers), and its rounds.
PEAK_CLIENTS = 4 * API_PROCESSES
PEAK_ROUNDS = 1 if quick() else 3
SAMPLES_PER_SECOND = 200  # py-spy's, per process
PEER_PATH = "/bench/peer/executions"
PRODUCT = "product (access token)"
PEER = "peer"
PRODUCT_PATH = "/api/v1/executions"

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


def _settings() -> tuple[int, float]:
    """Return (rows, seconds per step)."""
    return (20_000, 1.0) if quick() else (1_000_000, 5.0)


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


def query_ms(database_url: str, user_id: str, runs: int = 50) -> float:
    """Return the median time (ms) of the listing's statement run as `user_id` from psycopg on
    loopback (its transaction's role and claims included)."""
    from bench.harness import percentile

    statement = listing_statement()
    samples = []
    with psycopg.connect(database_url) as conn:
        for _ in range(runs):
            began = time.perf_counter()
            _as_user(conn, user_id)
            conn.execute(statement, {"limit": 50, "offset": 0, "cap": 1050}).fetchall()
            conn.commit()
            samples.append((time.perf_counter() - began) * 1000)
    return percentile(samples, 0.5)


def listing_statement() -> str:
    """Return the statement `GET /api/v1/executions` runs without filters (page and count), in
    psycopg's parameter style."""
    from workflow_builder.api.bench_peer import _listing

    return re.sub(r":(\w+)", r"%(\1)s", _listing())


def explain(database_url: str, user_id: str) -> str:
    """Return EXPLAIN ANALYZE of the listing's statement run as `authenticated` for `user_id`."""
    with psycopg.connect(database_url) as conn:
        _as_user(conn, user_id)
        rows = conn.execute(
            f"explain (analyze, buffers off, costs off) {listing_statement()}",
            {"limit": 50, "offset": 0, "cap": 1050},
        ).fetchall()
        conn.rollback()
    return "\n".join(str(row[0]) for row in rows)


# -- the ramp -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One window of load at one offered rate."""

    rate: float
    achieved: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_sample: tuple[str, ...] = ()
    ok: int = 0

    @property
    def served(self) -> bool:
        """p99 within the target and no error."""
        return self.errors == 0 and self.p99_ms <= TARGET_P99_MS

    @classmethod
    def of(cls, rate: float, summary: dict[str, Any]) -> Step:
        """Return the step a load generator's summary describes."""
        return cls(
            rate,
            summary["rate"],
            summary["p50_ms"],
            summary["p99_ms"],
            summary["errors"],
            tuple(summary["error_sample"]),
            summary["ok"],
        )


@dataclass(frozen=True)
class System:
    """One of the two things measured: the URLs it is reached at and the headers it needs."""

    name: str
    urls: list[str]
    headers: dict[str, str]

    def window(self, rate: float, seconds: float) -> Step:
        """Offer `rate` requests/s for `seconds` and return the step."""
        summary = load(
            {
                "urls": self.urls,
                "method": "GET",
                "headers": self.headers,
                "rate": rate,
                "seconds": seconds,
                "expect": [200],
            }
        )
        step = Step.of(rate, summary)
        progress(
            f"B7 {self.name} at {rate:.0f}/s: p50 {step.p50_ms:.1f} ms, p99 {step.p99_ms:.1f} ms, "
            f"{step.achieved:.0f} req/s, {step.errors} errors"
            + (f" {list(step.error_sample)}" if step.errors else "")
        )
        return step

    def peak(self, seconds: float) -> Step:
        """Closed loop: PEAK_CLIENTS clients back to back for `seconds`; the step's achieved
        rate is the most the system delivers."""
        summary = load(
            {
                "urls": self.urls,
                "method": "GET",
                "headers": self.headers,
                "concurrency": PEAK_CLIENTS,
                "seconds": seconds,
                "expect": [200],
            }
        )
        step = Step.of(0, summary)
        progress(
            f"B7 {self.name} closed loop, {PEAK_CLIENTS} clients: {step.achieved:.0f} req/s, "
            f"p50 {step.p50_ms:.1f} ms, p99 {step.p99_ms:.1f} ms, {step.errors} errors"
        )
        return step


def best_rate(steps: list[Step]) -> float:
    """Return the highest offered rate served (p99 within the target, no error), 0 if none."""
    return max((step.rate for step in steps if step.served), default=0.0)


def ramp(systems: list[System], seconds: float) -> dict[str, list[Step]]:
    """Step every system through RATES, interleaved (at each rate one window each, the order
    alternating), each until FAILS_TO_STOP steps in a row fail."""
    steps: dict[str, list[Step]] = {system.name: [] for system in systems}
    for index, rate in enumerate(RATES):
        order = systems if index % 2 == 0 else systems[::-1]
        for system in order:
            done = steps[system.name]
            if len(done) >= FAILS_TO_STOP and not any(s.served for s in done[-FAILS_TO_STOP:]):
                continue
            done.append(system.window(rate, seconds))
    return steps


# -- CPU per request and profiles ---------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """Return the CPU time (user + system) the processes have used so far."""
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


@contextlib.contextmanager
def profiled(pids: list[int], folder: str | None, name: str) -> Iterator[list[str]]:
    """With a folder: py-spy samples `pids` (without pausing them) while the block runs, into
    collapsed stacks; yields the files written."""
    files: list[str] = []
    if not folder:
        yield files
        return
    beside = Path(sys.executable).with_name("py-spy")
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("py-spy is neither beside this Python nor on PATH")
    Path(folder).mkdir(parents=True, exist_ok=True)
    recorders = []
    for pid in pids:
        files.append(f"{folder}/b7-{name}-{pid}.txt")
        recorders.append(
            subprocess.Popen(
                [
                    *(spy, "record", "--nonblocking", "--format", "raw"),
                    *("--rate", str(SAMPLES_PER_SECOND)),
                    *("--pid", str(pid), "--output", files[-1]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    time.sleep(1.0)  # py-spy attaching
    try:
        yield files
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder in recorders:
            try:
                recorder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                recorder.kill()


# Where a sampled stack is, by the first of these (in order) that one of its frames matches.
_PARTS = [
    (
        "authentication (credential check, API-key lookup)",
        r"get_principal|_principal_from_api_key|read_token|api_key|\(jwt/",
    ),
    (
        "the transaction's role, claims and caller check",
        r"_open \(|_begin \(|begin_request|_caller|_CALLER",
    ),
    (
        "commit and giving the connection back",
        r"\bcommit\b|scope\.__exit__|__exit__ \(workflow_builder/db|_finish",
    ),
    (
        "response validation and serialization",
        r"serialize_response|dump_json|jsonable_encoder|to_json|model_validate",
    ),
    ("the listing's query (SQL round trip, rows)", r"list_executions|peer_executions"),
    (
        "thread hand-offs (anyio worker threads, waking the loop)",
        r"anyio/|to_thread|run_in_threadpool|concurrent/futures|threading\.py"
        r"|call_soon_threadsafe|_write_to_self|selectors\.py",
    ),
    ("FastAPI's dependency and parameter resolution", r"solve_dependencies"),
    (
        "HTTP parsing, routing, middleware",
        r"uvicorn/|starlette/|fastapi/|h11|httptools|telemetry|input_guard|proxies",
    ),
]


# A sample whose running frame is one of these is a thread waiting (for work, for the
# database's answer, for a socket in the event loop's C code), not using the CPU.
_WAITING = re.compile(
    r"^(Condition\.wait|Connection\.wait|Runner\.run|Event\.wait|Queue\.get|Thread\.join"
    r"|Semaphore\.acquire|\w+\.select) \("
)


def profile_table(paths: list[str]) -> tuple[list[tuple[str, float]], int]:
    """Return the share of py-spy's busy samples in each part of the request path, and their
    count (samples of a waiting thread are left out)."""
    shares: Counter[str] = Counter()
    total = 0
    for path in paths:
        if not Path(path).exists():
            continue
        for line in Path(path).read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            samples = int(count)
            frames = stack.split(";")
            if _WAITING.match(frames[-1]):
                continue
            total += samples
            part = "other"
            for name, pattern in _PARTS:
                if any(re.search(pattern, frame) for frame in frames):
                    part = name
                    break
            shares[part] += samples
    order = [name for name, _ in _PARTS] + ["other"]
    return [(name, 100 * shares[name] / total if total else 0.0) for name in order], total


def peak_rounds(
    systems: list[System], pids: list[int], postmaster: int, seconds: float, folder: str | None
) -> dict[str, dict[str, Any]]:
    """The most each system delivers (closed loop), PEAK_ROUNDS rounds interleaved, with the
    API processes' CPU ms per answered request; then (with a folder) one more round each under
    py-spy, for where that CPU goes (not counted in the rates: sampling slows the processes)."""
    found: dict[str, dict[str, Any]] = {
        system.name: {"rounds": [], "cpu_ms": [], "db_ms": [], "profile": None}
        for system in systems
    }
    for index in range(PEAK_ROUNDS):
        for system in systems if index % 2 == 0 else systems[::-1]:
            before, db_before = cpu_seconds(pids), tree_cpu_seconds(postmaster)
            step = system.peak(seconds)
            used = cpu_seconds(pids) - before
            db_used = tree_cpu_seconds(postmaster) - db_before
            found[system.name]["rounds"].append(step)
            per_request = 1000 * used / max(1, step.ok)
            found[system.name]["cpu_ms"].append(per_request)
            found[system.name]["db_ms"].append(1000 * db_used / max(1, step.ok))
            progress(
                f"B7 {system.name}: {per_request:.2f} ms of API CPU per request, "
                f"{found[system.name]['db_ms'][-1]:.2f} ms of the database's"
            )
    if folder:
        for system in systems:
            slug = re.sub(r"\W+", "-", system.name).strip("-")
            with profiled(pids, folder, slug) as files:
                step = system.peak(seconds)
            shares, busy = profile_table(files)
            found[system.name]["profile"] = (shares, busy, step.ok)
    return found


# -- measuring ----------------------------------------------------------------------------------


def _fresh_token(running: Stack, api: Api) -> None:
    """Sign `api`'s user in again (an access token lives 15 minutes; the ramps may take
    longer)."""
    from bench.harness import PASSWORD

    with psycopg.connect(running.database_url) as conn:
        row = conn.execute("select email from users where id = %s", (api.user_id,)).fetchone()
    assert row
    response = api.http.post("/api/v1/auth/signin", json={"email": row[0], "password": PASSWORD})
    response.raise_for_status()
    api.token = response.json()["access_token"]


@contextlib.contextmanager
def _stack_with_peer() -> Iterator[Stack]:
    """The product's API processes with the peer route mounted (WFB_BENCH_PEER_ROUTE=1)."""
    from bench.harness import _own_stack

    os.environ["WFB_BENCH_PEER_ROUTE"] = "1"
    try:
        # A stack of its own even in quick mode: the shared one has no peer route.
        with _own_stack(apis=API_PROCESSES) as running:
            yield running
    finally:
        os.environ.pop("WFB_BENCH_PEER_ROUTE", None)


def measure(rows: int, seconds: float) -> dict[str, Any]:
    """Build the data set and measure; return everything the section needs."""
    folder = os.environ.get("WFB_BENCH_PYSPY") or (
        tempfile.mkdtemp(prefix="wfb-b7-") if not quick() else None
    )
    with _stack_with_peer() as running:
        users = [running.sign_up() for _ in range(USERS)]
        for index, api in enumerate(users):
            project = api.project(f"b7-{index}")
            for _ in range(WORKFLOWS_PER_USER):
                api.deploy(chain_definition(1, "transform"), project)
        progress(f"B7: inserting {rows:,} executions")
        fill_seconds = fill(running.database_url, rows)
        progress(f"B7: inserted in {fill_seconds:.0f} s")
        me = users[0]
        key = me.call("POST", "/api-keys", 201, json={"name": "b7"})["key"]
        visible = count_visible(running.database_url, me.user_id)
        plan = explain(running.database_url, me.user_id)
        statement_ms = query_ms(running.database_url, me.user_id)
        pids = [process.pid for process in running.api_processes]

        def systems() -> list[System]:
            _fresh_token(running, me)
            return [
                System(
                    PRODUCT,
                    [f"{url}{PRODUCT_PATH}" for url in running.base_urls],
                    me.headers,
                ),
                System(
                    PEER,
                    [f"{url}{PEER_PATH}" for url in running.base_urls],
                    {"X-Bench-User": me.user_id},
                ),
            ]

        measured = systems()
        for system in measured:
            system.window(RATES[0], WARM_UP_SECONDS)  # opens pooled connections: not counted
        api_key = System(
            "product (API key)",
            [f"{url}{PRODUCT_PATH}" for url in running.base_urls],
            {"X-API-Key": key},
        )
        api_key.window(RATES[0], WARM_UP_SECONDS)
        postmaster = postmaster_pid(running.database_url)
        peaks = peak_rounds([*measured, api_key], pids, postmaster, seconds, folder)
        steps = ramp(systems(), seconds)
    return {
        "rows": rows,
        "visible": visible,
        "plan": plan,
        "statement_ms": statement_ms,
        "steps": steps,
        "peaks": peaks,
        "load_end": os.getloadavg()[0],
        "profiles": folder,
    }


def _ms(value: float) -> str:
    return "no answer" if value != value else f"{value:,.1f}"


def _ramp_table(steps: dict[str, list[Step]]) -> str:
    by_rate: dict[float, dict[str, Step]] = {}
    for name, done in steps.items():
        for step in done:
            by_rate.setdefault(step.rate, {})[name] = step
    lines = [
        "| offered req/s | product p50 / p99 ms | product errors | peer p50 / p99 ms "
        "| peer errors |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for rate in sorted(by_rate):
        cells = []
        for name in (PRODUCT, PEER):
            found = by_rate[rate].get(name)
            if found is None:
                cells += ["(stopped)", ""]
            else:
                mark = "" if found.served else " ✗"
                cells += [f"{_ms(found.p50_ms)} / {_ms(found.p99_ms)}{mark}", f"{found.errors}"]
        lines.append(f"| {rate:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _peak_table(peaks: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| system | req/s, median (each round) | API CPU ms per request, median "
        "| database CPU ms per request, median | p50 / p99 ms (median round) | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, found in peaks.items():
        done: list[Step] = found["rounds"]
        middle = sorted(done, key=lambda s: s.achieved)[len(done) // 2]
        rounds = ", ".join(f"{s.achieved:.0f}" for s in done)
        lines.append(
            f"| {name} | {statistics.median(s.achieved for s in done):.0f} ({rounds}) "
            f"| {statistics.median(found['cpu_ms']):.2f} "
            f"| {statistics.median(found['db_ms']):.2f} "
            f"| {_ms(middle.p50_ms)} / {_ms(middle.p99_ms)} | {sum(s.errors for s in done)} |"
        )
    return "\n".join(lines)


def _profile_table(peaks: dict[str, dict[str, Any]]) -> str:
    profiled_ = {name: found["profile"] for name, found in peaks.items() if found["profile"]}
    if not profiled_:
        return "(no profile: run with WFB_BENCH_PYSPY=<dir>)"
    rows = ["| part of the request path | " + " | ".join(profiled_) + " |"]
    rows.append("| --- |" + " ---: |" * len(profiled_))
    parts = [part for part, _ in next(iter(profiled_.values()))[0]]

    def cell(table: list[tuple[str, float]], busy: int, answered: int, index: int) -> str:
        # Busy sample time per answered request: 200 samples a second per process.
        per_request = busy / SAMPLES_PER_SECOND / max(1, answered) * 1000
        return f"{table[index][1]:.0f} % ({table[index][1] / 100 * per_request:.2f} ms)"

    for index, part in enumerate(parts):
        cells = " | ".join(cell(t, b, a, index) for t, b, a in profiled_.values())
        rows.append(f"| {part} | {cells} |")
    rows.append(
        "| busy samples per answered request (ms) | "
        + " | ".join(
            f"{b:,} / {a:,} ({b / SAMPLES_PER_SECOND / max(1, a) * 1000:.2f} ms)"
            for _, b, a in profiled_.values()
        )
        + " |"
    )
    return "\n".join(rows)


def section(found: dict[str, Any], where: str, seconds: float) -> str:
    """Return the Markdown section."""
    steps: dict[str, list[Step]] = found["steps"]
    best, peer_best = best_rate(steps[PRODUCT]), best_rate(steps[PEER])
    ceiling = (
        " (the peer served the ramp's top rate: its limit is higher)"
        if peer_best >= RATES[-1]
        else ""
    )
    if peer_best:
        ratio = best / peer_best
        verdict = f"{ratio:.2f}x the peer (target ≥ 0.5x: {'met' if ratio >= 0.5 else 'missed'})"
    else:
        verdict = (
            f"no ratio: at this run's load (load average {found['load_end']:.1f} at the end) "
            f"not even the peer held p99 ≤ {TARGET_P99_MS:.0f} ms at {RATES[0]} requests/s"
        )
    peaks: dict[str, dict[str, Any]] = found["peaks"]
    most = {name: statistics.median(s.achieved for s in f["rounds"]) for name, f in peaks.items()}
    cpu = {name: statistics.median(f["cpu_ms"]) for name, f in peaks.items()}
    most_ratio = most[PRODUCT] / most[PEER] if most[PEER] else 0.0
    return f"""## {SECTION}

`python -m bench.list_latency` — {where}; load average {found["load_end"]:.2f} at the end.

{found["rows"]:,} executions in `workflow_executions`, spread evenly over {USERS} users x
{WORKFLOWS_PER_USER} workflows (bulk-inserted with `generate_series`, then `VACUUM ANALYZE`
and `CHECKPOINT`), so the signed-in user's requests see {found["visible"]:,} of them through
row-level security. The request is `GET /api/v1/executions` (the first page of 50, newest
first, with the total) with the user's access token. Its statement takes
{found["statement_ms"]:.1f} ms (median, from psycopg on loopback, the transaction's role and
claims included).

**The peer** is a minimal FastAPI endpoint (`src/workflow_builder/api/bench_peer.py`) mounted
in the same {API_PROCESSES} `wfb api` processes, only because the benchmark starts them with
`WFB_BENCH_PEER_ROUTE=1` (never on by default): a plain `def` route that takes a connection
from the same pool, sets the same role and claim in one statement, runs the same statement and
returns its rows as JSON. It does no authentication (the user's id comes in a header): the
product's authentication is counted in the product's cost and not in the peer's.

**The ramp.** A separate load-generating process (`bench/loadgen.py`, aiohttp) offers each
rate on a fixed schedule (open loop; latency counted from when each request was due),
alternating between the {API_PROCESSES} processes (one per core, as a load balancer would
spread them): {", ".join(str(r) for r in RATES)} requests/s, one {seconds:.0f}-second window
per rate for each system, the two interleaved (the order alternating per rate); a system stops
after {FAILS_TO_STOP} failed steps in a row. A step is served when its p99 is ≤
{TARGET_P99_MS:.0f} ms with no error (✗: not served).

{_ramp_table(steps)}

Result: the product serves {best:.0f} requests/s with p99 ≤ {TARGET_P99_MS:.0f} ms, the peer
{peer_best:.0f}{ceiling}: {verdict}. At most (closed loop) the product delivers
{most[PRODUCT]:.0f} requests/s, {most_ratio:.2f}x the peer's {most[PEER]:.0f}, spending
{cpu[PRODUCT]:.2f} ms of API CPU per request against the peer's {cpu[PEER]:.2f}.

**The most each delivers**: {PEAK_CLIENTS} clients sending back to back (closed loop) for
{seconds:.0f} s, {PEAK_ROUNDS} rounds, the systems interleaved; the API processes' CPU time
(user + system, from /proc) and the PostgreSQL server's (every backend) over each round,
divided by the requests answered. The product is
also measured with an API key (`X-API-Key`) instead of the access token.

{_peak_table(peaks)}

**Where the CPU goes**: py-spy (`--nonblocking`, 200 samples/s) on both processes over one more
closed-loop round of each (not counted above), samples of a waiting thread left out, each busy
sample counted once, in the first part of this list that one of its frames belongs to; in
brackets, that share of the busy sample time per answered request (a thread runnable but
waiting for a core counts as busy, so these run high on a loaded machine;
`python -m bench.profile_summary <files>` lists the functions):

{_profile_table(peaks)}

The listing's statement as the `authenticated` role (`EXPLAIN ANALYZE`):

```
{found["plan"]}
```
"""


def main() -> None:
    """Measure and update docs/benchmarks.md."""
    rows, seconds = _settings()
    where = machine(server_url())
    found = measure(rows, seconds)
    text = section(found, where, seconds)
    print(text, flush=True)
    if found["profiles"]:
        progress(f"B7 py-spy profiles in {found['profiles']}")
    if not quick():
        update_docs(SECTION, text)


if __name__ == "__main__":
    main()
