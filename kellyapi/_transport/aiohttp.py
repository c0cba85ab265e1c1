"""HTTP over aiohttp for the async client: one connection pool per event loop, closed with its loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

import aiohttp
import attrs

from kellyapi import errors
from kellyapi._core.config import DEFAULT_MAX_RESPONSE_BYTES
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
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}

    async def _session(self) -> aiohttp.ClientSession:
        if self._source.borrow is not None:
            session = self._source.borrow()
            if not isinstance(session, aiohttp.ClientSession) or session.closed:
                raise errors.InvalidRequest("session= must give an open aiohttp.ClientSession")
            return session
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None or pool.session.closed:
            pool = await self._open_pool(loop)
        return pool.session

    async def _open_pool(self, loop: asyncio.AbstractEventLoop) -> _LoopPool:
        assert self._source.make_owned is not None
        owned = self._source.make_owned()
        closer = _close_with_loop(owned, lambda: self._pools.pop(loop, None))
        pool = self._pools[loop] = _LoopPool(owned, closer)
        await pool.closer.asend(None)
        return pool

    async def send(self, request: Request, timeout: float) -> Response:
        """Send one request and read the whole response, within `timeout` seconds and the size cap."""
        session = await self._session()
        try:
            async with session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as response:
                body = await self._read_capped(request, response)
                return Response(response.status, response.headers, body)
        except asyncio.TimeoutError:
            raise request.timed_out(timeout) from None
        except aiohttp.ClientError as exc:
            raise request.failed(exc) from None

    async def _read_capped(self, request: Request, response: aiohttp.ClientResponse) -> Body:
        declared = response.content_length
        if declared is not None and declared <= min(PREALLOCATE_ABOVE, self._max_response_bytes):
            return await response.read()  # one small read; aiohttp stops at the declared length
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
