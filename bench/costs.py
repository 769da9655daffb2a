"""What a measured window costs: CPU of named processes and of the database server (read from
/proc), and the transactions the server committed (`pg_stat_database.xact_commit`).

CPU: a process's own user + system time, its waited-for children's, and its live children's,
so a child that starts or exits inside the window is counted; the database server's is its
postmaster's (every backend, the checkpointer, the WAL writer, autovacuum are its children).

Transactions: PostgreSQL publishes a backend's counters at most once a second while it works
and up to 10 s after it falls idle, so `Meter` reads the end count only after a settle
(`SETTLE_SECONDS`). What the idle processes commit anyway (queue polling, heartbeats: their
rate is measured once, over a settle with nothing running) is taken off for the settle and the
window, so the count is what the runs added. The harness's own polling of the run rows is
counted too (a few per second: small against the runs' own).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from bench.harness import quick

# PostgreSQL's PGSTAT_IDLE_INTERVAL (10 s) plus a margin.
SETTLE_SECONDS = 11.0


def settle_seconds() -> float:
    """Return how long to wait for the commit counters to settle (not at all in quick mode,
    whose figures only check the harness)."""
    return 0.0 if quick() else SETTLE_SECONDS


def cpu_seconds(pid: int) -> float:
    """Return the CPU seconds used so far by process `pid`, its children and their children
    (0 when it is gone)."""
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in process.children(recursive=True):
            try:
                own = child.cpu_times()
                total += own.user + own.system
            except psutil.Error:
                continue
        return float(total)
    except psutil.Error:
        return 0.0


_postmasters: dict[str, int] = {}


def postmaster_pid(url: str) -> int:
    """Return the process id of the PostgreSQL server behind `url` (it must run here)."""
    if url not in _postmasters:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("select pg_backend_pid()").fetchone()
            assert row is not None
            # Read while the backend still lives (it exits with the connection).
            _postmasters[url] = psutil.Process(int(row[0])).ppid()
    return _postmasters[url]


def commits(url: str, databases: Iterable[str]) -> int:
    """Return the committed transactions counted so far in `databases`."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select coalesce(sum(xact_commit), 0) from pg_stat_database where datname = any(%s)",
            (list(databases),),
        ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Cost:
    """What one window cost: CPU seconds per named group, database CPU seconds, commits."""

    cpu: Mapping[str, float]
    database_cpu: float
    commits: float
    seconds: float

    def per_run(self, runs: int) -> dict[str, float]:
        """Return CPU-ms per run of each group and of the database, and commits per run."""
        result = {f"{name}_ms": 1000 * value / runs for name, value in self.cpu.items()}
        result["database_ms"] = 1000 * self.database_cpu / runs
        result["commits"] = self.commits / runs
        return result


class Meter:
    """Measures windows on one PostgreSQL server for a fixed set of process groups.

    `groups` maps a name to a function returning the pids of that group now (their CPU is
    summed); `databases` are the databases whose commits count.
    """

    def __init__(
        self,
        admin_url: str,
        databases: Iterable[str],
        groups: Mapping[str, Callable[[], Iterable[int]]],
        profile: str | None = None,
    ) -> None:
        self.admin_url = admin_url
        self.profile = profile
        self.databases = list(databases)
        self.groups = dict(groups)
        self.postmaster = postmaster_pid(admin_url)
        self.idle_rate: float | None = None

    def _cpu(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids()) for name, pids in self.groups.items()}

    def measure(
        self, action: Callable[[], object], prepare: Callable[[], object] | None = None
    ) -> Cost:
        """Settle (the first time also measure the idle commit rate), run `prepare` (when given:
        enqueueing, whose commits count but whose CPU window has not started), run `action`,
        settle; return the cost."""
        settle = settle_seconds()
        time.sleep(settle)
        if self.idle_rate is None and settle:
            idle_start = commits(self.admin_url, self.databases)
            time.sleep(settle)
            idle_end = commits(self.admin_url, self.databases)
            self.idle_rate = max(0.0, (idle_end - idle_start) / settle)
        idle_rate = self.idle_rate or 0.0
        before = commits(self.admin_url, self.databases)
        started = time.monotonic()
        if prepare is not None:
            # Its transactions count, its CPU does not (nor the idle workers' meanwhile).
            prepare()
        cpu_before = self._cpu()
        database_before = cpu_seconds(self.postmaster)
        window_started = time.monotonic()
        with self._profiled():
            action()
        window = time.monotonic() - window_started
        elapsed = time.monotonic() - started
        cpu_after = self._cpu()
        database_after = cpu_seconds(self.postmaster)
        time.sleep(settle)
        after = commits(self.admin_url, self.databases)
        return Cost(
            {name: cpu_after[name] - cpu_before[name] for name in self.groups},
            database_after - database_before,
            max(0.0, after - before - idle_rate * (settle + elapsed)),
            window,
        )

    @contextlib.contextmanager
    def _profiled(self) -> Iterator[None]:
        """With WFB_BENCH_PYSPY=<dir> and a `profile` name: py-spy samples the "workers"
        group's processes (without pausing them) during the window, into collapsed stacks."""
        folder = os.environ.get("WFB_BENCH_PYSPY")
        if not folder or not self.profile or "workers" not in self.groups:
            yield
            return
        beside = Path(sys.executable).with_name("py-spy")
        spy = str(beside) if beside.exists() else shutil.which("py-spy")
        if spy is None:
            raise RuntimeError("WFB_BENCH_PYSPY is set but py-spy is not installed")
        Path(folder).mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%H%M%S")
        recorders = [
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--rate",
                    "50",
                    "--pid",
                    str(pid),
                    "--output",
                    f"{folder}/{self.profile}-{stamp}-{pid}.txt",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid in self.groups["workers"]()
        ]
        try:
            yield
        finally:
            for recorder in recorders:
                recorder.send_signal(signal.SIGINT)
            for recorder in recorders:
                try:
                    recorder.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    recorder.kill()


def database_name(url: str) -> str:
    """Return the database name of `url`."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    assert name
    return name
