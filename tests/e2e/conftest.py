"""Browser tests: the real app served over real HTTP, driven in Debian's Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from workflow_builder.activities.registry import sync_components
from workflow_builder.api.app import create_app
from workflow_builder.api.spa import STATIC_DIR
from workflow_builder.db import Database, system_session

CHROMIUM = os.environ.get("WFB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Chromium logs every non-2xx response as a console error; a test that provokes one on purpose
# (a 412 conflict, a 409 duplicate name) names its statuses with this marker.
HTTP_ERROR_LOG = "Failed to load resource: the server responded with a status of {status}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "expected_http_errors(*statuses): HTTP statuses the test provokes on purpose; "
        "Chromium's console errors for them do not fail the test",
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def live_server(db: Database) -> Iterator[str]:
    """The whole application on a real port, against the test database."""
    if not (STATIC_DIR / "index.html").exists():
        pytest.fail("the web app is not built: run `make install` (needs npm)")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="package")
def worker(db: Database) -> Iterator[str]:
    """A `wfb worker` process serving every project, as beside `wfb up`; return its id.

    Package-scoped: it stops when the browser tests end, so it never takes the runs of the
    tests that start workers of their own."""
    with system_session() as session:
        sync_components(session)
    worker_id = f"e2e-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("wfb")), "worker", "--drain-seconds", "1"],
        env={
            **os.environ,
            "DATABASE_URL": db.url,
            "WFB_WORKER_ID": worker_id,
            "WFB_HEARTBEAT_SECONDS": "1",
            "WFB_LOG_LEVEL": "warning",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    started = []
    for line in process.stdout:
        started.append(line)
        if "running" in line:
            break
    else:
        pytest.fail(f"the worker did not start: {''.join(started)}")
    threading.Thread(target=process.stdout.read, daemon=True).start()
    yield worker_id
    process.terminate()
    process.wait(timeout=60)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (make test installs it when run as root)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh 1280x800 page that fails the test on any console error (except the HTTP
    statuses an `expected_http_errors` marker names)."""
    marker = request.node.get_closest_marker("expected_http_errors")
    expected = {HTTP_ERROR_LOG.format(status=status) for status in (marker.args if marker else ())}
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not any(msg.text.startswith(e) for e in expected)
            else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"console errors: {errors}"
