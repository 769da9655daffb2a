"""What every runtime benchmark shares: a throw-away database, the API and worker processes,
a signed-in API client, timing helpers, peak-RSS sampling and the docs writer.

The database server is `DATABASE_URL` when set, else the local server at 127.0.0.1:5432 when
it answers, else an embedded PostgreSQL (pgserver). Each benchmark works in databases of its
own, created on that server and dropped at the end.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import itertools
import math
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
WFB = str(Path(sys.executable).with_name("wfb"))
LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-key-that-is-long-enough-for-hs256-signing"
PASSWORD = "correct horse battery staple"
TERMINAL = ("completed", "failed", "canceled")

_embedded: list[Any] = []


def quick() -> bool:
    """Return whether this is the tiny smoke version (`--quick` or WFB_BENCH_QUICK=1)."""
    return os.environ.get("WFB_BENCH_QUICK") == "1"


def progress(message: str) -> None:
    """Print one progress line."""
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


# -- numbers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """The median, minimum and maximum of a set of samples."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        """Return the spread of `samples` (at least one)."""
        if not samples:
            raise ValueError("no samples")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def cell(self, digits: int = 3, scale: float = 1.0) -> str:
        """Return 'median (min-max)' with `digits` decimals, each multiplied by `scale`."""
        m, lo, hi = (v * scale for v in (self.median, self.low, self.high))
        return f"{m:,.{digits}f} ({lo:,.{digits}f}-{hi:,.{digits}f})"


def percentile(samples: Sequence[float], share: float) -> float:
    """Return the `share` (0-1) percentile of `samples`, nearest-rank."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[rank]


# -- the machine --------------------------------------------------------------------------------


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        if found:
            return found.group(1).strip()
    return platform.processor() or "unknown CPU"


def machine(server_url: str | None = None) -> str:
    """Return one line naming the CPU, cores, RAM, Python, PostgreSQL, date and load."""
    ram = psutil.virtual_memory().total / 2**30
    pg = ""
    if server_url:
        with psycopg.connect(server_url) as conn:
            version = conn.execute("show server_version").fetchone()
        pg = f", PostgreSQL {version[0].split()[0] if version else '?'}"
    load = os.getloadavg()[0]
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now}; {_cpu_model()}, {os.cpu_count()} cores, {ram:.0f} GiB RAM; "
        f"Python {platform.python_version()}{pg}; load average {load:.2f} at start"
    )


# -- databases ----------------------------------------------------------------------------------


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def server_url() -> str:
    """Return the admin URL of the PostgreSQL server the benchmarks use."""
    explicit = os.environ.get("DATABASE_URL")
    if explicit:
        return explicit
    if _answers(LOCAL_SERVER):
        return LOCAL_SERVER
    if not _embedded:
        import pgserver

        pgdata = Path(tempfile.mkdtemp(prefix="wfb-bench-pg-"))
        _embedded.append(pgserver.get_server(pgdata, cleanup_mode="delete"))
    url: str = _embedded[0].get_uri("postgres")
    return url


def with_database(url: str, name: str) -> str:
    """Return `url` pointing at database `name`."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


_template: list[str] = []


def _migrated_template() -> str:
    """Return the name of a migrated database (made once per process) to copy stacks from."""
    if not _template:
        from workflow_builder.activities.registry import sync_components
        from workflow_builder.db import Database, system_session
        from workflow_builder.db.migrate import upgrade
        from workflow_builder.runtime.engines.dbos import migrate_engine

        admin = server_url()
        name = f"wfb_bench_template_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        atexit.register(_drop_database, admin, name)
        url = with_database(admin, name)
        upgrade(url)
        migrate_engine(url)
        database = Database(url)
        with system_session(db=database) as session:
            sync_components(session)
        database.dispose()
        _template.append(name)
    return _template[0]


def _drop_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@contextlib.contextmanager
def scratch_database(prefix: str = "wfb_bench", template: str | None = None) -> Iterator[str]:
    """Create a database on the server (empty, or a copy of `template`), yield its URL, drop
    it afterwards."""
    admin = server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        copy = f' template "{template}"' if template else ""
        conn.execute(f'create database "{name}"{copy}')
    try:
        yield with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def free_port() -> int:
    """Return a TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- processes ----------------------------------------------------------------------------------


