"""HTTP over aiohttp for the async client: one connection pool per event loop and process, closed with its loop."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import os
import socket
import ssl
import sys
import weakref
from asyncio import selector_events
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Mapping, MutableSet
from typing import Any, TypeVar

import aiohttp
import attrs
import yarl
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import ContentEncodingError

from kellyapi import errors
from kellyapi._core.config import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT
from kellyapi._core.download import DECODE_ABOVE, BodyCollector
from kellyapi._core.http import FormPart, Request, Response
from kellyapi._core.network import Network, basic_credentials, is_tls_protocol_failure
from kellyapi._core.upload import StreamedBody
from kellyapi._transport.fork import pools_per_process
from kellyapi._transport.hooks import version_of, without
from kellyapi._transport.session import session_source

ResultT = TypeVar("ResultT")

CONNECTIONS = 100  # aiohttp's default connector limit: requests beyond it wait in the pool's queue

# The private parts of aiohttp and asyncio used here (see hooks.py), each behind one check:
_AIOHTTP = version_of(aiohttp.__version__)
# BaseConnector._factory (an attribute since aiohttp 3.0) makes each connection's protocol, and aiohttp reads
# ResponseHandler.should_close (a property) as it takes a connection back; aiohttp has no public way to give
# a connector its own protocol. Without them connections are not watched (no stale resend, no idle guard).
WATCHED_CONNECTIONS = _AIOHTTP < (4, 0) and isinstance(vars(ResponseHandler).get("should_close"), property)
# ClientSession._retry_connection (aiohttp 3.11+, listed in ClientSession.ATTRS): False stops aiohttp's own
# unlogged resend of a GET that failed; there is no public switch.
NO_SILENT_RESEND = (3, 11) <= _AIOHTTP < (4, 0) and "_retry_connection" in aiohttp.ClientSession.ATTRS
# asyncio's transports' _call_connection_lost and _sock, and the TLS transport's _ssl_protocol (Python 3.10
# to 3.14): close the sockets of a pool whose loop was closed by hand, which no public call can do then.
DEAD_LOOP_SOCKETS = sys.version_info < (3, 15) and hasattr(
    getattr(selector_events, "_SelectorTransport", None), "_call_connection_lost"
)
AsyncSessionArg = aiohttp.ClientSession | Callable[[], aiohttp.ClientSession] | type[aiohttp.ClientSession]
"""`session=`: a ClientSession (yours, never closed by the SDK), a callable returning one, or the class."""


class _WatchedHandler(ResponseHandler):
    """aiohttp's protocol for one connection, refusing to keep one that speaks while idle.

    aiohttp parses whatever arrives on an idle keep-alive connection (a late `408`, a stray answer) and
    queues it for the next request to read as its own answer. Go's net/http drops such a connection
    ("unsolicited response received on idle HTTP channel"); so does this, as soon as the bytes arrive.
    The bytes that arrive for a request tell a stale connection (none) from one the server answered on.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.kelly_busy = True  # a request is using the connection (a new one is made for a request)
        self.kelly_reused = False  # the request using it got it from the pool
        self.kelly_received = 0  # bytes that arrived for that request
        self.kelly_task = 0  # id() of the task whose request it carries (an id, so no finished task is kept alive)
        self.kelly_handed_out = 0  # when connect() last handed it out, by _HANDED_OUT's count
        self.kelly_transport: asyncio.BaseTransport | None = None  # kept after aiohttp's close() forgets it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport: aborting a failed attempt needs it after aiohttp has let go of it."""
        self.kelly_transport = transport
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Count the bytes for the request under way; close the connection if it speaks while idle."""
        if self.kelly_busy:
            self.kelly_received += len(data)
        elif data:
            self.close()  # unsolicited: the pool drops a closed connection instead of handing it out
            return
        _data_received(self, data)

    def connection_lost(self, exc: BaseException | None) -> None:
        """The connection failed or closed: first hand the parser what the server sent before it went."""
        if exc is not None:
            self._take_what_arrived()
        super().connection_lost(exc)

    def set_exception(self, *args: Any, **kwargs: Any) -> None:
        """Sending failed (the server answered early and closed, say): first take the answer that arrived."""
        self._take_what_arrived()
        super().set_exception(*args, **kwargs)

    def _take_what_arrived(self) -> None:
        # A write that fails on a connection the server reset makes asyncio drop the transport unread,
        # though the server's answer (a 413 before it closed) may wait in the socket. On plain TCP, read it
        # from a duplicate of the descriptor (the transport's own socket is closed only after this) and
        # parse it as if it had arrived first, so the answer wins over the failed write. Over TLS the
        # bytes cannot be read past the TLS layer: there the answer is lost and the attempt fails.
        transport = self.transport
        if not self.kelly_busy or transport is None or transport.get_extra_info("sslcontext") is not None:
            return
        sock = transport.get_extra_info("socket")
        if sock is None or sock.fileno() < 0:
            return
        try:
            duplicate = socket.socket(fileno=os.dup(sock.fileno()))
        except OSError:
            return
        with duplicate:
            duplicate.setblocking(False)
            while True:
                try:
                    data = duplicate.recv(65536)
                except OSError:  # nothing more (EAGAIN), or the reset itself
                    return
                if not data:
                    return
                self.data_received(data)

    @property
    def should_close(self) -> bool:
        """Read by aiohttp as it takes the connection back: from here on it is idle."""
        self.kelly_busy = False
        return bool(_should_close(self))

    @property
    def stale(self) -> bool:
        """The request went out on a reused connection and not one byte of an answer came back."""
        return self.kelly_reused and self.kelly_received == 0


_data_received = ResponseHandler.data_received
_HANDED_OUT = [0]  # connections handed out so far, by every connector: tells this attempt's from earlier ones
_should_close: Any = getattr(vars(ResponseHandler).get("should_close"), "fget", None)


class _GuardedConnector(aiohttp.TCPConnector):
    """A TCPConnector whose connections are _WatchedHandlers, each noting the task whose request it carries."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.protocols: MutableSet[_WatchedHandler] = weakref.WeakSet()  # all it opened
        if WATCHED_CONNECTIONS:  # aiohttp makes each connection's protocol with this factory
            self._factory = self._watched_handler  # type: ignore[assignment]
        else:
            without("aiohttp's TCPConnector._factory", "stale connections are not resent, idle ones not watched")

    def _watched_handler(self) -> _WatchedHandler:
        protocol = _WatchedHandler(self._loop)
        self.protocols.add(protocol)
        return protocol

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        """A connection for the calling task's request, marked as carrying it."""
        conn = await super().connect(req, traces, timeout)
        protocol: Any = conn.protocol
        if protocol.kelly_task:  # it carried a request before: this is a reuse
            protocol.kelly_busy = protocol.kelly_reused = True
            protocol.kelly_received = 0
        protocol.kelly_task = id(asyncio.current_task())
        _HANDED_OUT[0] += 1
        protocol.kelly_handed_out = _HANDED_OUT[0]
        return conn

    def used_by(self, task: object, handed_out_after: int) -> _WatchedHandler | None:
        """The connection the task's failed request went out on, if one was handed out for this attempt.

        Earlier attempts of the same task may have left failed connections about (still marked busy,
        as they were never released), so only one handed out after the attempt began counts.
        """
        task_id = id(task)
        return next(
            (
                protocol
                for protocol in list(self.protocols)
                if protocol.kelly_task == task_id and protocol.kelly_handed_out > handed_out_after
            ),
            None,
        )

    def retire_idle_connections(self) -> None:
        """Close every pooled connection not in use: after one turned out stale, the others may be too."""
        for protocol in list(self.protocols):
            if not protocol.kelly_busy:
                protocol.close()


