"""`wfb up` with WFB_ENGINE=temporal and no TEMPORAL_ADDRESS: the bundled Temporal server starts
with its state in the data directory and its Web UI on the documented port, stops with `up`, and
a run waiting on a signal survives a restart of the whole thing."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import DatabaseFactory
from tests.runtime.conftest import waits_for_signal
from tests.runtime.stack import PASSWORD, SECRET, HttpApi
from tests.test_up import WFB, _free_port, _stop, _wait_for_ready

pytestmark = [pytest.mark.slow]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_up_starts_and_stops_the_bundled_temporal_server_and_runs_survive_a_restart(
    tmp_path: Path, database_factory: DatabaseFactory
) -> None:
    url = database_factory.create()
    temporal_port, ui_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"}
    env |= {
        "DATABASE_URL": url,
        "WFB_DATA_DIR": str(tmp_path),
        "WFB_SECRET_KEY": SECRET,
        "WFB_ENGINE": "temporal",
        "WFB_TEMPORAL_PORT": str(temporal_port),
        "WFB_TEMPORAL_UI_PORT": str(ui_port),
    }

    def up() -> tuple[subprocess.Popen[bytes], int]:
        port = _free_port()
        process = subprocess.Popen(
            [WFB, "up", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        _wait_for_ready(port, process, timeout=120)
        return process, port

    process, port = up()
    try:
        assert _answers(temporal_port), "the bundled Temporal server is not listening"
        assert httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=10).status_code == 200
        assert (tmp_path / "temporal.db").exists()
        base = f"http://127.0.0.1:{port}"
        email = f"user-{uuid.uuid4().hex[:10]}@example.test"
        signed = httpx.post(
            f"{base}/api/v1/auth/signup",
            json={"email": email, "password": PASSWORD},
            timeout=120,
        )
        assert signed.status_code == 201, signed.text
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "update public.users set role_id = (select id from public.user_roles "
                "where name = 'developer') where id = %s",
                (signed.json()["user"]["id"],),
            )
        token = signed.json()["tokens"]["access_token"]
        api = HttpApi(base, token)
        workflow_id = api.deploy(waits_for_signal())
        execution_id = api.start(workflow_id)
        api.wait_for_step(execution_id, "wait", "waiting", timeout=120)
        detail = api.execution(execution_id)
        assert detail["engine_url"] == (
            f"http://127.0.0.1:{ui_port}/namespaces/default/workflows/"
            f"{execution_id}/{detail['engine_run_id']}/history"
        )
    finally:
        _stop(process)
    output = process.stdout.read().decode() if process.stdout else ""
    deadline = time.monotonic() + 30
    while _answers(temporal_port):
        assert time.monotonic() < deadline, f"the Temporal server outlived `wfb up`: {output}"
        time.sleep(0.2)
    assert f"Temporal Web UI at http://127.0.0.1:{ui_port}" in output, output

    # Everything again: the run waiting on its signal is still there and finishes.
    process, port = up()
    try:
        api = HttpApi(f"http://127.0.0.1:{port}", token)
        api.call("POST", f"/executions/{execution_id}/signals/go", 202, json={"ok": True})
        assert api.wait(execution_id, timeout=120)["status"] == "completed"
    finally:
        _stop(process)
