"""How the sandbox sends a faulty answer: whole, cut off, short, never, or a byte at a time."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time

from aiohttp import web

from kellyapi.sandbox.faults import Fault

HANG_LIMIT = 600.0  # a hung answer gives up after this long even if the client never does
_POLL = 0.05


class ConnectionDropped(web.HTTPException):
    """Ends a handler whose connection the sandbox cut on purpose; nothing more is written."""

    status_code = 599


def _cut(request: web.Request) -> None:
    """Reset the connection (RST, not FIN): what a crashing proxy or a dropped route looks like."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _gone(request: web.Request, stopping: threading.Event) -> bool:
    transport = request.transport
    return stopping.is_set() or transport is None or transport.is_closing()


async def _prepared(request: web.Request, fault: Fault, content_length: int) -> web.StreamResponse:
    response = web.StreamResponse(status=fault.status, headers=fault.response_headers())
    response.content_length = content_length
    await response.prepare(request)
    return response


async def deliver(request: web.Request, fault: Fault, body: bytes, stopping: threading.Event) -> web.StreamResponse:
    """Send `body` with the fault's status and headers, the way its `delivery` says."""
    if fault.delivery == "answer":
        return web.Response(status=fault.status, body=body, headers=fault.response_headers())
    if fault.delivery == "reset":
        _cut(request)
        raise ConnectionDropped()
    if fault.delivery == "hang":
        give_up = time.monotonic() + HANG_LIMIT
        while not _gone(request, stopping) and time.monotonic() < give_up:
            await asyncio.sleep(_POLL)
        _cut(request)
        raise ConnectionDropped()
    if fault.delivery == "reset-mid-body":
        response = await _prepared(request, fault, len(body))
        await response.write(body[: len(body) // 2])
        _cut(request)
        raise ConnectionDropped()
    if fault.delivery == "short-body":
        response = await _prepared(request, fault, len(body) + 1024)
        await response.write(body)
        if request.transport is not None:
            request.transport.close()  # a clean FIN, 1 KiB short of what Content-Length promised
        raise ConnectionDropped()
    response = await _prepared(request, fault, len(body))
    for index in range(len(body)):
        if _gone(request, stopping):
            raise ConnectionDropped()
        try:
            await response.write(body[index : index + 1])
        except ConnectionError:
            raise ConnectionDropped() from None
        await asyncio.sleep(fault.drip_interval)
    await response.write_eof()
    return response
