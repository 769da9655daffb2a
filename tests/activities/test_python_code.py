"""python_code in a real child process with real resource limits."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.activities.conftest import Call
from workflow_builder.activities.contract import ActivityError
from workflow_builder.activities.python_code import run


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
