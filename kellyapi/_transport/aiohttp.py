"""HTTP over aiohttp for the async client: one connection pool per event loop, closed with its loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

import aiohttp
import attrs

from kellyapi import errors
from kellyapi._core.config import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT
from kellyapi._core.http import Request, Response
from kellyapi._transport.body import PREALLOCATE_ABOVE, Body, BodyCollector
from kellyapi._transport.session import session_source

AsyncSessionArg = aiohttp.ClientSession | Callable[[], aiohttp.ClientSession] | type[aiohttp.ClientSession]
"""`session=`: a ClientSession (yours, never closed by the SDK), a callable returning one, or the class."""


async def _close_with_loop(session: aiohttp.ClientSession, forget: Callable[[], object]) -> AsyncGenerator[None, None]:
    # An async generator parked at its yield is finalised by `loop.shutdown_asyncgens()`, which
    # `asyncio.run()` (and asgiref's async_to_sync) call before closing the loop: a per-loop
    # cleanup hook that needs no private aiohttp or asyncio API.
    try:
        yield
    finally:
        forget()
        await session.close()


@attrs.define
class _LoopPool:
    session: aiohttp.ClientSession
    closer: AsyncGenerator[None, None]


class AsyncTransport:
    """Sends requests with aiohttp; owns one pooled session per event loop unless the caller lends one."""

    def __init__(
        self, session: AsyncSessionArg | None = None, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    ) -> None:
        self._source = session_source(session, aiohttp.ClientSession, aiohttp.ClientSession)
        self._max_response_bytes = max_response_bytes
        self._read_at_once = min(PREALLOCATE_ABOVE, max_response_bytes)  # a body this small is read in one go
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}
        self._last_timeout = aiohttp.ClientTimeout(total=DEFAULT_TIMEOUT)

    def _current_session(self) -> aiohttp.ClientSession | None:
        """The session to send on, or None when this loop has no open pool yet (opening one awaits)."""
        if self._source.borrow is not None:
            session = self._source.borrow()
            if not isinstance(session, aiohttp.ClientSession) or session.closed:
                raise errors.InvalidRequest("session= must give an open aiohttp.ClientSession")
            return session
        pool = self._pools.get(asyncio.get_running_loop())
        return None if pool is None or pool.session.closed else pool.session

    async def _open_pool(self) -> aiohttp.ClientSession:
        assert self._source.make_owned is not None
        loop = asyncio.get_running_loop()
        owned = self._source.make_owned()
        closer = _close_with_loop(owned, lambda: self._pools.pop(loop, None))
        self._pools[loop] = _LoopPool(owned, closer)
        await closer.asend(None)
        return owned

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        # Most attempts are first attempts, whose timeout is the client's: build that object once.
        last = self._last_timeout
        if last.total != seconds:
            last = self._last_timeout = aiohttp.ClientTimeout(total=seconds)
        return last

    async def send(self, request: Request, timeout: float) -> Response:
        """Send one request and read the whole response, within `timeout` seconds and the size cap."""
        session = self._current_session()
        if session is None:
            session = await self._open_pool()
        try:
            async with session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=self._timeout(timeout),
                allow_redirects=False,
            ) as response:
                # aiohttp decodes a compressed body; its declared length counts the encoded bytes.
                declared = None if "Content-Encoding" in response.headers else response.content_length
                if declared is not None and declared <= self._read_at_once:
                    body: Body = await response.read()  # one small read; aiohttp stops at the declared length
                else:
                    body = await self._read_in_chunks(request, response, declared)
                return Response(response.status, response.headers, body)
        except asyncio.TimeoutError:
            raise request.timed_out(timeout) from None
        except aiohttp.ClientError as exc:
            raise request.failed(exc) from None

    async def _read_in_chunks(self, request: Request, response: aiohttp.ClientResponse, declared: int | None) -> Body:
        collector = BodyCollector(request, declared, self._max_response_bytes)
        async for chunk in response.content.iter_any():
            collector.add(chunk)
        return collector.body()

    async def sleep(self, seconds: float) -> None:
        """Wait between attempts without blocking the event loop."""
        await asyncio.sleep(seconds)

    async def aclose(self) -> None:
        """Close the sessions this transport owns: now on this loop, soon on any other still-running loop."""
        current = asyncio.get_running_loop()
        for loop, pool in list(self._pools.items()):
            if loop is current:
                await pool.closer.aclose()
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(pool.closer.aclose(), loop)
