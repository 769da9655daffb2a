"""http_request against a real local HTTP server."""

from __future__ import annotations

import socket

import pytest

from tests.activities.conftest import Call
from tests.activities.fakes import EchoServer
from workflow_builder.activities.contract import ActivityError
from workflow_builder.activities.http_request import run


def test_get_sends_query_and_secret_header_and_parses_json(
    echo_server: EchoServer, call: Call
) -> None:
    call.secrets.secrets["API_TOKEN"] = "tok-123456"
    config = {
        "url": f"{echo_server.url}/items",
        "headers": {"Authorization": {"$secret": "API_TOKEN"}, "X-Fixed": "1"},
        "query": {"limit": 5},
    }
    output = run(config, {"query": {"q": "shoes"}, "headers": {"X-Run": "7"}}, call.context)
    assert output["status"] == 200
    assert output["headers"]["content-type"] == "application/json"
    echoed = output["body"]
    assert echoed["method"] == "GET"
    assert echoed["query"] == {"limit": ["5"], "q": ["shoes"]}
    assert echoed["headers"]["authorization"] == "tok-123456"
    assert echoed["headers"]["x-fixed"] == "1"
    assert echoed["headers"]["x-run"] == "7"
    assert call.metrics["response_bytes"] > 0


def test_a_query_string_in_the_url_is_kept_and_merged(echo_server: EchoServer, call: Call) -> None:
    config = {"url": f"{echo_server.url}/items?page=2", "query": {"limit": 5}}
    assert run(config, {}, call.context)["body"]["query"] == {"page": ["2"], "limit": ["5"]}
    assert run({"url": f"{echo_server.url}/items?page=3"}, {}, call.context)["body"]["query"] == {
        "page": ["3"]
    }


def test_post_sends_the_input_json_body(echo_server: EchoServer, call: Call) -> None:
    config = {"method": "POST", "url": f"{echo_server.url}/orders", "json": {"from": "config"}}
    output = run(config, {"json": {"id": 1, "tags": ["a"]}}, call.context)
    assert output["body"]["body"] == {"id": 1, "tags": ["a"]}


def test_form_body_is_url_encoded(echo_server: EchoServer, call: Call) -> None:
    config = {"method": "POST", "url": f"{echo_server.url}/form", "form": {"a": "1", "b": "x y"}}
    assert run(config, {}, call.context)["body"]["body"] == "a=1&b=x+y"


def test_path_parameters_are_filled_and_escaped(echo_server: EchoServer, call: Call) -> None:
    config = {"url": f"{echo_server.url}/users/{{user_id}}/files/{{name}}"}
    output = run(config, {"path_params": {"user_id": 42, "name": "a b"}}, call.context)
    assert output["body"]["path"] == "/users/42/files/a%20b"


def test_a_missing_path_parameter_is_not_retryable(echo_server: EchoServer, call: Call) -> None:
    with pytest.raises(ActivityError) as caught:
        run({"url": f"{echo_server.url}/users/{{user_id}}"}, {}, call.context)
    assert caught.value.error_type == "InvalidRequest"
    assert not caught.value.retryable


def test_a_text_response_is_returned_as_text(echo_server: EchoServer, call: Call) -> None:
    assert run({"url": f"{echo_server.url}/text"}, {}, call.context)["body"] == "plain words"


def test_a_broken_json_response_is_returned_as_text(echo_server: EchoServer, call: Call) -> None:
    output = run({"url": f"{echo_server.url}/invalid-json"}, {}, call.context)
    assert output["body"] == "{not json"


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (404, False), (400, False)]
)
def test_an_unexpected_status_raises_retryable_only_for_5xx_and_429(
    echo_server: EchoServer, call: Call, status: int, retryable: bool
) -> None:
    with pytest.raises(ActivityError) as caught:
        run({"url": f"{echo_server.url}/status/{status}"}, {}, call.context)
    assert caught.value.error_type == "HttpStatusError"
    assert caught.value.retryable is retryable
    assert caught.value.details["status"] == status
    assert "status" in caught.value.details["body"]


def test_expected_statuses_accept_a_non_2xx_answer(echo_server: EchoServer, call: Call) -> None:
    config = {"url": f"{echo_server.url}/status/404", "expected_statuses": [200, 404]}
    output = run(config, {}, call.context)
    assert output["status"] == 404
    assert output["body"] == {"error": "status 404"}


def test_a_response_over_the_size_limit_fails(echo_server: EchoServer, call: Call) -> None:
    config = {"url": f"{echo_server.url}/big/200000", "max_response_bytes": 1000}
    with pytest.raises(ActivityError) as caught:
        run(config, {}, call.context)
    assert caught.value.error_type == "ResponseTooLarge"


def test_a_slow_server_times_out_retryably(echo_server: EchoServer, call: Call) -> None:
    with pytest.raises(ActivityError) as caught:
        run({"url": f"{echo_server.url}/sleep/2", "timeout_seconds": 0.2}, {}, call.context)
    assert caught.value.error_type == "HttpTimeout"
    assert caught.value.retryable


def test_a_refused_connection_is_retryable(call: Call) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ActivityError) as caught:
        run({"url": f"http://127.0.0.1:{port}/"}, {}, call.context)
    assert caught.value.error_type == "HttpConnectionError"
    assert caught.value.retryable


def test_an_unknown_secret_fails_without_retry(echo_server: EchoServer, call: Call) -> None:
    config = {"url": echo_server.url, "headers": {"Authorization": {"$secret": "MISSING"}}}
    with pytest.raises(ActivityError) as caught:
        run(config, {}, call.context)
    assert caught.value.error_type == "SecretNotFound"
    assert not caught.value.retryable
