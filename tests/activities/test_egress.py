"""The egress policy, attacked as a tenant would: every outbound connection a component makes is
refused for loopback (and every other non-public range) unless WFB_EGRESS_ALLOW re-opens it.

Traffic goes to loopback only. The other ranges are checked on the resolver's answer (a
resolver that answers what the test says), with connecting itself made to fail the test.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.activities.conftest import Call
from tests.activities.fakes import EchoServer, Mailbox, OpenAIServer, serving
from tests.conftest import DatabaseFactory
from workflow_builder import egress
from workflow_builder.activities import http_request, llm_agent, send_email
from workflow_builder.activities.contract import ActivityError
from workflow_builder.config import Settings, get_settings
from workflow_builder.egress import EgressRefused, check_destination, parse_allow_list

Allow = Callable[[str], None]
PROMPT = {"name": "hello", "version": "1.0.0", "prompt_content": "Say hello."}


@pytest.fixture
def allow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Allow]:
    """Set WFB_EGRESS_ALLOW for this test (empty: the default policy)."""

    def set_allow(text: str) -> None:
        monkeypatch.setenv("WFB_EGRESS_ALLOW", text)
        get_settings.cache_clear()

    set_allow("")
    yield set_allow
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def target() -> Iterator[EchoServer]:
    """A loopback server the attacks aim at; it must never receive anything."""
    with serving(EchoServer()) as server:
        yield server


@pytest.fixture
def allowed() -> Iterator[EchoServer]:
    """A loopback server the tests allow-list by its port."""
    with serving(EchoServer()) as server:
        yield server


def port_of(server: EchoServer) -> int:
    return int(server.server_address[1])


def fetch(url: str, call: Call, **config: Any) -> Any:
    return http_request.run({"url": url, **config}, {}, call.context)


def refused(action: Callable[[], Any]) -> ActivityError:
    with pytest.raises(ActivityError) as caught:
        action()
    assert caught.value.error_type == "EgressRefused", caught.value.message
    assert caught.value.retryable is False
    assert "WFB_EGRESS_ALLOW" in caught.value.message
    return caught.value


def fake_resolver(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Make every name resolve to `answers`; refuse to open any socket. Returns the names asked."""
    asked: list[str] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        return [
            (
                socket.AF_INET6 if ":" in answer else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (answer, port),
            )
            for answer in answers
        ]

    def no_connection(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(egress.socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(egress.socket, "create_connection", no_connection)
    return asked


# -- http_request from a tenant run ------------------------------------------------------------


def test_loopback_is_refused_naming_the_host_address_and_rule(
    allow: Allow, call: Call, target: EchoServer
) -> None:
    error = refused(lambda: fetch(f"{target.url}/", call))
    port = port_of(target)
    assert error.message == (
        f"http_request: 127.0.0.1:{port} is a loopback address, refused by the egress policy "
        "(allow it with WFB_EGRESS_ALLOW)"
    )
    assert error.details == {"host": "127.0.0.1", "port": port, "address": "127.0.0.1",
                             "rule": "loopback"}  # fmt: skip
    assert target.received == []


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST", "2130706433", "127.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"],
)
def test_every_spelling_of_loopback_is_judged_by_what_it_resolves_to(
    allow: Allow, call: Call, target: EchoServer, host: str
) -> None:
    error = refused(lambda: fetch(f"http://{host}:{port_of(target)}/", call))
    assert "loopback" in error.details["rule"]
    assert target.received == []


@pytest.mark.parametrize(
    "host", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1", "::ffff:127.0.0.1", "0"]
)
def test_spellings_an_url_parser_refuses_are_refused_by_the_policy_too(
    allow: Allow, host: str
) -> None:
    """What a sandbox's proxy or an SMTP connection would be handed as a host."""
    with pytest.raises(EgressRefused) as caught:
        check_destination(host, 8080)
    # 0.0.0.0 reaches this machine's own services on Linux: refused as unspecified.
    assert caught.value.rule.startswith("loopback") or caught.value.rule == "unspecified"


def test_ipv6_loopback_is_refused(allow: Allow, call: Call) -> None:
    with socket.socket(socket.AF_INET6) as listener:
        try:
            listener.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback on this machine")
        listener.listen()
        error = refused(lambda: fetch(f"http://[::1]:{listener.getsockname()[1]}/", call))
    assert error.details["address"] == "::1"
    assert error.details["rule"] == "loopback"


def test_the_product_api_and_its_database_port_are_not_reachable(
    allow: Allow, call: Call, database_factory: DatabaseFactory
) -> None:
    url = database_factory.admin_url
    database = ipaddress.ip_address(socket.gethostbyname(_host_of(url)))
    error = refused(lambda: fetch(f"http://{database}:{_port_of_url(url)}/", call))
    assert error.details["port"] == _port_of_url(url)
    # The API the tests run listens on loopback like every server here: port 8000 is its
    # default, refused before anything listens or not.
    refused(lambda: fetch("http://127.0.0.1:8000/api/v1/me", call))


def test_an_allowed_port_is_reachable_and_a_neighbour_port_is_not(
    allow: Allow, call: Call, allowed: EchoServer, target: EchoServer
) -> None:
    allow(f"127.0.0.1:{port_of(allowed)}")
    assert fetch(f"{allowed.url}/hello", call)["status"] == 200
    refused(lambda: fetch(f"{target.url}/", call))
    assert target.received == []


def test_a_redirect_to_a_refused_address_is_refused_at_the_hop(
    allow: Allow, call: Call, allowed: EchoServer, target: EchoServer
) -> None:
    allow(f"127.0.0.1:{port_of(allowed)}")
    error = refused(lambda: fetch(f"{allowed.url}/redirect?to={target.url}/internal", call))
    assert error.details["port"] == port_of(target)
    assert [r.path.partition("?")[0] for r in allowed.received] == ["/redirect"]
    assert target.received == []


def test_a_redirect_within_the_allowed_destinations_is_followed(
    allow: Allow, call: Call, allowed: EchoServer
) -> None:
    allow(f"127.0.0.1:{port_of(allowed)}")
    output = fetch(f"{allowed.url}/redirect?to={allowed.url}/landed", call)
    assert output["body"]["path"] == "/landed"


def test_a_cidr_entry_reopens_a_range_on_any_port(
    allow: Allow, call: Call, target: EchoServer
) -> None:
    allow("10.0.0.0/8, 127.0.0.0/8")
    assert fetch(f"{target.url}/", call)["status"] == 200


def test_a_host_port_entry_by_name_allows_that_name_only(
    allow: Allow, call: Call, target: EchoServer
) -> None:
    allow(f"LOCALHOST:{port_of(target)}")
    assert fetch(f"http://localhost:{port_of(target)}/", call)["status"] == 200
    refused(lambda: fetch(f"{target.url}/", call))


def test_a_name_is_resolved_once_and_the_connection_goes_to_the_checked_address(
    allow: Allow, call: Call, allowed: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: a second lookup would answer a metadata address; there is none."""
    allow(f"127.0.0.1:{port_of(allowed)}")
    answers = iter(["127.0.0.1", "169.254.169.254"])
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        return real(next(answers), port, *args, **kwargs)

    monkeypatch.setattr(egress.socket, "getaddrinfo", rebinding)
    output = fetch(f"http://rebind.example:{port_of(allowed)}/", call)
    assert output["status"] == 200
    assert output["body"]["headers"]["host"] == f"rebind.example:{port_of(allowed)}"
    assert asked == ["rebind.example"]


# -- the other ranges, on the resolver's answer --------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "rule"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00::1", "unique-local"),
        ("fd00:ec2::254", "cloud metadata"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::ffff:10.0.0.1", "private (IPv4 inside IPv6)"),
        ("::ffff:169.254.169.254", "cloud metadata (IPv4 inside IPv6)"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata (IPv4 inside IPv6)"),
        ("2002:7f00:1::", "loopback (IPv4 inside IPv6)"),
    ],
)
def test_a_name_resolving_to_a_non_public_address_is_refused_without_connecting(
    allow: Allow, call: Call, monkeypatch: pytest.MonkeyPatch, answer: str, rule: str
) -> None:
    asked = fake_resolver(monkeypatch, answer)
    error = refused(lambda: fetch("http://internal.example/latest/meta-data/", call))
    assert asked == ["internal.example"]
    assert error.details["address"] == str(ipaddress.ip_address(answer))
    assert error.details["rule"] == rule
    assert "internal.example:80 resolves to" in error.message


def test_public_addresses_pass_the_check(allow: Allow, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_resolver(monkeypatch, "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    addresses = check_destination("example.com", 443)
    assert [str(a) for a in addresses] == [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    ]


def test_only_allowed_addresses_of_a_mixed_answer_are_used(
    allow: Allow, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_resolver(monkeypatch, "10.0.0.7", "93.184.215.14")
    assert [str(a) for a in check_destination("mixed.example", 443)] == ["93.184.215.14"]


def test_unix_sockets_are_refused(allow: Allow) -> None:
    with pytest.raises(EgressRefused) as caught:
        check_destination("/var/run/postgresql", 5432)
    assert caught.value.rule == "Unix socket"


def test_the_allow_list_names_a_bad_entry() -> None:
    with pytest.raises(ValueError, match="'not-a-network'"):
        Settings(egress_allow="10.0.0.0/8, not-a-network")
    with pytest.raises(ValueError, match="'host:99999'"):
        parse_allow_list("host:99999")
    parsed = parse_allow_list("10.0.0.0/8 [::1]:8080,smtp.internal:25, 127.0.0.1")
    assert len(parsed.networks) == 2
    assert (ipaddress.ip_address("::1"), 8080) in parsed.address_ports
    assert ("smtp.internal", 25) in parsed.name_ports


# -- the other components -------------------------------------------------------------------------


def test_llm_agent_base_url_on_loopback_is_refused(
    allow: Allow, call: Call, openai_server: OpenAIServer
) -> None:
    call.secrets.secrets["LLM_KEY"] = "sk-test"
    config = {
        "model_provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": f"{openai_server.url}/v1",
        "api_key": {"$secret": "LLM_KEY"},
        "prompt": PROMPT,
    }
    error = refused(lambda: llm_agent.run(config, {}, call.context))
    assert error.message.startswith("llm_agent: 127.0.0.1:")
    assert openai_server.received == []


def test_llm_agent_base_url_naming_the_metadata_service_is_refused(
    allow: Allow, call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_resolver(monkeypatch, "169.254.169.254")
    config = {
        "model_provider": "anthropic",
        "model": "claude-3-5-haiku-20241022",
        "base_url": "http://metadata.example",
        "api_key": "sk-test",
        "prompt": PROMPT,
    }
    assert refused(lambda: llm_agent.run(config, {}, call.context)).details["rule"] == (
        "cloud metadata"
    )


def test_send_email_to_a_loopback_smtp_server_is_refused(allow: Allow, call: Call) -> None:
    with Mailbox("mailer", "smtp-password-123").serving() as mailbox:
        call.secrets.connections["mail"] = mailbox.connection("smtp-password-123")
        config = {"connection": "mail", "to": ["ann@example.test"], "text": "hi"}
        error = refused(lambda: send_email.run(config, {}, call.context))
        assert error.message.startswith(f"send_email: 127.0.0.1:{mailbox.port} is a loopback")
        assert mailbox.envelopes == []
        allow(f"127.0.0.1:{mailbox.port}")
        assert send_email.run(config, {}, call.context)["accepted"] == ["ann@example.test"]


def _host_of(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).host or "127.0.0.1"


def _port_of_url(url: str) -> int:
    from sqlalchemy.engine import make_url

    return make_url(url).port or 5432