def product_env(database_url: str, **extra: str) -> dict[str, str]:
    """Return the environment of an API or worker process against `database_url`."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "WFB_SECRET_KEY": SECRET,
        "WFB_LOG_LEVEL": "warning",
        # Benchmark workflows call peers on loopback, which the egress policy refuses by default.
        "WFB_EGRESS_ALLOW": os.environ.get("WFB_EGRESS_ALLOW", "127.0.0.0/8"),
        # The workers import the benchmark components from this checkout.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **extra,
    }


class Process:
    """A child process whose output goes to a log file (read when it fails)."""

    def __init__(self, args: list[str], env: dict[str, str], name: str) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by stop())
            prefix=f"wfb-bench-{name}-", suffix=".log"
        )
        self.popen = subprocess.Popen(
            args, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT
        )

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.popen.pid

    def output(self) -> str:
        """Return what the process printed so far."""
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def check_alive(self) -> None:
        """Raise with the process's output if it has exited."""
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.output()}")

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL if it does not exit within `timeout`."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


class PeakRss:
    """Samples the resident memory of processes (with their children) in a thread."""

    def __init__(self, pids: dict[str, int], period: float = 0.2) -> None:
        self.pids = pids
        self.period = period
        self.peak: dict[str, int] = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self, pid: int) -> int:
        try:
            process = psutil.Process(pid)
            return int(
                sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
            )
        except psutil.Error:
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], self._rss(pid))
            self._stop.wait(self.period)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def mib(self, name: str) -> float:
        """Return the peak of `name` in MiB."""
        return self.peak[name] / 2**20


# -- the product --------------------------------------------------------------------------------


