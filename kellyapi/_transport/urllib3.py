"""HTTP over urllib3 for the blocking client: one thread-safe connection pool per process, no retries of its own."""

from __future__ import annotations

import copy
import errno
import http.client
import logging
import selectors
import socket
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import urllib3
import urllib3.fields
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from kellyapi import errors
from kellyapi._core.config import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT
from kellyapi._core.download import BodyCollector
from kellyapi._core.http import Request, Response
from kellyapi._core.network import Network, basic_credentials, is_tls_protocol_failure
from kellyapi._core.upload import StreamedBody
from kellyapi._transport.fork import pools_per_process
from kellyapi._transport.hooks import version_of, without
from kellyapi._transport.session import session_source

ResultT = TypeVar("ResultT")

# The private parts of urllib3, http.client and socket used here (see hooks.py), each behind one check:
_URLLIB3 = version_of(getattr(urllib3, "__version__", ""))
# HTTPConnectionPool._new_conn and _get_conn (urllib3 2.x): the only place a connection is seen as the pool
# hands it out, to note a reuse on the attempt (stale resend). Without them: no stale resend.
POOL_HOOKS = _URLLIB3 < (3, 0) and all(hasattr(HTTPConnectionPool, name) for name in ("_new_conn", "_get_conn"))
# http.client.HTTPResponse._read_status (the first read of every response) and socket.SocketIO's readinto
# and _sock (Python 3.10 to 3.14): every read, the status line and headers too, gets only the time left.
# Without them only the body's reads are bounded so (as for a session= PoolManager: read1 + settimeout).
DEADLINE_READS = POOL_HOOKS and sys.version_info < (3, 15) and hasattr(http.client.HTTPResponse, "_read_status")
SyncSessionArg = urllib3.PoolManager | Callable[[], urllib3.PoolManager] | type[urllib3.PoolManager]
"""`session=`: a PoolManager (yours, never closed by the SDK), a callable returning one, or the class."""

READ_CHUNK = 256 * 1024
_SLACK = 0.1  # seconds a socket read may be allowed past the deadline, to spare a settimeout() per read
POOL_SIZE = 100  # connections kept per host, as many as aiohttp's default connector limit
# Built once: given False, urllib3 would build a Retry object for every request.
NO_RETRIES = urllib3.Retry(total=False, redirect=False)


class Attempt:
    """The attempt a thread has under way: its deadline (time.monotonic()), and what its connection did."""

    __slots__ = ("connection", "cut_short", "deadline", "fresh_connection", "received", "request", "reused")

    def __init__(self) -> None:
        # One object per thread, reused (a thread has one attempt at a time): send() sets every field.
        self.deadline = 0.0
        self.fresh_connection = False  # the pool must open a new connection, not reuse one
        self.reused = False
        self.received = 0  # bytes of an answer read on this attempt's connection
        self.request: Request | None = None
        self.connection: Any = None  # the SDK pool's connection it went out on
        self.cut_short = False  # the body stopped midway, as an answer arrived: the connection cannot be reused

    @property
    def stale(self) -> bool:
        """It went out on a reused pooled connection and not one byte of an answer came back."""
        return self.reused and self.received == 0


class _ThreadAttempts(threading.local):
    def __init__(self) -> None:
        self.attempt: Attempt | None = None  # set while this thread sends through one of the SDK's own pools
        self.spare = Attempt()


_CURRENT = _ThreadAttempts()


class _RedactingFilter(logging.Filter):
    """Blanks the key in what urllib3 logs during a call: it logs a header line it cannot parse, whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record's message and traceback when the thread's call carries a key; keep the record."""
        attempt = _CURRENT.attempt
        if attempt is None or attempt.request is None or not attempt.request.secret:
            return True
        request = attempt.request
        record.msg = request.redact(record.getMessage())
        record.args = ()
        if record.exc_info:
            record.exc_text = request.redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
            record.exc_info = None
        return True


logging.getLogger("urllib3.connection").addFilter(_RedactingFilter())


