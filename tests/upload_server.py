"""A real multipart server for `request(..., files=...)`: it answers with what it parsed, as a newer upload
route of the API (image/nano-banana) would receive it."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from aiohttp import web

FAILURES = web.AppKey("failures", list)


async def _echo_parts(request: web.Request) -> web.Response:
    failures = request.app[FAILURES]
    if failures:
        failures.pop()
        await request.read()
        return web.json_response({"detail": "busy"}, status=503)
    parts = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        assert isinstance(part, aiohttp.BodyPartReader)
        data = await part.read()
        parts.append(
            {
                "name": part.name,
                "filename": part.filename,
                "content_type": part.headers.get("Content-Type"),
                "sha256": hashlib.sha256(data).hexdigest(),
                "text": data.decode("utf-8", "replace") if part.filename is None else None,
            }
        )
    return web.json_response(
        {
            "authorization": request.headers.get("Authorization"),
            "content_type": request.content_type,
            "query": request.query_string,
            "parts": parts,
        }
    )


@contextmanager
def upload_server(fail_first: int = 0) -> Iterator[str]:
    """Serve the echo on 127.0.0.1 in a thread, answering the first `fail_first` uploads 503; yields its URL."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[FAILURES] = [True] * fail_first
    app.router.add_post("/{route:.*}", _echo_parts)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
