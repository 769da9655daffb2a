"""`send_email`: send one message over SMTP through a project connection.

The connection (kind 'connection') holds the server settings: `host`, `port`, `username`,
`password` (a string or a `$secret` reference), `security` ('starttls', the default, 'ssl' or
'none') and optionally a default `from`. Every message field may be fixed in config or given
per run in input; input wins. Sending is not idempotent: if a worker dies after the server
accepted the message but before the step was recorded, the retried step sends it again. The
SMTP server's address must pass the egress policy (`workflow_builder.egress`).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import Any

from workflow_builder.activities.contract import ActivityContext, ActivityError, ComponentSpec
from workflow_builder.egress import EgressRefused, create_connection
from workflow_builder.secrets.references import require_resolver

_DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
_ADDRESSES = {"type": "array", "items": {"type": "string", "minLength": 3}, "maxItems": 500}
_MESSAGE_FIELDS: dict[str, Any] = {
    "to": _ADDRESSES,
    "cc": _ADDRESSES,
    "bcc": _ADDRESSES,
    "reply_to": {"type": "string"},
    "subject": {"type": "string", "maxLength": 998},
    "text": {"type": "string", "description": "The plain-text body."},
    "html": {"type": "string", "description": "The HTML body (sent as an alternative)."},
}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "connection": {
            "type": "string",
            "minLength": 1,
            "description": "Name of the project connection holding the SMTP settings.",
        },
        "from": {"type": "string", "description": "Sender (default: the connection's 'from')."},
        "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300, "default": 30},
        **_MESSAGE_FIELDS,
    },
    "required": ["connection"],
    "additionalProperties": False,
}

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": _MESSAGE_FIELDS,
    "additionalProperties": False,
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "message_id": {"type": "string"},
        "accepted": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["message_id", "accepted"],
    "additionalProperties": False,
}

SPEC = ComponentSpec(
    name="send_email",
    display_name="Send email",
    description="Send an email over SMTP using a project connection.",
    component_type="activity",
    implementation_path="workflow_builder.activities.send_email:run",
    config_schema=CONFIG_SCHEMA,
    input_schema=INPUT_SCHEMA,
    output_schema=OUTPUT_SCHEMA,
    tags=("email", "smtp", "notification"),
    capabilities=("network", "connections"),
)


def _invalid(message: str) -> ActivityError:
    return ActivityError(message, error_type="InvalidEmail", retryable=False)


def _message(fields: Mapping[str, Any], sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    for header, key in (("To", "to"), ("Cc", "cc")):
        if fields.get(key):
            message[header] = ", ".join(fields[key])
    if fields.get("reply_to"):
        message["Reply-To"] = fields["reply_to"]
    message["Subject"] = fields.get("subject", "")
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(fields.get("text", ""))
    if fields.get("html"):
        message.add_alternative(fields["html"], subtype="html")
    return message


class _CheckedSMTP(smtplib.SMTP):
    """SMTP connecting to an address the egress policy checked (the name stays for TLS)."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return create_connection(host, port, timeout, self.source_address)


class _CheckedSMTPSSL(smtplib.SMTP_SSL, _CheckedSMTP):
    """SMTP over TLS, connecting like _CheckedSMTP (SMTP_SSL wraps the checked socket)."""


def _connect(settings: Mapping[str, Any], timeout: float) -> smtplib.SMTP:
    security = settings.get("security", "starttls")
    if security not in _DEFAULT_PORTS:
        raise _invalid(f"Unknown SMTP security {security!r}: use starttls, ssl or none")
    host, port = settings["host"], int(settings.get("port", _DEFAULT_PORTS[security]))
    tls = ssl.create_default_context()
    client = (
        _CheckedSMTPSSL(host, port, timeout=timeout, context=tls)
        if security == "ssl"
        else _CheckedSMTP(host, port, timeout=timeout)
    )
    try:
        if security == "starttls":
            client.starttls(context=tls)
        if settings.get("username"):
            client.login(settings["username"], settings.get("password", ""))
    except BaseException:
        client.close()
        raise
    return client


def _smtp_error(exc: Exception) -> ActivityError:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return ActivityError(
            f"The SMTP server refused the credentials: {exc.smtp_code}",
            error_type="SmtpAuthenticationError",
            retryable=False,
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return ActivityError(
            f"The SMTP server refused every recipient: {sorted(exc.recipients)}",
            error_type="SmtpRecipientsRefused",
            retryable=False,
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        # 4xx replies are transient by definition of the protocol; 5xx are permanent.
        return ActivityError(
            f"The SMTP server answered {exc.smtp_code}: {exc.smtp_error!r}",
            error_type="SmtpError",
            retryable=400 <= exc.smtp_code < 500,
            details={"smtp_code": exc.smtp_code},
        )
    return ActivityError(f"SMTP failed: {exc}", error_type="SmtpConnectionError")


def run(config: Mapping[str, Any], inputs: Mapping[str, Any], context: ActivityContext) -> Any:
    """Send the message; return its Message-ID and the recipients the server accepted."""
    settings = require_resolver(context.secrets, config["connection"]).connection(
        config["connection"]
    )
    if not settings.get("host"):
        raise _invalid(f"The connection {config['connection']!r} has no 'host'")
    fields = {**config, **inputs}
    sender = fields.get("from") or settings.get("from")
    if not sender:
        raise _invalid("No sender: set 'from' in the node config or the connection")
    recipients = [*fields.get("to", []), *fields.get("cc", []), *fields.get("bcc", [])]
    if not recipients:
        raise _invalid("No recipients: set at least one of to, cc or bcc")
    message = _message(fields, sender)
    try:
        with _connect(settings, config.get("timeout_seconds", 30)) as client:
            refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
    except EgressRefused as refusal:
        raise refusal.activity_error("send_email") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise _smtp_error(exc) from None
    accepted = [address for address in recipients if address not in refused]
    context.record_metric("recipients", float(len(accepted)))
    return {"message_id": message["Message-ID"], "accepted": accepted}