class _DeadlineSocketIO(socket.SocketIO):
    """The socket file http.client reads a response from, each read given only the time left until the deadline.

    A socket timeout bounds one read; a server dripping a status line, headers or chunk-size lines a byte
    at a time would never trip it. Every read of a response, from the status line to the last chunk, comes
    here. The file is the one socket.makefile() made, turned into this class in place (it only adds
    attributes and replaces readinto): no second buffer, no extra layer of calls per read.
    """

    attempt: Attempt

    def readinto(self, b: Any) -> int | None:
        """Read what has arrived, waiting no later than the deadline; count it for the attempt."""
        attempt = self.attempt
        remaining = attempt.deadline - time.monotonic()
        sock = self._sock  # type: ignore[attr-defined]
        if remaining <= 0 or sock is None:
            self._timeout_occurred = True
            raise TimeoutError("the call's deadline passed")
        current = sock.gettimeout()
        if current is None or current > remaining + _SLACK:
            sock.settimeout(remaining)
        try:
            count: int = sock.recv_into(b)
        except TimeoutError:
            self._timeout_occurred = True
            raise
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return None
            raise
        attempt.received += count
        return count


class _GuardedResponse(http.client.HTTPResponse):
    """http.client's response, read against the call's deadline, skipping interim 1xx answers."""

    def _read_status(self) -> tuple[str, int, str]:
        # The first read of every response (and of a CONNECT's): from here on, it is read against the
        # deadline. (Done here rather than in __init__, to add one Python call per response, not two.)
        raw: Any = self.fp.raw
        if type(raw) is socket.SocketIO:
            attempt = _CURRENT.attempt
            if attempt is not None:
                raw.__class__ = _DeadlineSocketIO
                raw.attempt = attempt  # type: ignore[attr-defined]
        # http.client skips only 100 Continue; 102 Processing and 103 Early Hints are interim too.
        while True:
            version, status, reason = _read_status(self)
            if status == 100 or status == 101 or not 100 <= status < 200:
                return version, status, reason
            http.client.parse_headers(self.fp)


_read_status: Any = getattr(http.client.HTTPResponse, "_read_status", None)


class _GuardedPool:
    """Pool behaviour added to urllib3's pools: deadline-bound responses, and reuse noted on the attempt.

    It works through super() on purpose, so that whatever patches urllib3's own pools (vcrpy does) still runs.
    """

    def _new_conn(self) -> Any:
        conn = super()._new_conn()  # type: ignore[misc]
        if DEADLINE_READS:
            conn.response_class = _GuardedResponse
        return conn

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        attempt = _CURRENT.attempt
        if attempt is not None:
            attempt.connection = conn
        if attempt is not None and getattr(conn, "sock", None) is not None:
            if attempt.fresh_connection:
                conn.close()  # resending after a stale connection: no other pooled one either
            else:
                attempt.reused = True
        return conn


class _GuardedHTTPPool(_GuardedPool, HTTPConnectionPool):
    pass


class _GuardedHTTPSPool(_GuardedPool, HTTPSConnectionPool):
    pass


_GUARDED_POOLS = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def _pool_factory(network: Network) -> Callable[[], urllib3.PoolManager]:
    options: dict[str, Any] = {"maxsize": POOL_SIZE, "retries": False}
    if network.ssl_context is not None:
        options["ssl_context"] = network.ssl_context
        if network.ssl_context.verify_mode == ssl.CERT_NONE:
            options.update(cert_reqs="CERT_NONE", assert_hostname=False)

    def make() -> urllib3.PoolManager:
        if network.proxy is None:
            pool = urllib3.PoolManager(**options)
        else:
            credentials = network.proxy.credentials
            headers = {"Proxy-Authorization": basic_credentials(credentials)} if credentials else None
            pool = urllib3.ProxyManager(network.proxy.url, proxy_headers=headers, **options)
        if POOL_HOOKS:
            pool.pool_classes_by_scheme = _GUARDED_POOLS
        else:
            without("urllib3's HTTPConnectionPool._get_conn", "stale connections are not resent")
        if not DEADLINE_READS:
            without("http.client's HTTPResponse._read_status", "a dripped status line or header is not cut off")
        return pool

    return make