def _abort(session: aiohttp.ClientSession, handed_out_before: int) -> _WatchedHandler | None:
    """Abort the connection of the calling task's failed attempt, if there was one: aiohttp would close it
    gracefully, and a graceful close keeps the socket (and its descriptor) until its unsent body is flushed,
    which a server that stopped reading never lets happen. Returns that connection."""
    connector = session.connector
    if not isinstance(connector, _GuardedConnector):
        return None
    used = connector.used_by(asyncio.current_task(), handed_out_before)
    transport = used.kelly_transport if used is not None else None
    if isinstance(transport, asyncio.WriteTransport):
        transport.abort()  # also once aiohttp's close() began a graceful close, which waits for the flush
    return used


def _owned_session_factory(network: Network) -> Callable[[], aiohttp.ClientSession]:
    def make() -> aiohttp.ClientSession:
        connector = _GuardedConnector(
            limit=CONNECTIONS, ssl=network.ssl_context if network.ssl_context is not None else True
        )
        session = aiohttp.ClientSession(connector=connector)
        # aiohttp silently resends a GET that failed on a reused connection; the client does that itself,
        # for every method and logged as an attempt, so the server never sees a send the SDK did not log.
        if NO_SILENT_RESEND:
            session._retry_connection = False
        else:
            without("aiohttp's ClientSession._retry_connection", "aiohttp may resend a failed GET unlogged")
        return session

    return make


