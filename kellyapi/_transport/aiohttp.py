"""HTTP over aiohttp for the async client: one connection pool per event loop, closed with its loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable

import aiohttp
import attrs

from kellyapi import errors
from kellyapi._core.config import DEFAULT_MAX_RESPONSE_BYTES
from kellyapi._core.http import Request, Response
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
            assert self._source.make_owned is not None
            owned = self._source.make_owned()
            closer = _close_with_loop(owned, lambda: self._pools.pop(loop, None))
            pool = self._pools[loop] = _LoopPool(owned, closer)
            await pool.closer.asend(None)
        return pool.session

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
                headers = {name.lower(): value for name, value in response.headers.items()}
                return Response(response.status, headers, body)
        except asyncio.TimeoutError:
            raise request.timed_out(timeout) from None
        except aiohttp.ClientError as exc:
            raise request.failed(exc) from None

    async def _read_capped(self, request: Request, response: aiohttp.ClientResponse) -> bytes:
        limit = self._max_response_bytes
        if response.content_length is not None and response.content_length > limit:
            raise request.too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise request.too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

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
