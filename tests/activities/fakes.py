"""Local servers speaking the protocols the components talk: a scriptable echo HTTP server,
an OpenAI chat-completions server and an Anthropic messages server (the real SDKs call them),
and an SMTP server (aiosmtpd) that keeps what it accepts."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    """One request a fake server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        headers = {name.lower(): value for name, value in self.headers.items()}
        received = Received(self.command, self.path, headers, body)
        self.server.received.append(received)
        status, headers, payload = self.server.respond(received)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


Response = tuple[int, dict[str, str], bytes]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def respond(self, request: Received) -> Response:
        raise NotImplementedError

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up early (the timeout and size-limit tests) are expected."""


def _json(status: int, value: Any) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


@contextmanager
def serving(server: _Server) -> Iterator[Any]:
    """Run `server` in a thread for the duration of the block."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class EchoServer(_Server):
    """GET/POST anything: answers JSON describing the request. Special paths:
    /status/<code>, /text, /big/<bytes>, /sleep/<seconds>, /invalid-json, /redirect?to=<url>
    (a 302 to that URL)."""

    def respond(self, request: Received) -> Response:
        parts = urlsplit(request.path)
        segments = parts.path.strip("/").split("/")
        if segments[0] == "status":
            return _json(int(segments[1]), {"error": f"status {segments[1]}"})
        if segments[0] == "text":
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, b"plain words"
        if segments[0] == "big":
            return 200, {"Content-Type": "text/plain"}, b"x" * int(segments[1])
        if segments[0] == "sleep":
            time.sleep(float(segments[1]))
        if segments[0] == "redirect":
            return 302, {"Location": parse_qs(parts.query)["to"][0]}, b""
        if segments[0] == "invalid-json":
            return 200, {"Content-Type": "application/json"}, b"{not json"
        return _json(
            200,
            {
                "method": request.method,
                "path": parts.path,
                "query": parse_qs(parts.query),
                "headers": request.headers,
                "body": request.body,
            },
        )


@dataclass
class Turn:
    """One scripted model reply: text, tool calls ({"name", "arguments"}), or an HTTP error."""

    text: str = ""
    tool_calls: Sequence[Mapping[str, Any]] = ()
    prompt_tokens: int = 10
    completion_tokens: int = 5
    error_status: int | None = None


@dataclass
class _Script:
    turns: list[Turn] = field(default_factory=list)

    def next(self) -> Turn:
        if not self.turns:
            raise AssertionError("the fake model was asked more often than scripted")
        return self.turns.pop(0)


class OpenAIServer(_Server):
    """POST /v1/chat/completions, answering the scripted turns in order."""

    def __init__(self) -> None:
        super().__init__()
        self.script = _Script()

    def respond(self, request: Received) -> Response:
        if request.path != "/v1/chat/completions":
            return _json(404, {"error": {"message": "not found", "type": "invalid_request"}})
        turn = self.script.next()
        if turn.error_status:
            return _json(turn.error_status, {"error": {"message": "scripted", "type": "x"}})
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
        if turn.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{index}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": json.dumps(call["arguments"]),
                    },
                }
                for index, call in enumerate(turn.tool_calls)
            ]
        return _json(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request.body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if turn.tool_calls else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": turn.prompt_tokens,
                    "completion_tokens": turn.completion_tokens,
                    "total_tokens": turn.prompt_tokens + turn.completion_tokens,
                },
            },
        )


class AnthropicServer(_Server):
    """POST /v1/messages, answering the scripted turns in order."""

    def __init__(self) -> None:
        super().__init__()
        self.script = _Script()

    def respond(self, request: Received) -> Response:
        if request.path != "/v1/messages":
            return _json(404, {"type": "error", "error": {"type": "not_found", "message": "?"}})
        turn = self.script.next()
        if turn.error_status:
            return _json(
                turn.error_status,
                {"type": "error", "error": {"type": "api_error", "message": "scripted"}},
            )
        content: list[dict[str, Any]] = []
        if turn.text:
            content.append({"type": "text", "text": turn.text})
        content.extend(
            {
                "type": "tool_use",
                "id": f"toolu_{index}",
                "name": call["name"],
                "input": call["arguments"],
            }
            for index, call in enumerate(turn.tool_calls)
        )
        return _json(
            200,
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": request.body["model"],
                "content": content,
                "stop_reason": "tool_use" if turn.tool_calls else "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": turn.prompt_tokens,
                    "output_tokens": turn.completion_tokens,
                },
            },
        )


def free_port() -> int:
    """Return a loopback TCP port nothing listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Mailbox:
    """An SMTP server on loopback requiring AUTH (without TLS: it never leaves the machine),
    keeping every envelope it accepted."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.envelopes: list[Envelope] = []
        self.port = free_port()
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_required=True,
            auth_require_tls=False,
        )

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.username.encode(),
            self.password.encode(),
        )
        # handled=False: let the server answer 535 itself.
        return AuthResult(success=ok, handled=False)

    def message(self, index: int = -1) -> Message:
        content = self.envelopes[index].content
        assert isinstance(content, bytes)
        return message_from_bytes(content)

    def connection(self, password: Any) -> dict[str, Any]:
        """Return a send_email connection to this server logging in with `password`."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "username": self.username,
            "password": password,
            "security": "none",
            "from": "Workflows <robot@example.test>",
        }

    @contextmanager
    def serving(self) -> Iterator[Mailbox]:
        """Listen for the duration of the block."""
        self._controller.start()
        try:
            yield self
        finally:
            self._controller.stop()