def _run_without_loop(coroutine: Coroutine[Any, Any, object]) -> None:
    """Run a coroutine that never needs to wait (a close on a dead loop) to its end, or drop it."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()


def _close_socket_of_dead_loop(transport: Any) -> None:
    # A closed loop cannot run the callback that closes a transport's socket, and a transport left to the
    # garbage collector warns "unclosed transport". Run that callback here, as the loop would have.
    # Of asyncio's selector transports (TLS ones wrap one) this uses what every Python 3.10+ has.
    if not DEAD_LOOP_SOCKETS:
        with contextlib.suppress(RuntimeError):
            transport.abort()
        return
    transport = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None) or transport
    lost = getattr(transport, "_call_connection_lost", None)
    if transport.is_closing() and getattr(transport, "_sock", None) is None:
        return
    with contextlib.suppress(RuntimeError):  # "Event loop is closed", once the transport is marked closing
        transport.abort()
    if lost is not None and getattr(transport, "_sock", None) is not None:
        # The protocol's connection_lost may fail to schedule callbacks; nothing waits on an idle pool.
        with contextlib.suppress(RuntimeError):
            lost(None)


@attrs.define
class _LoopPool:
    session: aiohttp.ClientSession
    closer: AsyncGenerator[None, None]


async def _close_with_loop(session: aiohttp.ClientSession, forget: Callable[[], object]) -> AsyncGenerator[None, None]:
    # An async generator parked at its yield is finalised by `loop.shutdown_asyncgens()`, which
    # `asyncio.run()` (and asgiref's async_to_sync) call before closing the loop: a per-loop
    # cleanup hook that needs no private aiohttp or asyncio API.
    try:
        yield
    finally:
        forget()
        await session.close()


def _discard_dead_pool(pool: _LoopPool) -> None:
    """Close a pool whose loop was closed without shutdown_asyncgens(): sockets now, and not a warning printed."""
    connector = pool.session.connector
    protocols = list(connector.protocols) if isinstance(connector, _GuardedConnector) else []
    _run_without_loop(pool.closer.aclose())  # marks the session and connector closed: their loop is gone
    for protocol in protocols:
        if protocol.transport is not None:
            _close_socket_of_dead_loop(protocol.transport)


@functools.lru_cache(maxsize=256)  # a client calls few URLs, each many times: yarl caches only what it encodes
def _exact_url(url: str) -> yarl.URL | str:
    """The URL as the SDK wrote it: yarl would otherwise decode escapes and resolve `%2E%2E` segments in it.

    The SDK's URLs are already encoded (routes checked and quoted, queries urlencoded); a base URL with a
    non-ASCII host still needs yarl's encoding (IDNA), so it is left to aiohttp.
    """
    return yarl.URL(url, encoded=True) if url.isascii() else url


def _is_certificate_failure(exc: BaseException) -> bool:
    return isinstance(exc, aiohttp.ClientConnectorCertificateError) or isinstance(
        getattr(exc, "os_error", None), ssl.SSLCertVerificationError
    )


def _is_encoding_failure(exc: BaseException) -> bool:
    link: BaseException | None = exc
    for _ in range(8):
        if link is None:
            return False
        if isinstance(link, ContentEncodingError):
            return True
        link = link.__cause__ or link.__context__
    return False


def _error_for(request: Request, exc: aiohttp.ClientError, stale: bool) -> errors.BaseError:
    """The typed error for what aiohttp raised, marked for the retry policy; the same classes as urllib3's."""
    handshake = isinstance(exc, aiohttp.ClientConnectorSSLError)
    if _is_certificate_failure(exc) or (handshake and is_tls_protocol_failure(getattr(exc, "os_error", None))):
        return request.failed(exc, deterministic=True)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return request.failed(exc)  # the proxy refused (a 407, a 403 for the port), as urllib3's ProxyError
    if isinstance(exc, aiohttp.ClientResponseError):
        # Raised while parsing: a garbage status line, oversized or malformed headers, bytes past the body.
        return request.broken(exc)
    if _is_encoding_failure(exc):
        return request.broken(exc)  # a Content-Encoding that cannot be decoded (br without brotli, bad gzip)
    return request.failed(exc, stale_connection=stale)


