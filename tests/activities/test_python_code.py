"""python_code in a real bubblewrap sandbox with real resource limits."""

from __future__ import annotations

import errno
import logging
import os
import platform
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.activities.conftest import Call
from tests.activities.fakes import EchoServer, serving
from workflow_builder.activities import egress_proxy, sandbox
from workflow_builder.activities.contract import ActivityError
from workflow_builder.activities.python_code import run
from workflow_builder.config import get_settings


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set WFB_* variables for one test; the settings are read afresh with them."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def _refusal(call: Call, config: dict[str, Any]) -> ActivityError:
    with pytest.raises(ActivityError) as caught:
        run(config, {}, call.context)
    assert not caught.value.retryable
    return caught.value


def _limit_error(call: Call, code: str, **limits: Any) -> ActivityError:
    with pytest.raises(ActivityError) as caught:
        run({"code": code, **limits}, {}, call.context)
    assert caught.value.error_type == "ResourceLimitExceeded"
    assert not caught.value.retryable
    return caught.value


def test_main_receives_the_inputs_and_its_result_and_prints_come_back(call: Call) -> None:
    code = "def main(inputs):\n    print('adding')\n    return {'sum': sum(inputs['numbers'])}\n"
    output = run({"code": code}, {"numbers": [1, 2, 3]}, call.context)
    assert output == {"result": {"sum": 6}, "stdout": "adding\n"}
    assert call.metrics["duration_ms"] > 0


def test_a_cpu_loop_hits_the_cpu_limit(call: Call) -> None:
    error = _limit_error(call, "def main(inputs):\n    while True:\n        pass\n", cpu_seconds=1)
    assert error.details["limit"] == "cpu_seconds"
    assert "cpu_seconds" in error.message


def test_a_big_allocation_hits_the_memory_limit(call: Call) -> None:
    code = "def main(inputs):\n    block = bytearray(1024 * 1024 * 1024)\n    return len(block)\n"
    error = _limit_error(call, code, memory_mb=128)
    assert error.details["limit"] == "memory_mb"


def test_a_sleep_hits_the_wall_time_limit(call: Call) -> None:
    code = "import time\n\ndef main(inputs):\n    time.sleep(60)\n"
    error = _limit_error(call, code, wall_seconds=0.5)
    assert error.details["limit"] == "wall_seconds"


def test_a_big_print_hits_the_output_limit(call: Call) -> None:
    code = "def main(inputs):\n    print('x' * 5_000_000)\n"
    error = _limit_error(call, code, max_output_bytes=10_000)
    assert error.details["limit"] == "max_output_bytes"


def test_a_big_result_hits_the_output_limit(call: Call) -> None:
    code = "def main(inputs):\n    return ['y' * 1000] * 1000\n"
    error = _limit_error(call, code, max_output_bytes=10_000)
    assert error.details["limit"] == "max_output_bytes"


def test_an_exception_reports_the_user_traceback(call: Call) -> None:
    code = (
        "def lookup(data):\n    return data['missing']\n\n"
        "def main(inputs):\n    return lookup(inputs)\n"
    )
    with pytest.raises(ActivityError) as caught:
        run({"code": code}, {}, call.context)
    error = caught.value
    assert error.error_type == "UserCodeError"
    assert not error.retryable
    assert "KeyError: 'missing'" in error.message
    assert 'File "<node code>", line 2, in lookup' in error.details["traceback"]
    assert "_python_runner" not in error.details["traceback"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("x = 1\n", "must define a function main(inputs)"),
        ("def main(inputs):\n    return object()\n", "not JSON"),
        ("def main(inputs)\n    return 1\n", "SyntaxError"),
        ("import sys\n\ndef main(inputs):\n    sys.exit(3)\n", "exit(3)"),
    ],
)
def test_code_that_cannot_produce_a_result_is_a_user_code_error(
    call: Call, code: str, expected: str
) -> None:
    with pytest.raises(ActivityError) as caught:
        run({"code": code}, {}, call.context)
    assert caught.value.error_type == "UserCodeError"
    assert expected in caught.value.message