def _inner(exc: BaseException) -> BaseException | None:
    """What urllib3 wrapped: a ProtocolError carries http.client's or the socket's exception."""
    for candidate in (*exc.args[1:], exc.__cause__, exc.__context__):
        if isinstance(candidate, BaseException):
            return candidate
    return None


def _is_lasting_tls_failure(exc: BaseException) -> bool:
    """A certificate refused, or a handshake answered by something that is not TLS, somewhere in the chain."""
    link: BaseException | None = exc
    for _ in range(8):
        if link is None:
            return False
        if is_tls_protocol_failure(link):
            return True
        link = _inner(link)
    return False


def _is_bad_chunk_size(exc: BaseException | None) -> bool:
    """A chunk-size line that is not hex; an empty one is a dropped connection, retryable."""
    if isinstance(exc, urllib3.exceptions.InvalidChunkLength):
        return bool(exc.length)
    # http.client reports a line it cannot parse as IncompleteRead, chained to int()'s ValueError.
    cause = exc.__context__ if isinstance(exc, http.client.IncompleteRead) else None
    return isinstance(cause, ValueError) and "base 16" in str(cause) and not str(cause).endswith("b''")


def _error_for(
    request: Request, exc: urllib3.exceptions.HTTPError, attempt: Attempt, timeout: float
) -> errors.BaseError:
    """The typed error for what urllib3 raised, marked for the retry policy; the same classes as aiohttp's."""
    # urllib3 2 derives NewConnectionError (a refused connection) from its TimeoutError.
    if isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(exc, urllib3.exceptions.NewConnectionError):
        return request.timed_out(timeout)
    if isinstance(exc, urllib3.exceptions.DecodeError):
        return request.broken(exc)
    if isinstance(exc, urllib3.exceptions.SSLError) and _is_lasting_tls_failure(exc):
        return request.failed(exc, deterministic=True)
    if isinstance(exc, urllib3.exceptions.InvalidHeader):
        return request.broken(exc)  # two different Content-Length values: which body is meant is unknowable
    inner = _inner(exc) if isinstance(exc, urllib3.exceptions.ProtocolError) else None
    if isinstance(inner, TimeoutError):  # while the body was sent (reads time out as ReadTimeoutError)
        return request.timed_out(timeout)
    if _is_bad_chunk_size(inner):
        return request.broken(exc)
    if isinstance(inner, http.client.HTTPException) and not isinstance(
        inner, (http.client.RemoteDisconnected, http.client.IncompleteRead)
    ):
        return request.broken(inner)  # a garbage status line, a header line over 64 KiB, over 100 headers
    return request.failed(exc, stale_connection=attempt.stale)


def _multipart(request: Request) -> tuple[bytes, Mapping[str, str]]:
    assert request.form is not None
    fields = []
    for name, value, filename, content_type in request.form:
        field = urllib3.fields.RequestField(name, value, filename=filename)
        field.make_multipart(content_type=content_type)
        fields.append(field)
    body, content_type = urllib3.encode_multipart_formdata(fields)
    return body, {**request.headers, "Content-Type": content_type}


_PIECE = 64 * 1024  # what is sent at a time once the socket has room: a few milliseconds of loopback


