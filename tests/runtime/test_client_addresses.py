"""Forwarding headers are honoured only from trusted proxies, and sign-in limits hold per account
across addresses: rotating X-Forwarded-For, from outside or from a tenant's own run, no longer
buys fresh attempts, and a locked account's right password is refused."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from tests.api.conftest import PASSWORD, sign_up
from tests.runtime.conftest import Api, chain
from tests.support import unique
from workflow_builder.api.app import create_app
from workflow_builder.api.proxies import client_address, parse_networks
from workflow_builder.auth.service import MAX_FAILED_SIGN_INS, MAX_FAILED_SIGN_INS_PER_ACCOUNT
from workflow_builder.cli import server_config
from workflow_builder.config import Settings
from workflow_builder.db import Database, system_session


class LiveServer:
    """The API served over real HTTP on loopback, configured as `wfb api` serves it."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(server_config(create_app(settings), "127.0.0.1", self.port))
        self.server.config.log_level = "warning"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live(db: Database) -> Iterator[LiveServer]:
    """The API as deployed without a proxy (WFB_TRUSTED_PROXIES unset)."""
    server = LiveServer(Settings(trusted_proxies=""))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def behind_proxy(db: Database) -> Iterator[LiveServer]:
    """The API behind a reverse proxy on loopback (WFB_TRUSTED_PROXIES=127.0.0.1/32)."""
    server = LiveServer(Settings(trusted_proxies="127.0.0.1/32"))
    yield server
    server.stop()


def sign_in(url: str, email: str, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = httpx.post(
        f"{url}/api/v1/auth/signin",
        json={"email": email, "password": password},
        headers=headers,
        timeout=30,
    )
    return response.status_code


def rotating(i: int) -> str:
    return f"203.0.113.{i + 1}"


def test_rotating_x_forwarded_for_from_an_untrusted_peer_buys_no_attempts(
    client: Any, live: LiveServer
) -> None:
    user = sign_up(client)
    for i in range(MAX_FAILED_SIGN_INS):
        assert sign_in(live.url, user.email, "wrong password!", rotating(i)) == 401
    assert sign_in(live.url, user.email, PASSWORD, rotating(99)) == 429
    assert sign_in(live.url, user.email, PASSWORD, "for=198.51.100.7") == 429


def test_behind_a_trusted_proxy_the_account_is_held_after_failures_from_many_addresses(
    client: Any, behind_proxy: LiveServer
) -> None:
    user = sign_up(client)
    # Earlier failures, each from an address of its own (well under that address's limit)...
    with system_session() as session:
        for i in range(MAX_FAILED_SIGN_INS_PER_ACCOUNT - 2):
            session.execute(
                text(
                    "insert into sign_in_attempts (email, ip_address, succeeded) "
                    "values (:e, :ip, false)"
                ),
                {"e": user.email, "ip": rotating(i)},
            )
    # ...and the last ones through the proxy, from yet other addresses.
    assert sign_in(behind_proxy.url, user.email, "wrong password!", rotating(100)) == 401
    assert sign_in(behind_proxy.url, user.email, "wrong password!", rotating(101)) == 401
    assert sign_in(behind_proxy.url, user.email, PASSWORD, rotating(200)) == 429


def test_behind_a_trusted_proxy_each_address_has_its_own_limit(
    client: Any, behind_proxy: LiveServer
) -> None:
    user = sign_up(client)
    for _ in range(MAX_FAILED_SIGN_INS):
        assert sign_in(behind_proxy.url, user.email, "wrong password!", "203.0.113.50") == 401
    assert sign_in(behind_proxy.url, user.email, PASSWORD, "203.0.113.50") == 429
    assert sign_in(behind_proxy.url, user.email, PASSWORD, "203.0.113.51") == 200


def test_the_client_is_the_right_most_untrusted_hop() -> None:
    trusted = parse_networks("10.0.0.0/8, 127.0.0.1")
    headers = [(b"x-forwarded-for", b"1.1.1.1, 2.2.2.2, 10.1.1.1")]
    assert client_address("127.0.0.1", headers, trusted) == "2.2.2.2"
    assert client_address("192.0.2.1", headers, trusted) == "192.0.2.1"  # peer not trusted
    assert client_address("127.0.0.1", [], trusted) == "127.0.0.1"
    forwarded = [(b"forwarded", b'for="[2001:db8::1]:443";proto=https, for=10.2.2.2')]
    assert client_address("10.0.0.1", forwarded, trusted) == "2001:db8::1"
    assert client_address("127.0.0.1", [(b"x-forwarded-for", b"junk, 10.3.3.3")], trusted) == (
        "10.3.3.3"
    )
    assert client_address("127.0.0.1", headers, ()) == "127.0.0.1"
    with pytest.raises(ValueError, match="not-a-network"):
        parse_networks("10.0.0.0/8,not-a-network")


def test_a_tenant_run_cannot_unlock_an_account_by_rotating_x_forwarded_for(
    client: Any, api: Api, live: LiveServer
) -> None:
    """A workflow's http_request nodes call the API's sign-in from the API's own host (loopback,
    which these tests allow explicitly as an egress destination) with rotating headers."""
    victim = sign_up(client)

    def attempt(node_id: str, password: str, forwarded_for: str) -> dict[str, Any]:
        return {
            "id": node_id,
            "type": "activity",
            "component": {"name": "http_request"},
            "config": {
                "method": "POST",
                "url": f"{live.url}/api/v1/auth/signin",
                "headers": {"X-Forwarded-For": forwarded_for},
                "json": {"email": victim.email, "password": password},
                "expected_statuses": [200, 401, 429],
            },
            "input": {},
        }

    guesses = [attempt(f"guess{i}", f"guess-{i}", rotating(i)) for i in range(MAX_FAILED_SIGN_INS)]
    ids = [node["id"] for node in guesses]
    definition = {
        "nodes": [
            {"id": "start", "type": "trigger"},
            *guesses,
            attempt("right", PASSWORD, rotating(100)),
            {
                "id": "done",
                "type": "end",
                "config": {
                    "output": "{statuses: ["
                    + ", ".join(f"nodes.{i}.output.status" for i in [*ids, "right"])
                    + "]}"
                },
            },
        ],
        "edges": chain("start", *ids, "right", "done"),
    }
    run = api.run(definition, name=unique("wf"))
    assert run["status"] == "completed", run
    assert run["outputs"]["statuses"] == [401] * MAX_FAILED_SIGN_INS + [429]