def test_the_code_does_not_inherit_the_worker_environment(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFB_SECRET_KEY", "must-not-leak")
    code = "import os\n\ndef main(inputs):\n    return sorted(os.environ)\n"
    names = run({"code": code}, {}, call.context)["result"]
    assert "WFB_SECRET_KEY" not in names
    assert os.environ["WFB_SECRET_KEY"] == "must-not-leak"


def test_the_code_runs_as_nobody_in_an_empty_environment(call: Call) -> None:
    code = (
        "import os\n\ndef main(inputs):\n    return [os.getuid(), os.getgid(), dict(os.environ)]\n"
    )
    assert run({"code": code}, {}, call.context)["result"] == [65534, 65534, {}]


def test_a_process_limit_bounds_a_fork_bomb(call: Call) -> None:
    code = (
        "import os, time\n\n"
        "def main(inputs):\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
    )
    with pytest.raises(ActivityError) as caught:
        run({"code": code}, {}, call.context)
    assert caught.value.error_type == "UserCodeError"
    assert "BlockingIOError: [Errno 11] Resource temporarily unavailable" in caught.value.message


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the seccomp filter is x86-64's")
def test_system_calls_that_widen_the_kernel_s_attack_surface_are_refused(call: Call) -> None:
    code = (
        "import ctypes, os\n\n"
        "def main(inputs):\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    refused = {}\n"
        "    for name, number in inputs['calls'].items():\n"
        "        ctypes.set_errno(0)\n"
        "        refused[name] = [libc.syscall(number, 0, 0, 0, 0, 0), ctypes.get_errno()]\n"
        "    return [refused, os.getpid()]\n"
    )
    calls = {"ptrace": 101, "keyctl": 250, "bpf": 321, "perf_event_open": 298, "unshare": 272}
    result = run({"code": code}, {"calls": calls}, call.context)["result"]
    assert result == [{name: [-1, errno.EPERM] for name in calls}, 2]


def test_files_in_tmp_are_bounded(call: Call) -> None:
    code = (
        "def main(inputs):\n"
        "    for n in range(1000):\n"
        "        with open(f'/tmp/{n}', 'wb') as file:\n"
        "            file.write(bytes(1_000_000))\n"
    )
    error = _refusal(call, {"code": code, "memory_mb": 64, "max_output_bytes": 2_000_000})
    assert "OSError: [Errno 28] No space left on device" in error.message


def test_without_bubblewrap_the_call_is_refused_saying_what_to_install(
    call: Call, environment: pytest.MonkeyPatch
) -> None:
    environment.setenv("WFB_SANDBOX_BWRAP", "/nonexistent/bwrap")
    error = _refusal(call, {"code": "def main(inputs):\n    return 1\n"})
    assert error.error_type == "SandboxUnavailable"
    assert "bubblewrap (bwrap) not found at /nonexistent/bwrap" in error.message
    assert "apt-get install bubblewrap" in error.message
    assert "WFB_UNSAFE_CODE_EXECUTION=1" in error.message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a directory nobody may not enter")
def test_a_sandbox_bubblewrap_cannot_set_up_is_refused_with_its_reason(
    call: Call, environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir(mode=0o700)
    python = hidden / "python3"
    shutil.copy(Path("/usr/bin/python3").resolve(), python)
    environment.setenv("WFB_SANDBOX_PYTHON", str(python))
    error = _refusal(call, {"code": "def main(inputs):\n    return 1\n"})
    assert error.error_type == "SandboxUnavailable"
    assert "bubblewrap could not create the sandbox" in error.message
    assert "Permission denied" in error.message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a directory nobody may not enter")
def test_a_worker_that_cannot_build_the_sandbox_says_so_at_start(
    environment: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir(mode=0o700)
    python = hidden / "python3"
    shutil.copy(Path("/usr/bin/python3").resolve(), python)
    environment.setenv("WFB_SANDBOX_PYTHON", str(python))
    with caplog.at_level(logging.INFO, logger=sandbox.__name__):
        sandbox.announce(get_settings())
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "python_code steps will fail here" in record.message
    assert "bubblewrap could not create the sandbox" in record.message


def test_a_worker_that_can_build_the_sandbox_says_so_only_when_debugging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger=sandbox.__name__):
        sandbox.announce(get_settings())
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    assert "in a bubblewrap sandbox" in record.message


def test_the_unsafe_opt_out_runs_the_code_unconfined_as_the_worker(
    call: Call, environment: pytest.MonkeyPatch
) -> None:
    environment.setenv("WFB_UNSAFE_CODE_EXECUTION", "1")
    environment.setenv("WFB_SANDBOX_BWRAP", "/nonexistent/bwrap")
    code = "import os, sys\n\ndef main(inputs):\n    return [os.getuid(), sys.version]\n"
    result = run({"code": code}, {}, call.context)["result"]
    assert result == [os.getuid(), sys.version]


class Refused(Exception):
    """What the test policy raises (the egress policy raises its own EgressRefused)."""


def loopback_policy(allowed_port: int) -> egress_proxy.Connector:
    """An egress policy for tests: only 127.0.0.1:`allowed_port` is open."""

    def connect(host: str, port: int, timeout: float) -> socket.socket:
        if (host, port) != ("127.0.0.1", allowed_port):
            raise Refused(f"{host}:{port} is a loopback address, refused by the egress policy")
        return socket.create_connection((host, port), timeout)

    return connect


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with serving(EchoServer()) as server:
        yield server


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch, echo: EchoServer) -> None:
    port = echo.server_address[1]
    monkeypatch.setattr(egress_proxy, "policy_connector", lambda: loopback_policy(port))


FETCH = (
    "import urllib.error, urllib.request\n\n"
    "def main(inputs):\n"
    "    try:\n"
    "        return urllib.request.urlopen(inputs['url'], timeout=10).read().decode()\n"
    "    except urllib.error.HTTPError as error:\n"
    "        return [error.code, error.reason]\n"
)


def test_with_network_the_code_reaches_what_the_egress_policy_allows(
    call: Call, policy: None, echo: EchoServer
) -> None:
    result = run({"code": FETCH, "network": True}, {"url": f"{echo.url}/text"}, call.context)
    assert result["result"] == "plain words"
    assert echo.received[-1].path == "/text"


def test_with_network_a_destination_the_policy_refuses_answers_403_with_its_reason(
    call: Call, policy: None, echo: EchoServer
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{other.getsockname()[1]}/"
        result = run({"code": FETCH, "network": True}, {"url": url}, call.context)
    code, reason = result["result"]
    assert code == 403
    assert "loopback address, refused by the egress policy" in reason


def test_with_network_connect_tunnels_any_tcp_the_policy_allows(
    call: Call, policy: None, echo: EchoServer
) -> None:
    code = (
        "import socket\n\n"
        "def main(inputs):\n"
        "    with socket.create_connection(('127.0.0.1', 3128), 5) as proxy:\n"
        "        target = f\"127.0.0.1:{inputs['port']}\"\n"
        "        proxy.sendall(f'CONNECT {target} HTTP/1.1\\r\\n\\r\\n'.encode())\n"
        "        established = proxy.recv(1024).decode()\n"
        "        proxy.sendall(b'GET /text HTTP/1.0\\r\\n\\r\\n')\n"
        "        answer = b''\n"
        "        while chunk := proxy.recv(65536):\n"
        "            answer += chunk\n"
        "    return [established.split('\\r\\n')[0], answer.decode().split('\\r\\n\\r\\n')[-1]]\n"
    )
    result = run({"code": code, "network": True}, {"port": echo.server_address[1]}, call.context)
    assert result["result"] == ["HTTP/1.1 200 Connection established", "plain words"]


def test_without_network_the_same_call_finds_nothing_listening(
    call: Call, policy: None, echo: EchoServer
) -> None:
    with pytest.raises(ActivityError) as caught:
        run({"code": FETCH}, {"url": f"{echo.url}/text"}, call.context)
    assert caught.value.error_type == "UserCodeError"
    assert "[Errno 111] Connection refused" in caught.value.message
    assert echo.received == []


def test_network_without_an_egress_policy_is_refused_naming_the_setting(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(egress_proxy, "policy_connector", lambda: None)
    error = _refusal(call, {"code": "def main(inputs):\n    return 1\n", "network": True})
    assert error.error_type == "NetworkNotAvailable"
    assert error.details["field"] == "network"


@pytest.mark.skipif(
    egress_proxy.policy_connector() is None, reason="needs the egress policy module"
)
def test_with_network_the_installation_s_egress_policy_decides(
    call: Call, environment: pytest.MonkeyPatch, echo: EchoServer
) -> None:
    environment.setenv("WFB_EGRESS_ALLOW", f"127.0.0.1:{echo.server_address[1]}")
    allowed = run({"code": FETCH, "network": True}, {"url": f"{echo.url}/text"}, call.context)
    assert allowed["result"] == "plain words"
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{other.getsockname()[1]}/"
        refused = run({"code": FETCH, "network": True}, {"url": url}, call.context)
    assert refused["result"][0] == 403
    assert "loopback" in refused["result"][1]
