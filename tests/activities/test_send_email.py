"""send_email against a real SMTP server (aiosmtpd) running in this process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.activities.conftest import Call
from tests.activities.fakes import Mailbox, free_port
from workflow_builder.activities.contract import ActivityError
from workflow_builder.activities.send_email import run

USERNAME, PASSWORD = "mailer", "smtp-password-123"
# The test server takes AUTH without TLS on purpose: it listens on loopback only.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture(scope="module")
def smtp() -> Iterator[Mailbox]:
    with Mailbox(USERNAME, PASSWORD).serving() as mailbox:
        yield mailbox


@pytest.fixture
def mail_call(call: Call, smtp: Mailbox) -> Call:
    call.secrets.secrets["SMTP_PASSWORD"] = PASSWORD
    call.secrets.connections["mail"] = smtp.connection({"$secret": "SMTP_PASSWORD"})
    return call


def test_the_message_arrives_with_every_recipient(mail_call: Call, smtp: Mailbox) -> None:
    config = {"connection": "mail", "subject": "Weekly report", "to": ["fixed@example.test"]}
    inputs = {
        "to": ["ann@example.test"],
        "cc": ["bob@example.test"],
        "bcc": ["audit@example.test"],
        "text": "All green.",
        "html": "<p>All <b>green</b>.</p>",
    }
    output = run(config, inputs, mail_call.context)

    assert output["accepted"] == ["ann@example.test", "bob@example.test", "audit@example.test"]
    envelope = smtp.envelopes[-1]
    assert envelope.mail_from == "robot@example.test"
    assert envelope.rcpt_tos == output["accepted"]
    message = smtp.message()
    assert message["Subject"] == "Weekly report"
    assert message["To"] == "ann@example.test"
    assert message["Cc"] == "bob@example.test"
    assert message["Bcc"] is None
    assert message["Message-ID"] == output["message_id"]
    assert output["message_id"].endswith("@example.test>")
    bodies = {part.get_content_type(): part for part in message.walk()}
    assert set(bodies) >= {"text/plain", "text/html"}
    assert mail_call.metrics["recipients"] == 3


def test_a_wrong_password_is_not_retryable(mail_call: Call) -> None:
    mail_call.secrets.secrets["SMTP_PASSWORD"] = "wrong-password"
    with pytest.raises(ActivityError) as caught:
        run({"connection": "mail", "to": ["ann@example.test"]}, {}, mail_call.context)
    assert caught.value.error_type == "SmtpAuthenticationError"
    assert not caught.value.retryable


def test_an_unreachable_server_is_retryable(call: Call) -> None:
    call.secrets.connections["down"] = {
        "host": "127.0.0.1",
        "port": free_port(),
        "security": "none",
    }
    config = {"connection": "down", "from": "a@example.test", "to": ["b@example.test"]}
    with pytest.raises(ActivityError) as caught:
        run(config, {}, call.context)
    assert caught.value.error_type == "SmtpConnectionError"
    assert caught.value.retryable


def test_an_unknown_connection_fails_without_retry(call: Call) -> None:
    with pytest.raises(ActivityError) as caught:
        run({"connection": "nope", "to": ["b@example.test"]}, {}, call.context)
    assert caught.value.error_type == "ConnectionNotFound"
    assert not caught.value.retryable


def test_a_message_without_recipients_is_rejected_before_connecting(mail_call: Call) -> None:
    with pytest.raises(ActivityError) as caught:
        run({"connection": "mail", "subject": "x"}, {}, mail_call.context)
    assert caught.value.error_type == "InvalidEmail"