def _upload(body: StreamedBody, attempt: Attempt) -> Iterator[bytes]:
    """One pass over a streamed body, each chunk sent within the time left until the call's deadline.

    On the SDK's own plain-TCP connections the body stops as soon as an answer begins to arrive (a 413
    after the first 64 KiB, from a server that then stops reading): urllib3 then reads that answer, and
    the connection, cut mid-body, is closed rather than pooled (`attempt.cut_short`). Over TLS the socket
    is readable for other reasons (TLS 1.3 session tickets), so there only the deadline is kept.
    """
    watch: selectors.BaseSelector | None = None
    try:
        for chunk in body.chunks():
            sock = getattr(attempt.connection, "sock", None)
            if sock is None:
                if attempt.deadline <= time.monotonic():
                    raise TimeoutError("the call's deadline passed while the body was sent")
                yield chunk
                continue
            if watch is None:  # one selector (epoll on Linux: no FD_SETSIZE limit) for the whole body
                watch = selectors.DefaultSelector()
                tls = isinstance(sock, ssl.SSLSocket)
                watch.register(sock, selectors.EVENT_WRITE if tls else selectors.EVENT_READ | selectors.EVENT_WRITE)
            view = memoryview(chunk)
            for start in range(0, len(chunk), _PIECE):
                remaining = attempt.deadline - time.monotonic()
                events = watch.select(remaining) if remaining > 0 else []
                if not events:
                    raise TimeoutError("the call's deadline passed while the body was sent")
                if events[0][1] & selectors.EVENT_READ:  # the server answered (or closed): that is the answer
                    attempt.cut_short = True
                    return
                sock.settimeout(remaining)  # a socket timeout bounds one send, not the body
                yield view[start : start + _PIECE]  # type: ignore[misc]  # http.client sends any bytes-like object
    finally:
        if watch is not None:
            watch.close()


