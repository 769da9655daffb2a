"""The product as separate processes against a private PostgreSQL server: an API process and
worker processes a test can signal, kill and start again while the database comes and goes."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.pgserver import PrivateServer

WFB = str(Path(sys.executable).with_name("wfb"))
ROOT = Path(__file__).resolve().parents[2]
SECRET = "durability-test-secret-key-long-enough-for-hs256"
PASSWORD = "correct horse battery staple"
TERMINAL = ("completed", "failed", "canceled")


class Child:
    """A `wfb` child process; its output goes to a file read when something fails."""

    def __init__(self, args: list[str], env: dict[str, str], name: str) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"wfb-{name}-", suffix=".log")  # noqa: SIM115
        self.popen = subprocess.Popen(
            args, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-6000:]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        return self.popen.wait(timeout=timeout)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=30)


class HttpApi:
    """A signed-in user of the API process."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, expect: int | None = None, **kwargs: Any) -> Any:
        for attempt in itertools.count():
            try:
                response = self.http.request(
                    method, f"/api/v1{path}", headers=self.headers, **kwargs
                )
            except httpx.ConnectError:  # never sent: safe to send again
                if attempt > 100:
                    raise
                time.sleep(0.2)
                continue
            if response.status_code == 503 and expect != 503 and attempt < 300:
                time.sleep(0.2)  # the database is away: the API says so; ask again
                continue
            if expect is not None:
                assert response.status_code == expect, (method, path, response.text)
            return response

    def deploy(self, definition: dict[str, Any], **fields: Any) -> str:
        name = f"wf-{uuid.uuid4().hex[:10]}"
        body = {"kebab_name": name, "display_name": name, "definition": definition, **fields}
        workflow_id = str(self.call("POST", "/workflows", 201, json=body).json()["id"])
        self.call("POST", f"/workflows/{workflow_id}/deploy", 200)
        return workflow_id

    def start(self, workflow_id: str, inputs: dict[str, Any] | None = None) -> str:
        response = self.call(
            "POST", f"/workflows/{workflow_id}/executions", 201, json={"inputs": inputs or {}}
        )
        return str(response.json()["id"])

    def execution(self, execution_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.call("GET", f"/executions/{execution_id}", 200).json()
        return body

    def wait(
        self, execution_id: str, *, timeout: float = 60, until: tuple[str, ...] = TERMINAL
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.execution(execution_id)
            if body["status"] in until:
                return body
            assert time.monotonic() < deadline, f"run still {body['status']}: {body}"
            time.sleep(0.1)

    def wait_for_step(
        self, execution_id: str, node_id: str, status: str, timeout: float = 60
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            steps = self.execution(execution_id)["steps"]
            if any(s["node_id"] == node_id and s["status"] == status for s in steps):
                return
            assert time.monotonic() < deadline, f"{node_id} never became {status}: {steps}"
            time.sleep(0.1)


class Stack:
    """A migrated database on a private server, an API process, and worker processes."""

    def __init__(
        self, server: PrivateServer, *, database_user: str | None = None, **worker_env: str
    ) -> None:
        """`database_user`: a login role created `IN ROLE wfb_app` that the API and workers
        connect as (migrations stay with the owner, through WFB_OWNER_DATABASE_URL)."""
        from workflow_builder.activities.registry import sync_components
        from workflow_builder.db import Database, system_session
        from workflow_builder.db.migrate import upgrade
        from workflow_builder.runtime.engines.dbos import migrate_engine

        self.server = server
        self.url = server.create_database(f"wfb_{uuid.uuid4().hex[:10]}")
        upgrade(self.url)
        migrate_engine(self.url)
        database = Database(self.url)
        with system_session(db=database) as session:
            sync_components(session)
        database.dispose()
        process_url = self.url
        if database_user is not None:
            with psycopg.connect(self.url, autocommit=True) as conn:
                if not conn.execute(
                    "select 1 from pg_roles where rolname = %s", (database_user,)
                ).fetchone():
                    conn.execute(f"create role {database_user} login in role wfb_app")
            process_url = self.url.replace("postgres@", f"{database_user}@", 1)
        self.env = {
            **os.environ,
            "DATABASE_URL": process_url,
            "WFB_OWNER_DATABASE_URL": self.url,
            "WFB_SECRET_KEY": SECRET,
            "WFB_LOG_LEVEL": "warning",
            "WFB_HEARTBEAT_SECONDS": "0.5",
            "WFB_WORKER_DEAD_AFTER_SECONDS": "3",
            "WFB_EGRESS_ALLOW": "127.0.0.1/32",
            **worker_env,
        }
        self.env.pop("WFB_WORKER_ID", None)
        self.temporal: Any = None
        if self.env.get("WFB_ENGINE") == "temporal" and "TEMPORAL_ADDRESS" not in worker_env:
            # A Temporal server of its own, as a separate installation has: its runs share
            # task queue names (the system queue) with the test session's own worker, which
            # serves another database.
            self.temporal = _own_temporal_server()
            self.env["TEMPORAL_ADDRESS"] = self.temporal[1]
        with socket_port() as port:
            self.base_url = f"http://127.0.0.1:{port}"
            self.api = Child([WFB, "api", "--port", str(port), "--no-migrate"], self.env, "api")
        self.workers: list[Child] = []
        deadline = time.monotonic() + 120
        while True:
            assert self.api.alive(), self.api.output()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, self.api.output()
            time.sleep(0.2)

    def sign_up(self) -> HttpApi:
        http = httpx.Client(base_url=self.base_url, timeout=30)
        email = f"user-{uuid.uuid4().hex[:10]}@example.test"
        response = http.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text
        body = response.json()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "update public.users set role_id = (select id from public.user_roles "
                "where name = 'developer') where id = %s",
                (body["user"]["id"],),
            )
        return HttpApi(self.base_url, body["tokens"]["access_token"])

    def start_worker(self, *args: str, wait: bool = True) -> Child:
        """Start `wfb worker` with the default (random) worker id; wait until it holds a lease."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            before = {r[0] for r in conn.execute("select executor_id from worker_leases")}
        child = Child([WFB, "worker", "--drain-seconds", "5", *args], self.env, "worker")
        self.workers.append(child)
        if wait:
            deadline = time.monotonic() + 120
            while True:
                assert child.alive(), child.output()
                with psycopg.connect(self.url, autocommit=True) as conn:
                    now = {
                        r[0]
                        for r in conn.execute(
                            "select executor_id from worker_leases where status = 'running'"
                        )
                    }
                if now - before:
                    break
                assert time.monotonic() < deadline, child.output()
                time.sleep(0.1)
        return child

    def close(self) -> None:
        """Kill every process. KEEP_LOGS=DIR copies each one's whole output into DIR (for
        looking into a failure that happens one run in many)."""
        for child in [*self.workers, self.api]:
            child.kill()
            if os.environ.get("KEEP_LOGS"):
                shutil.copy(child.log.name, os.environ["KEEP_LOGS"])
            # Shown by pytest only when the test failed: what each process said last.
            print(f"--- {child.name} (pid {child.popen.pid}): the end of its output ---")
            print(child.output())
        if self.temporal is not None:
            from workflow_builder.runtime.engines.temporal import server

            server.stop(self.temporal[0])
            shutil.rmtree(self.temporal[2], ignore_errors=True)


def _own_temporal_server() -> tuple[Any, str, Path]:
    """Start the bundled Temporal dev server on a free port: (process, address, state dir)."""
    from workflow_builder.config import Settings
    from workflow_builder.runtime.engines.temporal import server

    directory = Path(tempfile.mkdtemp(prefix="wfb-stack-temporal-"))
    with socket_port() as port:
        settings = Settings(data_dir=directory, temporal_port=port)
    process = server.start(settings, ui=False)
    return process, f"127.0.0.1:{port}", directory


@contextlib.contextmanager
def socket_port() -> Any:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port