# aiohttp writes a bytes body from the event loop in one go, and warns (ResourceWarning) above 1 MiB: a
# larger one goes in slices of a view of it (nothing is copied), like a streamed body.
_LARGE_BODY = 1024 * 1024
_SLICE = 256 * 1024  # the socket buffer's order of size on Linux: one write per slice


class _Sending:
    """One attempt's large body as aiohttp sends it, stopped as soon as an answer begins to arrive.

    aiohttp keeps writing the body after the server answered (a 413 after the first 64 KiB, say), and a
    server that then closes makes that write fail: the error would win over the answer, and the request
    would be sent again. Stopping the body when the answer's first bytes arrive lets the answer be read;
    the connection, cut mid-body, is then closed rather than pooled.
    """

    __slots__ = ("cut_short", "handed_out_before", "session", "task")

    def __init__(self, session: aiohttp.ClientSession, handed_out_before: int) -> None:
        self.session = session
        self.task = asyncio.current_task()
        self.handed_out_before = handed_out_before
        self.cut_short = False

    def answered(self) -> bool:
        """Whether bytes of an answer arrived on the attempt's connection (known for the SDK's own pools)."""
        connector = self.session.connector
        if not isinstance(connector, _GuardedConnector):
            return False
        used = connector.used_by(self.task, self.handed_out_before)
        if used is None:
            return False
        transport = used.transport
        if used.kelly_received or transport is None or transport.is_closing():  # an answer, or no more connection
            self.cut_short = True
        return self.cut_short


def _payload(request: Request, sending: _Sending) -> bytes | aiohttp.FormData | AsyncIterator[bytes] | None:
    body = request.body
    if request.form is not None:
        return _form_data(request.form)
    if isinstance(body, StreamedBody):
        return _streamed(body, sending)
    if body is not None and len(body) > _LARGE_BODY:
        return _sliced(body, sending)
    return body


async def _sliced(body: bytes, sending: _Sending) -> AsyncIterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(body), _SLICE):
        if sending.answered():
            return
        yield view[start : start + _SLICE]  # type: ignore[misc]  # aiohttp writes any bytes-like object


