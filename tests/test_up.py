"""`wfb up` on a machine with no DATABASE_URL: embedded PostgreSQL, migrations, /health and
/ready, and a stop (SIGINT or SIGTERM) that takes everything it started with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from workflow_builder.api.app import create_app
from workflow_builder.db import Database
from workflow_builder.db.migrate import head_revision

WFB = str(Path(sys.executable).with_name("wfb"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_ready(port: int, process: subprocess.Popen[bytes], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"/ready did not answer within {timeout} s")


def _run_up(data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WFB_DATABASE_URL")}
    env["WFB_DATA_DIR"] = str(data_dir)
    port = _free_port()
    process = subprocess.Popen(
        [WFB, "up", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    return process, port


def _postgres_running(data_dir: Path) -> bool:
    found = subprocess.run(
        ["pgrep", "-f", f"postgres -D {data_dir}/pgdata"], capture_output=True, check=False
    )
    return found.returncode == 0


def _database_users(data_dir: Path) -> set[str]:
    """The roles connected to the product's database on the embedded server in `data_dir`
    (found through its postmaster.pid: attaching with pgserver would keep it alive)."""
    import psycopg

    lines = (data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()
    port, socket_dir = lines[3], lines[4]
    with psycopg.connect(
        host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        rows = conn.execute(
            "select distinct usename::text from pg_stat_activity "
            "where datname = 'workflow_builder' and backend_type = 'client backend'"
        ).fetchall()
    return {row[0] for row in rows}


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
    process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_up_without_database_url_is_ready_on_embedded_postgres(tmp_path: Path) -> None:
    started = time.monotonic()
    process, port = _run_up(tmp_path)
    try:
        body = _wait_for_ready(port, process, timeout=60)
        users = _database_users(tmp_path)
    finally:
        _stop(process)
    # The API and the worker connect as the unprivileged login role, never as the superuser.
    assert users == {"wfb_runtime"}, users
    output = process.stdout.read().decode() if process.stdout else ""
    assert time.monotonic() - started < 60
    assert body["status"] == "ok"
    # A quiet start: one line to open, no hosted console to sign up for, no migration wall.
    assert output.count(f"Open http://127.0.0.1:{port}") == 1, output
    assert "console.dbos.dev" not in output and "Conductor" not in output, output
    assert "Running upgrade" not in output and "initdb" not in output, output
    assert body["database"]["schema_version"] == head_revision()
    assert (tmp_path / "pgdata" / "PG_VERSION").exists()
    assert not _postgres_running(tmp_path), "the embedded server outlived `wfb up`"

    # The data survives a restart: the second start finds the schema already in place.
    process, port = _run_up(tmp_path)
    try:
        assert _wait_for_ready(port, process, timeout=60)["status"] == "ok"
    finally:
        _stop(process)
    assert not _postgres_running(tmp_path)


@pytest.mark.slow
def test_sigterm_stops_up_and_its_embedded_postgres(tmp_path: Path) -> None:
    process, port = _run_up(tmp_path)
    try:
        _wait_for_ready(port, process, timeout=120)
        assert _postgres_running(tmp_path)
    finally:
        _stop(process, signal.SIGTERM)
    output = process.stdout.read().decode() if process.stdout else ""
    assert process.returncode == 0, output
    assert "runs handed over)" in output, output  # the worker drained and handed over
    assert not _postgres_running(tmp_path), "SIGTERM left the embedded server running"


def test_health_answers_while_the_process_is_up(db: Database) -> None:
    with TestClient(create_app()) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_reports_database_schema_version_and_engine(db: Database) -> None:
    with TestClient(create_app()) as client:
        response = client.get("/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["database"] == {
        "ok": True,
        "schema_version": head_revision(),
        "expected_version": head_revision(),
    }
    assert body["engine"]["ok"] is True


def test_ready_is_503_with_retry_after_while_the_temporal_server_is_away(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workflow_builder.config import get_settings

    monkeypatch.setenv("WFB_ENGINE", "temporal")
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{_free_port()}")  # nothing listens
    get_settings.cache_clear()
    try:
        with TestClient(create_app()) as client:
            response = client.get("/ready")
            health = client.get("/health")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["engine"]["ok"] is False
    assert health.status_code == 200
