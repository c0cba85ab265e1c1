"""HTTP over urllib3 for the blocking client: one thread-safe connection pool, no retries of its own."""

from __future__ import annotations

import time
from collections.abc import Callable

import urllib3

from kellyapi import errors
from kellyapi._core.config import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT
from kellyapi._core.http import Request, Response
from kellyapi._transport.body import Body, BodyCollector
from kellyapi._transport.session import session_source

SyncSessionArg = urllib3.PoolManager | Callable[[], urllib3.PoolManager] | type[urllib3.PoolManager]
"""`session=`: a PoolManager (yours, never closed by the SDK), a callable returning one, or the class."""

READ_CHUNK = 256 * 1024
POOL_SIZE = 100  # connections kept per host, as many as aiohttp's default connector limit
# Built once: given False, urllib3 would build a Retry object for every request.
NO_RETRIES = urllib3.Retry(total=False, redirect=False)


def _default_pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(maxsize=POOL_SIZE, retries=False)


class SyncTransport:
    """Sends requests with urllib3; urllib3's own retries and redirects are off, the client's policy decides."""

    def __init__(
        self, session: SyncSessionArg | None = None, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    ) -> None:
        self._source = session_source(session, urllib3.PoolManager, _default_pool)
        self._owned = self._source.make_owned() if self._source.make_owned is not None else None
        self._max_response_bytes = max_response_bytes
        self._last_timeout = urllib3.Timeout(connect=DEFAULT_TIMEOUT, read=DEFAULT_TIMEOUT)

    def _timeout(self, seconds: float) -> urllib3.Timeout:
        # Most attempts are first attempts, whose timeout is the client's: build that object once.
        last = self._last_timeout
        if last.connect_timeout != seconds:
            last = self._last_timeout = urllib3.Timeout(connect=seconds, read=seconds)
        return last

    def _session(self) -> urllib3.PoolManager:
        if self._owned is not None:
            return self._owned
        assert self._source.borrow is not None
        pool = self._source.borrow()
        if not isinstance(pool, urllib3.PoolManager):
            raise errors.InvalidRequest("session= must give a urllib3.PoolManager")
        return pool

    def send(self, request: Request, timeout: float) -> Response:
        """Send one request and read the whole response, within `timeout` seconds and the size cap."""
        deadline = time.monotonic() + timeout
        try:
            response = self._session().request(
                request.method,
                request.url,
                body=request.body,
                headers=request.headers,
                timeout=self._timeout(timeout),
                retries=NO_RETRIES,
                redirect=False,
                preload_content=False,
            )
            try:
                body = self._read_capped(request, response, deadline, timeout)
            except BaseException:
                response.close()  # a half-read connection must not go back to the pool
                raise
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            # urllib3 2 derives NewConnectionError (a refused connection) from its TimeoutError.
            if isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(
                exc, urllib3.exceptions.NewConnectionError
            ):
                raise request.timed_out(timeout) from None
            raise request.failed(exc) from None
        return Response(response.status, response.headers, body)

    def _read_capped(
        self, request: Request, response: urllib3.BaseHTTPResponse, deadline: float, timeout: float
    ) -> Body:
        # urllib3's read timeout bounds each socket read, not the whole body: a server dripping one
        # byte at a time would never trip it. So read what has arrived, chunk by chunk, and give
        # every socket read only the time left until the call's deadline.
        # urllib3 looks up Content-Encoding and passes each read through its decoder's buffer even when
        # the body has no encoding; ask for decoding only when there is one (that saves 2 % of a call).
        # The declared length counts encoded bytes, so it says nothing of a decoded body's length.
        response.decode_content = "content-encoding" in response.headers
        declared = None if response.decode_content else response.length_remaining  # urllib3 checked it
        if declared is not None and declared > self._max_response_bytes:
            raise request.too_large(self._max_response_bytes)
        sock = getattr(getattr(response, "connection", None), "sock", None)
        collector: BodyCollector | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise request.timed_out(timeout)
            if sock is not None:
                sock.settimeout(remaining)
            chunk = response.read1(READ_CHUNK)
            if collector is None:
                if len(chunk) == declared:
                    return chunk  # a short answer arrives whole in the first read
                collector = BodyCollector(request, declared, self._max_response_bytes)
            if chunk:
                collector.add(chunk)
            if not chunk or collector.complete:  # a complete body needs no second, empty read
                return collector.body()

    def sleep(self, seconds: float) -> None:
        """Wait between attempts."""
        time.sleep(seconds)

    def close(self) -> None:
        """Close the connections of the pool this transport owns."""
        if self._owned is not None:
            self._owned.clear()