async def _streamed(body: StreamedBody, sending: _Sending) -> AsyncIterator[bytes]:
    """One pass over a streamed body (its Content-Length is in the request's headers)."""
    chunks = body.chunks()
    try:
        if body.reads_files:  # a read may wait on a disk: in a thread, as aiohttp reads a file body
            while not sending.answered() and (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                yield chunk
                del chunk  # sent (or copied to the socket's buffer): let it go before the next is read
        else:
            for chunk in chunks:
                if sending.answered():
                    return
                yield chunk
    finally:
        with contextlib.suppress(ValueError):  # still reading in a thread: the file closes when it is done
            chunks.close()


def _form_data(parts: tuple[FormPart, ...]) -> aiohttp.FormData:
    # A FormData can be sent once only: each attempt builds its own from the parts.
    form = aiohttp.FormData(quote_fields=False)
    for name, value, filename, content_type in parts:
        form.add_field(name, value, filename=filename, content_type=content_type)
    return form


class AsyncTransport:
    """Sends requests with aiohttp; owns one pooled session per event loop unless the caller lends one."""

    max_connections: int | None
    """The most requests sent at once (the pool's size): more wait in its queue. None: a session of yours."""

    def __init__(
        self,
        session: AsyncSessionArg | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        network: Network | None = None,
    ) -> None:
        network = network or Network()
        self._source = session_source(session, aiohttp.ClientSession, _owned_session_factory(network))
        self.max_connections = CONNECTIONS if self._source.make_owned is not None else None
        self._max_response_bytes = max_response_bytes
        self._read_at_once = min(DECODE_ABOVE, max_response_bytes)  # a body this small is read in one go
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}
        self._last_timeout = aiohttp.ClientTimeout(total=DEFAULT_TIMEOUT)
        self._shares_pools = False  # a with_options() copy: the original owns the pools and closes them
        self._new_session_each_time: bool | None = None  # of a session= callable; None: not known yet
        self._use_network(network)
        if self._source.make_owned is not None:
            pools_per_process(self)

    def _use_network(self, network: Network) -> None:
        # Proxy and TLS go with each request: aiohttp keys its pooled connections by both, so one pool serves all.
        self._ssl: ssl.SSLContext | bool = network.ssl_context if network.ssl_context is not None else True
        proxy = network.proxy
        self._proxy = None if proxy is None else proxy.url
        self._proxy_headers = None
        if proxy is not None and proxy.credentials is not None:
            self._proxy_headers = {"Proxy-Authorization": basic_credentials(proxy.credentials)}

    def sharing(self, max_response_bytes: int, network: Network) -> AsyncTransport:
        """A transport with other settings on this one's pools, which it never closes (for `with_options`)."""
        twin = copy.copy(self)
        twin._shares_pools = True
        twin._max_response_bytes = max_response_bytes
        twin._read_at_once = min(DECODE_ABOVE, max_response_bytes)
        twin._use_network(network)
        if twin._source.make_owned is not None:
            pools_per_process(twin)
        return twin

    async def offload(self, function: Callable[..., ResultT], *args: object) -> ResultT:
        """Run blocking work (reading a large or slow file) in a thread, so the event loop keeps running."""
        return await asyncio.to_thread(function, *args)

    def forget_inherited_pools(self) -> object:
        """In a forked child: no pool of the parent's is ever used (its loops do not run here)."""
        inherited, self._pools = self._pools, {}
        self._shares_pools = False  # a with_options() copy has pools of its own in the child
        return inherited

    def _borrowed_session(self) -> aiohttp.ClientSession:
        assert self._source.borrow is not None
        session = self._source.borrow()
        if not isinstance(session, aiohttp.ClientSession) or session.closed:
            raise errors.InvalidArgumentType("session= must give an open aiohttp.ClientSession")
        return session

    async def _makes_sessions(self, session: aiohttp.ClientSession) -> bool:
        """Whether `session=` is a callable that makes a new session each time (then each is the SDK's to close
        when its call ends) rather than one that lends the same session (`lambda: session`: it stays yours).
        Learnt on the first call, by asking the callable twice."""
        if self._new_session_each_time is None:
            again = self._source.borrow() if self._source.borrow is not None else session
            self._new_session_each_time = again is not session
            if isinstance(again, aiohttp.ClientSession) and again is not session:
                await again.close()
        return self._new_session_each_time

    def _current_session(self) -> aiohttp.ClientSession | None:
        """The session to send on, or None when this loop has no open pool yet (opening one awaits)."""
        if self._source.borrow is not None:
            return self._borrowed_session()
        pools = self._pools
        if len(pools) > 1:
            self._discard_dead_pools()
        pool = pools.get(asyncio.get_running_loop())
        return None if pool is None or pool.session.closed else pool.session

    def _discard_dead_pools(self) -> None:
        for loop, pool in list(self._pools.items()):
            if loop.is_closed():
                del self._pools[loop]
                _discard_dead_pool(pool)

    async def _open_pool(self) -> aiohttp.ClientSession:
        assert self._source.make_owned is not None
        self._discard_dead_pools()
        loop = asyncio.get_running_loop()
        owned = self._source.make_owned()
        closer = _close_with_loop(owned, lambda: self._pools.pop(loop, None))
        self._pools[loop] = _LoopPool(owned, closer)
        await closer.asend(None)
        return owned

    def _with_proxy_login(self, request: Request) -> Mapping[str, str]:
        # aiohttp sends proxy_headers only on a CONNECT; a plain http:// request names the proxy login itself.
        assert self._proxy_headers is not None
        return {**request.headers, **self._proxy_headers} if request.url.startswith("http:") else request.headers

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        # Most attempts are first attempts, whose timeout is the client's: build that object once.
        last = self._last_timeout
        if last.total != seconds:
            last = self._last_timeout = aiohttp.ClientTimeout(total=seconds)
        return last

    async def send(self, request: Request, timeout: float, fresh_connection: bool = False) -> Response:
        """Send one request and read the whole response, within `timeout` seconds and the size cap."""
        session = self._current_session()
        made_for_this_call = False
        if session is None:
            session = await self._open_pool()
        elif self._source.borrow is not None:
            made_for_this_call = await self._makes_sessions(session)
        handed_out_before = _HANDED_OUT[0]
        if fresh_connection and isinstance(session.connector, _GuardedConnector):
            session.connector.retire_idle_connections()  # so the resend after a stale connection gets a new one
        headers = request.headers if self._proxy_headers is None else self._with_proxy_login(request)
        data: Any = request.body
        sending: _Sending | None = None  # only a large or multipart body is sent in pieces that can stop
        if request.form is not None or (data is not None and (type(data) is not bytes or len(data) > _LARGE_BODY)):
            sending = _Sending(session, handed_out_before)
            data = _payload(request, sending)
            if type(request.body) is bytes:  # sent in slices: its length up front, not chunked
                headers = {**headers, "Content-Length": str(len(request.body))}
        try:
            async with session.request(
                request.method,
                _exact_url(request.url),
                data=data,
                headers=headers,
                timeout=self._timeout(timeout),
                allow_redirects=False,
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
                ssl=self._ssl,
            ) as response:
                # aiohttp decodes a compressed body; its declared length counts the encoded bytes.
                declared = None if "Content-Encoding" in response.headers else response.content_length
                if declared is not None and declared <= self._read_at_once:
                    # One small read; aiohttp stops at the declared length.
                    answer = Response(response.status, response.headers, await response.read())
                else:
                    answer = await self._read_in_chunks(request, response, declared)
                if sending is not None and sending.cut_short:
                    response.close()  # the body stopped midway: the server's next read would be our bytes
                return answer
        except asyncio.TimeoutError:
            _abort(session, handed_out_before)
            raise request.timed_out(timeout) from None
        except aiohttp.ClientError as exc:
            if isinstance(exc.__cause__, errors.InvalidRequest):  # a streamed file could not be read
                _abort(session, handed_out_before)
                raise exc.__cause__ from None
            used = _abort(session, handed_out_before)
            error = _error_for(request, exc, stale=used is not None and used.stale)
            cause = request.cause(exc)
        finally:
            if made_for_this_call:
                await session.close()  # made by the session= callable for this call: the old client closed it too
        try:
            raise error from cause  # outside the except block, so a cause that showed the key is not its context
        finally:
            del error, cause  # the error's traceback holds this frame: no reference cycle keeps the attempt alive

    async def _read_in_chunks(
        self, request: Request, response: aiohttp.ClientResponse, declared: int | None
    ) -> Response:
        status = response.status
        collector = BodyCollector(request, declared, self._max_response_bytes, success=200 <= status < 300)
        try:
            async for chunk in response.content.iter_any():
                collector.add(chunk)
            return collector.response(status, response.headers)
        except BaseException:
            collector.discard()  # the error's traceback holds this frame: let the bytes go now
            raise

    async def sleep(self, seconds: float) -> None:
        """Wait between attempts without blocking the event loop."""
        await asyncio.sleep(seconds)

    async def aclose(self) -> None:
        """Close the sessions this transport owns: now on this loop, soon on any other still-running loop."""
        if self._shares_pools:
            return
        current = asyncio.get_running_loop()
        for loop, pool in list(self._pools.items()):
            if loop is current:
                await pool.closer.aclose()
            elif loop.is_closed():
                del self._pools[loop]
                _discard_dead_pool(pool)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(pool.closer.aclose(), loop)
