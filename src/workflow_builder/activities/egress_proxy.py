"""The only way out of a `python_code` sandbox: an HTTP proxy on a Unix socket, through the
egress policy.

A node with `network: true` gets this proxy's socket bound into its sandbox, which still has no
network interface but its own loopback. Inside, the runner relays 127.0.0.1:3128 to the socket
and sets `http_proxy`/`https_proxy`, so `urllib` and most clients use it; the proxy serves
`CONNECT host:port` (HTTPS, or any TCP) and absolute-form requests (`GET http://host/path`).
Each destination is resolved and checked by the worker with the installation's egress policy
(the `workflow_builder.egress` module), and the connection is made to a checked address; a
refusal answers `403` with the policy's reason. The code never resolves a name itself.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

# Makes a TCP connection to (host, port) through the egress policy, or raises.
Connector = Callable[[str, int, float], socket.socket]

SANDBOX_SOCKET = "/run/wfb-egress.sock"
MAX_CONNECTIONS = 32
CONNECT_TIMEOUT = 10.0
IDLE_TIMEOUT = 300.0
_MAX_HEAD = 16384
_CHUNK = 65536


def policy_connector() -> Connector | None:
    """Return the egress policy's connection function, or None where there is no policy."""
    try:
        egress = importlib.import_module("workflow_builder.egress")
    except ImportError:
        return None
    connect: Connector = egress.create_connection
    return connect


class EgressProxy:
    """A proxy on a fresh Unix socket for one call; every connection through `connect`."""

    def __init__(self, connect: Connector) -> None:
        self._connect = connect
        self._directory = tempfile.mkdtemp(prefix="wfb-egress-")
        # The sandbox reaches the socket as its own (possibly unprivileged) user.
        os.chmod(self._directory, 0o711)
        self.path = str(Path(self._directory) / "proxy.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        os.chmod(self.path, 0o666)
        self._listener.listen(MAX_CONNECTIONS)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="wfb-egress-proxy", daemon=True).start()

    def __enter__(self) -> EgressProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and cut every connection still open."""
        with self._lock:
            self._closed = True
            sockets = [self._listener, *self._open]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(self._directory)

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._open.add(sock)
            return True

    def _forget(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(sockets)
        for sock in sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if not self._slots.acquire(blocking=False):
                _answer(client, 503, "too many connections through the egress proxy")
                client.close()
                continue
            if not self._track(client):
                client.close()
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(IDLE_TIMEOUT)
            head, rest = _read_head(client)
            if head is None:
                return
            target = _target(head)
            if target is None:
                _answer(client, 400, "the egress proxy takes CONNECT or an absolute http URL")
                return
            host, port, forward = target
            try:
                upstream = self._connect(host, port, CONNECT_TIMEOUT)
            except OSError as exc:
                _answer(client, 502, f"{host}:{port} cannot be reached: {exc}")
                return
            except Exception as exc:  # the policy's refusal
                _answer(client, 403, str(exc))
                return
            if not self._track(upstream):
                return
            upstream.settimeout(IDLE_TIMEOUT)
            if forward is None:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream.sendall(forward)
            if rest:
                upstream.sendall(rest)
            _relay(client, upstream)
        except OSError:
            pass
        finally:
            self._forget(client, *([upstream] if upstream else []))
            self._slots.release()


def _read_head(client: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(_CHUNK)
        if not chunk:
            return None, b""
        data += chunk
        if len(data) > _MAX_HEAD:
            _answer(client, 431, "request head too large")
            return None, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _target(head: bytes) -> tuple[str, int, bytes | None] | None:
    """(host, port, what to send upstream first: None for CONNECT, else the rewritten head)."""
    request_line, _, headers = head.partition(b"\r\n")
    parts = request_line.decode("latin-1").split()
    if len(parts) != 3:
        return None
    method, uri, version = parts
    if method.upper() == "CONNECT":
        host, _, port = uri.rpartition(":")
        if not host or not port.isdigit():
            return None
        return host.strip("[]"), int(port), None
    url = urlsplit(uri)
    if url.scheme != "http" or not url.hostname:
        return None
    try:
        url_port = url.port or 80
    except ValueError:
        return None
    path = url.path or "/"
    if url.query:
        path += f"?{url.query}"
    kept = [
        line
        for line in headers.split(b"\r\n")
        if line and not line.lower().startswith((b"proxy-", b"connection:"))
    ]
    rewritten = b"\r\n".join(
        [f"{method} {path} {version}".encode("latin-1"), *kept, b"Connection: close"]
    )
    return url.hostname, url_port, rewritten + b"\r\n\r\n"


def _answer(client: socket.socket, status: int, reason: str) -> None:
    reason = " ".join(reason.split())[:300]
    body = reason.encode() + b"\n"
    with contextlib.suppress(OSError):
        client.sendall(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )


def _relay(one: socket.socket, other: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""

    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(_CHUNK):
                sink.sendall(chunk)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    back = threading.Thread(target=pump, args=(other, one), daemon=True)
    back.start()
    pump(one, other)
    back.join()