class SyncTransport:
    """Sends requests with urllib3; urllib3's own retries and redirects are off, the client's policy decides."""

    max_connections: int | None = None
    """The most requests sent at once: None, as the pool opens a connection for each request beyond its size
    rather than queue it (urllib3's `block=False`), and only the caller's threads bound them."""

    def __init__(
        self,
        session: SyncSessionArg | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        network: Network | None = None,
    ) -> None:
        network = network or Network()
        self._network = network
        self._source = session_source(session, urllib3.PoolManager, _pool_factory(network))
        self._owned = self._source.make_owned() if self._source.make_owned is not None else None
        self._shares_pools = False  # a with_options() copy: the original owns the pool and closes it
        self._new_session_each_time: bool | None = None  # of a session= callable; None: not known yet
        self._max_response_bytes = max_response_bytes
        self._last_timeout = urllib3.Timeout(connect=DEFAULT_TIMEOUT, read=DEFAULT_TIMEOUT)
        if self._owned is not None:
            pools_per_process(self)

    def forget_inherited_pools(self) -> object:
        """In a forked child: a new pool, so no socket of the parent's is ever written to or read."""
        inherited = self._owned
        assert self._source.make_owned is not None
        self._owned = self._source.make_owned()
        self._shares_pools = False  # a with_options() copy has a pool of its own in the child
        return inherited

    def sharing(self, max_response_bytes: int, network: Network) -> SyncTransport:
        """A transport with other settings on this one's pool, which it never closes (for `with_options`).

        urllib3 keeps proxy and TLS settings in the pool itself, so other ones get a pool of their own.
        """
        if self._owned is not None and network != self._network:
            return SyncTransport(None, max_response_bytes, network)
        twin = copy.copy(self)
        twin._shares_pools = True
        twin._max_response_bytes = max_response_bytes
        if twin._owned is not None:
            pools_per_process(twin)
        return twin

    def offload(self, function: Callable[..., ResultT], *args: object) -> ResultT:
        """Run blocking work; the blocking client has no event loop to keep running."""
        return function(*args)

    def _timeout(self, seconds: float) -> urllib3.Timeout:
        # Most attempts are first attempts, whose timeout is the client's: build that object once.
        last = self._last_timeout
        if last.connect_timeout != seconds:
            last = self._last_timeout = urllib3.Timeout(connect=seconds, read=seconds)
        return last

    def _borrowed_pool(self) -> urllib3.PoolManager:
        """The `session=` pool for this call; learns on the first call whether the callable makes a new pool each
        time (then each is the SDK's to close when its call ends) or lends one (`lambda: pool`: it stays yours)."""
        assert self._source.borrow is not None
        pool = self._source.borrow()
        if not isinstance(pool, urllib3.PoolManager):
            raise errors.InvalidArgumentType("session= must give a urllib3.PoolManager")
        if self._new_session_each_time is None:
            again = self._source.borrow()
            self._new_session_each_time = again is not pool
            if isinstance(again, urllib3.PoolManager) and again is not pool:
                again.clear()
        return pool

    def send(self, request: Request, timeout: float, fresh_connection: bool = False) -> Response:
        """Send one request and read the whole response, within `timeout` seconds and the size cap."""
        deadline = time.monotonic() + timeout
        current = _CURRENT
        attempt = current.spare  # set field by field: a call of start() would cost more than all of them
        attempt.deadline = deadline
        attempt.fresh_connection = fresh_connection
        attempt.reused = False
        attempt.received = 0
        attempt.request = request
        attempt.connection = None
        attempt.cut_short = False
        current.attempt = attempt
        pool = self._owned
        try:
            if pool is None:
                pool = self._borrowed_pool()
            payload: bytes | Iterator[bytes] | None
            if request.form is not None:
                payload, headers = _multipart(request)
            elif isinstance(request.body, StreamedBody):
                payload, headers = _upload(request.body, attempt), request.headers
            else:
                payload, headers = request.body, request.headers
            response = pool.request(
                request.method,
                request.url,
                body=payload,
                headers=headers,
                timeout=self._timeout(timeout),
                retries=NO_RETRIES,
                redirect=False,
                preload_content=False,
            )
            try:
                answer = self._read_capped(request, response, deadline, timeout)
                if attempt.cut_short:
                    response.close()  # the body stopped midway: the server's next read would be our bytes
            except BaseException:
                response.close()  # a half-read connection must not go back to the pool
                raise
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            error = _error_for(request, exc, attempt, timeout)
            cause = request.cause(exc)
        else:
            return answer
        finally:
            current.attempt = None
            if self._owned is None and self._new_session_each_time and pool is not None:
                pool.clear()  # made by the session= callable for this call: the old client closed it too
        try:
            raise error from cause  # outside the except block, so a cause that showed the key is not its context
        finally:
            del error, cause  # the error's traceback holds this frame: no reference cycle keeps the attempt alive

    def _read_capped(
        self, request: Request, response: urllib3.BaseHTTPResponse, deadline: float, timeout: float
    ) -> Response:
        # With the SDK's own pool every socket read is bounded by the deadline (_DeadlineReader); a pool
        # passed as session= has plain urllib3 connections, so bound the body's reads here too.
        # urllib3 looks up Content-Encoding and passes each read through its decoder's buffer even when
        # the body has no encoding; ask for decoding only when there is one (that saves 2 % of a call).
        # The declared length counts encoded bytes, so it says nothing of a decoded body's length.
        response.decode_content = "content-encoding" in response.headers
        declared = None if response.decode_content else response.length_remaining  # urllib3 checked it
        if declared is not None and declared > self._max_response_bytes:
            raise request.too_large(self._max_response_bytes)
        # The SDK's own connections read against the deadline already (_DeadlineReader).
        own_deadline = self._owned is not None and DEADLINE_READS
        sock = None if own_deadline else getattr(getattr(response, "connection", None), "sock", None)
        collector: BodyCollector | None = None
        status = response.status
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise request.timed_out(timeout)
                if sock is not None:
                    sock.settimeout(remaining)
                chunk = response.read1(READ_CHUNK)
                if collector is None:
                    if len(chunk) == declared:
                        return Response(status, response.headers, chunk)  # a short answer arrives whole in one read
                    collector = BodyCollector(request, declared, self._max_response_bytes, success=200 <= status < 300)
                if chunk:
                    collector.add(chunk)
                if not chunk or collector.complete:  # a complete body needs no second, empty read
                    return collector.response(status, response.headers)
        except BaseException:
            if collector is not None:
                collector.discard()  # the error's traceback holds this frame: let the bytes go now
            raise

    def sleep(self, seconds: float) -> None:
        """Wait between attempts."""
        time.sleep(seconds)

    def close(self) -> None:
        """Close the connections of the pool this transport owns."""
        if self._owned is not None and not self._shares_pools:
            self._owned.clear()