@dataclass
class Api:
    """A signed-in user of the API."""

    http: httpx.Client
    token: str
    user_id: str

    @property
    def headers(self) -> dict[str, str]:
        """Return the headers authenticating as this user."""
        return {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        """Send a request under /api/v1 and return its JSON body; raise on another status."""
        response = self.http.request(method, f"/api/v1{path}", headers=self.headers, **kwargs)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def project(self, name: str) -> dict[str, Any]:
        """Create a project and return it with its task queue's id (`task_queue_id`)."""
        project: dict[str, Any] = self.call("POST", "/projects", 201, json={"name": name})
        queues = self.call("GET", "/task-queues", params={"limit": 200})
        items = queues["items"] if isinstance(queues, dict) else queues
        queue = next(q for q in items if q["name"] == project["task_queue_name"])
        project["task_queue_id"] = queue["id"]
        return project

    def limit_queue(self, project: dict[str, Any], workflows: int, activities: int) -> None:
        """Set the project's task queue limits."""
        self.call(
            "PATCH",
            f"/task-queues/{project['task_queue_id']}",
            json={"max_concurrent_workflows": workflows, "max_concurrent_activities": activities},
        )

    def component(self, name: str, implementation: str) -> None:
        """Create an activity component implemented by `bench.components:<implementation>`."""
        self.call(
            "POST",
            "/components",
            201,
            json={
                "name": name,
                "type": "activity",
                "version": "1.0.0",
                "display_name": name,
                "implementation_path": f"bench.components:{implementation}",
                "config_schema": {"type": "object"},
                "input_schema": {"type": "object"},
                "output_schema": {},
            },
        )

    def deploy(
        self, definition: dict[str, Any], project: dict[str, Any] | None = None, **fields: Any
    ) -> str:
        """Create a workflow from `definition`, deploy it and return its id."""
        name = f"bench-{uuid.uuid4().hex[:10]}"
        body = {"kebab_name": name, "display_name": name, "definition": definition, **fields}
        if project is not None:
            body["project_id"] = project["id"]
        workflow_id = str(self.call("POST", "/workflows", 201, json=body)["id"])
        self.call("POST", f"/workflows/{workflow_id}/deploy")
        return workflow_id

    def start(self, workflow_id: str, inputs: dict[str, Any] | None = None) -> str:
        """Start a run and return its execution id."""
        body = self.call(
            "POST", f"/workflows/{workflow_id}/executions", 201, json={"inputs": inputs or {}}
        )
        return str(body["id"])


@dataclass
class Stack:
    """The product running against a throw-away database: one API process and workers."""

    database_url: str
    api_processes: list[Process]
    base_urls: list[str]
    workers: list[Process] = field(default_factory=list)
    # In quick mode: one worker serving every project, shared by the benchmarks.
    shared_worker: Process | None = None

    @property
    def api_process(self) -> Process:
        """Return the first API process."""
        return self.api_processes[0]

    @property
    def base_url(self) -> str:
        """Return the first API process's URL."""
        return self.base_urls[0]

    def sign_up(self, role: str = "developer") -> Api:
        """Sign a new user up through the API and give them `role`."""
        http = httpx.Client(base_url=self.base_url, timeout=60)
        email = f"bench-{uuid.uuid4().hex[:10]}@example.test"
        response = http.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        if response.status_code != 201:
            raise RuntimeError(f"sign-up failed: {response.status_code} {response.text}")
        body = response.json()
        user_id = body["user"]["id"]
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(
                "update public.users set role_id = (select id from public.user_roles "
                "where name = %s) where id = %s",
                (role, user_id),
            )
        return Api(http, body["tokens"]["access_token"], user_id)

    def start_worker(self, project_id: str | None = None, name: str = "worker") -> Process:
        """Start a `wfb worker` for one project (None: every project) and wait until it serves.

        With a shared worker (quick mode), return it instead: it serves every project.
        """
        if self.shared_worker is not None:
            return self.shared_worker
        worker_id = f"bench-{uuid.uuid4().hex[:8]}"
        args = [WFB, "worker", "--drain-seconds", "0"]
        if project_id:
            args += ["--project", project_id]
        process = Process(args, product_env(self.database_url, WFB_WORKER_ID=worker_id), name)
        self.workers.append(process)
        # Generous: at a load average of 15 on two cores, importing the product takes a minute.
        deadline = time.monotonic() + 180
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                process.check_alive()
                row = conn.execute(
                    "select 1 from workflow_workers where worker_id like %s and status = 'running'",
                    (f"{worker_id}@%",),
                ).fetchone()
                if row:
                    return process
                time.sleep(0.1)
        raise RuntimeError(f"worker never registered:\n{process.output()}")

    def stop_workers(self) -> None:
        """Stop every worker process."""
        for process in self.workers:
            process.stop()
        self.workers.clear()


_shared: list[Stack] = []


@contextlib.contextmanager
def stack(*, apis: int = 1) -> Iterator[Stack]:
    """Yield the product running on a fresh, migrated database of its own, with `apis` API
    processes (each on a port of its own).

    In quick mode every benchmark shares one stack (started once, stopped at exit), so the
    smoke run pays the processes' start-up once; each benchmark still works as users and
    projects of its own.
    """
    if not quick():
        with _own_stack(apis=apis) as running:
            yield running
        return
    if not _shared:
        resources = contextlib.ExitStack()
        running = resources.enter_context(_own_stack(apis=1))
        # A worker for every project registers a row per existing project: make one to wait on.
        running.sign_up().project("bench-shared")
        running.shared_worker = running.start_worker(None, "shared-worker")
        running.workers.clear()
        resources.callback(running.shared_worker.stop)
        atexit.register(resources.close)
        _shared.append(running)
    try:
        yield _shared[0]
    finally:
        _shared[0].stop_workers()


@contextlib.contextmanager
def _own_stack(*, apis: int) -> Iterator[Stack]:
    from workflow_builder.db import Database, set_database

    with scratch_database(template=_migrated_template()) as url:
        database = Database(url)
        set_database(database)
        ports = [free_port() for _ in range(apis)]
        running = Stack(
            url,
            [
                Process(
                    [WFB, "api", "--port", str(port), "--no-migrate"],
                    product_env(url),
                    f"api{index}",
                )
                for index, port in enumerate(ports)
            ],
            [f"http://127.0.0.1:{port}" for port in ports],
        )
        try:
            for process, base_url in zip(running.api_processes, running.base_urls, strict=True):
                wait_healthy(process, base_url)
            yield running
        finally:
            running.stop_workers()
            for process in running.api_processes:
                process.stop()
            set_database(None)
            database.dispose()


def wait_healthy(
    process: Process, base_url: str, what: str = "the API", timeout: float = 180
) -> None:
    """Wait until `process` answers 200 on /health; fail with its output if it dies or never
    answers within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} never answered:\n{process.output()}")


# -- runs ---------------------------------------------------------------------------------------


def wait_terminal(
    conn: psycopg.Connection[Any], execution_id: str, *, poll: float = 0.002, timeout: float = 120
) -> str:
    """Poll the execution row every `poll` seconds until it is closed; return its status."""
    deadline = time.monotonic() + timeout
    query = "select status from workflow_executions where id = %s"
    while True:
        row = conn.execute(query, (execution_id,)).fetchone()
        if row and row[0] in TERMINAL:
            return str(row[0])
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {execution_id} still {row[0] if row else 'missing'}")
        time.sleep(poll)


def wait_all_closed(
    conn: psycopg.Connection[Any], workflow_id: str, count: int, *, timeout: float
) -> dict[str, int]:
    """Wait until `count` runs of `workflow_id` are closed; return the count of each status."""
    deadline = time.monotonic() + timeout
    while True:
        rows = conn.execute(
            "select status, count(*) from workflow_executions where workflow_id = %s "
            "group by status",
            (workflow_id,),
        ).fetchall()
        counts = {str(status): int(n) for status, n in rows}
        if sum(counts.get(s, 0) for s in TERMINAL) >= count:
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs of {workflow_id} not closed in time: {counts}")
        time.sleep(0.1)


def chain_definition(
    steps: int, component: str, inputs: dict[str, str] | None = None
) -> dict[str, Any]:
    """Return a definition: a trigger, `steps` sequential activity nodes, an end."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "trigger", "config": {"kind": "manual"}}]
    for index in range(steps):
        node: dict[str, Any] = {
            "id": f"s{index}",
            "type": "activity",
            "component": {"name": component},
        }
        if inputs:
            node["input"] = inputs
        nodes.append(node)
    nodes.append({"id": "end", "type": "end", "config": {}})
    ids = [n["id"] for n in nodes]
    edges = [{"id": f"{a}-{b}", "source": a, "target": b} for a, b in itertools.pairwise(ids)]
    return {"format_version": 1, "nodes": nodes, "edges": edges}


def repeat(runs: int, action: Callable[[], float], label: str) -> Spread:
    """Call `action` (which returns one sample) `runs` times; return their spread."""
    samples = []
    for index in range(runs):
        samples.append(action())
        progress(f"{label}: run {index + 1}/{runs}: {samples[-1]:.4g}")
    return Spread.of(samples)


# -- the document -------------------------------------------------------------------------------


def update_docs(title: str, text: str, path: Path = DOCS) -> None:
    """Write the section `## title` into the benchmarks document, replacing an earlier one."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text.rstrip() + "\n\n", current).rstrip() + "\n"
    else:
        updated = current.rstrip() + "\n\n" + text.rstrip() + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated, encoding="utf-8")


def load(spec: dict[str, Any]) -> dict[str, Any]:
    """Run `bench.loadgen` with `spec` in a process of its own; return its summary."""
    import json

    result = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=float(spec["seconds"]) + 120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{result.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary
