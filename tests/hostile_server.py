"""A raw-socket HTTP/1.1 server on 127.0.0.1 that misbehaves as each test scripts it, for both twins' tests.

A script is a function run on its own thread for each connection the server accepts; it reads requests
and writes whatever bytes it likes, when it likes. The server counts connections and the requests read.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs

API_KEY = "sk-live-Zq8Xw3Vb7Nm2Lk5Jh9Gf4Dd6Ss1Aa0Pp"  # what the hostile tests authenticate with


def shows_the_key(text: str, key: str = API_KEY, run: int = 8) -> bool:
    """Whether `text` holds `run` or more consecutive characters of `key`."""
    return any(key[start : start + run] in text for start in range(len(key) - run + 1))


@attrs.define
class Received:
    """One request the server read in full: its head and body."""

    head: bytes
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Connection:
    """One accepted connection, as a script sees it."""

    def __init__(self, sock: socket.socket, server: HostileServer) -> None:
        self.sock = sock
        self.server = server
        self._buffer = b""

    def read_request(self) -> Received | None:
        """The next request on this connection, or None when the client closed it."""
        while b"\r\n\r\n" not in self._buffer:
            data = self._recv()
            if not data:
                return None
            self._buffer += data
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self._buffer) < length:
            data = self._recv()
            if not data:
                return None
            self._buffer += data
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        received = Received(head, body)
        self.server.received(received)
        return received

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except OSError:
            return b""

    def send(self, data: bytes) -> bool:
        """Write `data`; False once the client has gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def drip(self, data: bytes, interval: float, size: int = 1) -> bool:
        """Write `data` `size` bytes at a time, `interval` seconds apart; False once the client has gone."""
        for start in range(0, len(data), size):
            if self.server.stopping.wait(interval) or not self.send(data[start : start + size]):
                return False
        return True

    def close(self, reset: bool = False) -> None:
        """Close the connection; with `reset`, abortively (RST instead of FIN)."""
        with contextlib.suppress(OSError):
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.sock.close()


Script = Callable[[Connection], None]


class HostileServer:
    """Accepts connections on 127.0.0.1 and runs `script` on each, in its own thread."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.requests: list[Received] = []
        self.connections = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        scheme = "https" if tls is not None else "http"
        host = "localhost" if tls is not None else "127.0.0.1"
        self.url = f"{scheme}://{host}:{self.port}/"
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []

    def received(self, request: Received) -> None:
        with self._lock:
            self.requests.append(request)

    def __enter__(self) -> HostileServer:
        accepter = threading.Thread(target=self._accept, daemon=True)
        accepter.start()
        self._threads.append(accepter)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        # Closing a socket does not wake a thread blocked on it; shutting it down does.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
                with self._lock:
                    self._open.append(sock)
            self.script(Connection(sock, self))
        except (OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()


def answer(status: str = "200 OK", body: object = None, headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 answer with a JSON body (or raw bytes), keeping the connection alive."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(data)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


def echo(request: Received) -> bytes:
    """The answer to an `llm` call that repeats its prompt: every answer names its own request."""
    payload = request.json() or {}
    return answer(body={"message": payload.get("prompt", request.request_line)})


def serve_forever(conn: Connection, reply: Callable[[Received], bytes] = echo) -> None:
    """Answer every request on the connection with `reply` until the client closes it."""
    while (request := conn.read_request()) is not None:
        if not conn.send(reply(request)):
            return


def replying(reply: Callable[[Received], bytes]) -> Script:
    """A script answering every request with `reply(request)`."""
    return lambda conn: serve_forever(conn, reply)


@contextlib.contextmanager
def hostile(script: Script, tls: ssl.SSLContext | None = None) -> Iterator[HostileServer]:
    """A running HostileServer for the block."""
    with HostileServer(script, tls) as server:
        yield server


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
