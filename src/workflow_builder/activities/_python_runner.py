"""Runs one `python_code` node's user code in its own process (`python -I -B -c <this file>`).

Protocol: argv = cpu seconds, memory bytes, output bytes, processes (0: no limit), open files,
network (1: relay 127.0.0.1:3128 to the worker's egress proxy, bound in at PROXY_SOCKET);
stdin = {"code", "inputs"} as JSON; stdout = one JSON envelope, {"ok": true, "result",
"stdout"} or {"ok": false, "error", "message", "traceback"}. It imports nothing from the
package: it runs outside it.
"""

from __future__ import annotations

import io
import json
import linecache
import os
import resource
import selectors
import socket
import sys
import threading
import traceback
from typing import Any

FILENAME = "<node code>"
TRACEBACK_LINES = 12
PROXY_SOCKET = "/run/wfb-egress.sock"
PROXY_URL = "http://127.0.0.1:3128"


class _CappedOutput(io.StringIO):
    """Collects the code's prints; past the cap it stops the code."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text.encode("utf-8", errors="replace"))
        if self.size > self.cap:
            raise _OutputLimit
        return super().write(text)


class _OutputLimit(BaseException):
    """Raised through the user's code (a BaseException, so `except Exception` cannot eat it)."""


def _limit(kind: int, soft: int, hard: int | None = None) -> None:
    resource.setrlimit(kind, (soft, soft if hard is None else hard))


def _user_traceback(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == FILENAME]
    text = "".join(traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc))
    return "\n".join(text.splitlines()[-TRACEBACK_LINES:])


def _envelope(request: dict[str, Any], output_cap: int) -> dict[str, Any]:
    code: str = request["code"]
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    printed = _CappedOutput(output_cap)
    namespace: dict[str, Any] = {"__name__": "__node__"}
    sys.stdout = printed
    try:
        exec(compile(code, FILENAME, "exec"), namespace)
        main = namespace.get("main")
        if not callable(main):
            return _failure("UserCodeError", "The code must define a function main(inputs)")
        result = main(request["inputs"])
    except _OutputLimit:
        return _failure("OutputLimit", "The code printed more than the output limit")
    except MemoryError:
        return _failure("MemoryLimit", "The code ran out of memory")
    except SystemExit as exc:
        return _failure("UserCodeError", f"The code called exit({exc.code!r})")
    except BaseException as exc:
        return _failure("UserCodeError", f"{type(exc).__name__}: {exc}", _user_traceback(exc))
    finally:
        sys.stdout = sys.__stdout__
    try:
        encoded = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return _failure("UserCodeError", f"main() returned a value that is not JSON: {exc}")
    if len(encoded.encode()) > output_cap:
        return _failure("OutputLimit", "main() returned more than the output limit")
    return {"ok": True, "result": result, "stdout": printed.getvalue()}


def _relay(listener: socket.socket) -> None:
    """Pass each connection to the sandbox's proxy port on to the worker's egress proxy."""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    peers: dict[socket.socket, socket.socket] = {}
    while True:
        for key, _ in selector.select():
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            if sock is listener:
                client, _ = listener.accept()
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    upstream.connect(PROXY_SOCKET)
                except OSError:
                    client.close()
                    upstream.close()
                    continue
                peers[client], peers[upstream] = upstream, client
                selector.register(client, selectors.EVENT_READ)
                selector.register(upstream, selectors.EVENT_READ)
                continue
            other = peers[sock]
            try:
                data = sock.recv(65536)
                other.sendall(data)
            except OSError:
                data = b""
            if not data:
                for end in (sock, other):
                    selector.unregister(end)
                    del peers[end]
                    end.close()


def _open_network() -> None:
    listener = socket.create_server(("127.0.0.1", int(PROXY_URL.rsplit(":", 1)[1])))
    threading.Thread(target=_relay, args=(listener,), daemon=True).start()
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ[name] = PROXY_URL


def _failure(error: str, message: str, trace: str = "") -> dict[str, Any]:
    return {"ok": False, "error": error, "message": message, "traceback": trace}


def main() -> None:
    cpu_seconds, memory_bytes, output_bytes, processes, open_files, network = (
        int(arg) for arg in sys.argv[1:7]
    )
    request = json.loads(sys.stdin.read())
    # Limits are set here, after the interpreter started, so its own start-up does not count
    # against the memory limit; hard limits pin them so the code cannot raise them. The CPU hard
    # limit is one second above the soft one: the soft one sends SIGXCPU, which names the cause.
    _limit(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)
    _limit(resource.RLIMIT_AS, memory_bytes)
    _limit(resource.RLIMIT_FSIZE, output_bytes)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_NOFILE, open_files)
    if processes:
        _limit(resource.RLIMIT_NPROC, processes)
    # The interpreter set LC_CTYPE and bwrap PWD; the code sees none of it.
    os.environ.clear()
    if network:
        _open_network()
    envelope = _envelope(request, output_bytes)
    sys.stdout.write(json.dumps(envelope, allow_nan=False))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
