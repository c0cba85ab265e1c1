"""The async client across event loops, under load, and in the usage guide's own examples."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from kellyapi import KellyAPI, errors
from kellyapi._transport.aiohttp import _GuardedConnector
from kellyapi.testing import KellySandbox
from tests._async.test_hostile_server import close_after_answering
from tests.hostile_server import API_KEY, Connection, echo, hostile

EXAMPLES = Path(__file__).parent / "docs_examples"
# Run a guide example as written; the session example only defines main(), as the guide shows it.
RUNNER = textwrap.dedent(
    """
    import asyncio, pathlib, runpy, sys
    path = sys.argv[1]
    source = pathlib.Path(path).read_text()
    namespace = runpy.run_path(path, run_name="__main__")
    if "asyncio.run(" not in source:
        asyncio.run(namespace["main"]())
    """
)


def run_python(code: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "default", "-X", "dev", "-c", code, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_one_client_serves_successive_asyncio_runs(kelly_sandbox: KellySandbox) -> None:
    api = KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url)

    async def ask(prompt: str) -> str:
        return await api.llm(prompt)

    assert asyncio.run(ask("first loop"))
    assert asyncio.run(ask("second loop"))
    assert asyncio.run(ask("third loop"))
    assert kelly_sandbox.connections == 3  # one pool per loop, each closed with its loop


def test_gather_of_500_calls_on_one_client(kelly_sandbox: KellySandbox) -> None:
    async def main() -> list[str]:
        async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url) as api:
            return await asyncio.gather(*(api.llm(f"question {i}") for i in range(500)))

    answers = asyncio.run(main())
    assert len(answers) == 500
    assert all(f"'question {i}'" in answer for i, answer in enumerate(answers))
    assert len(kelly_sandbox.requests) == 500
    assert kelly_sandbox.connections <= 100


@pytest.mark.parametrize(
    "example", ["basic_usage.py", "session_reuse.py", "concurrent_requests.py", "different_contexts.py"]
)
def test_the_usage_guide_examples_run_unchanged_without_warnings(kelly_sandbox: KellySandbox, example: str) -> None:
    result = run_python(RUNNER, str(EXAMPLES / example), env={"KELLY_API_URL": kelly_sandbox.url})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(kelly_sandbox.requests) >= 1
    assert all(request.status == 200 for request in kelly_sandbox.requests)


def test_a_client_never_closed_leaves_no_warning(kelly_sandbox: KellySandbox) -> None:
    code = textwrap.dedent(
        """
        import asyncio, gc
        from kellyapi import KellyAPI
        api = KellyAPI(api_key="k")
        async def main():
            await api.generate("a cat", width=64, height=64)
            await api.llm("hi")
        asyncio.run(main())
        asyncio.run(main())
        del api
        gc.collect()
        """
    )
    result = run_python(code, env={"KELLY_API_URL": kelly_sandbox.url})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


HAND_CLOSED_LOOPS = textwrap.dedent(
    """
    import asyncio, gc, os, sys
    from kellyapi import KellyAPI

    def descriptors():
        return len(os.listdir("/proc/self/fd"))

    api = KellyAPI(os.environ["KELLY_API_KEY"], os.environ["KELLY_API_URL"])
    before = descriptors()
    most_pools = 0
    for number in range(200):
        loop = asyncio.new_event_loop()  # as Celery tasks and older code do: no shutdown_asyncgens()
        assert loop.run_until_complete(api.llm(f"loop {number}"))
        most_pools = max(most_pools, len(api._transport._pools))
        loop.close()
    asyncio.run(api.aclose())
    gc.collect()
    print(most_pools, descriptors() - before)
    """
)


def test_loops_closed_by_hand_leave_no_socket_pool_or_warning(kelly_sandbox: KellySandbox) -> None:
    env = {"KELLY_API_KEY": kelly_sandbox.api_key, "KELLY_API_URL": kelly_sandbox.url}
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", HAND_CLOSED_LOOPS],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    most_pools, descriptors_left = map(int, result.stdout.split())
    assert most_pools == 1  # the pool of each closed loop went when the next loop's opened
    assert descriptors_left == 0
    assert kelly_sandbox.connections == 200


def test_a_loop_idle_between_calls_survives_a_server_closing_each_connection() -> None:
    # The loop does not run between calls, so it never sees the server's FIN: every call after the first
    # goes out on a dead connection. A POST the server may have read is resent only as a counted retry
    # (Go's rule), on a fresh connection.
    with hostile(close_after_answering) as server:
        api = KellyAPI(API_KEY, server.url, max_retries=1)
        loop = asyncio.new_event_loop()
        try:
            answers = []
            for number in range(20):
                answers.append(loop.run_until_complete(api.llm(f"call {number}")))
                time.sleep(0.02)
            loop.run_until_complete(api.aclose())
        finally:
            loop.close()
    assert answers == [f"call {number}" for number in range(20)]
    assert len(server.requests) == 20


def test_a_failure_is_judged_by_its_own_connection_not_an_earlier_one_of_the_same_task() -> None:
    # Each of the first connections answers one request, then reads the next and closes: the task's
    # calls leave failed stale connections behind. Later connections read one request and close.
    stale_rounds = 20

    def script(conn: Connection) -> None:
        first = conn.read_request()
        if first is not None and conn.server.connections <= stale_rounds + 1:
            conn.send(echo(first))
            conn.read_request()
        conn.close()

    async def main(api: KellyAPI) -> tuple[int, int]:
        await api.llm_models()
        connector = next(iter(api._transport._pools.values())).session.connector
        assert isinstance(connector, _GuardedConnector)
        connector.protocols = set(connector.protocols)  # failed connections stay alive, as in a busy process
        for _ in range(stale_rounds):  # a GET is replayable: stale, then resent on a new connection
            await api.llm_models()
        kept = list(connector.protocols)
        connector.retire_idle_connections()
        before = len(server.requests)
        with pytest.raises(errors.ConnectionError):
            await api.llm_models()  # a new connection that fails: not stale, not resent with max_retries=0
        return before, len(kept)

    with hostile(script) as server:
        api = KellyAPI(API_KEY, server.url, max_retries=0)
        before, kept = asyncio.run(main(api))
        assert kept > stale_rounds
        assert len(server.requests) == before + 1


async def test_a_file_that_blocks_is_read_off_the_event_loop(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    """A FIFO's reader waits for its writer; here the writer starts only if the event loop is still running."""
    from tests.samples import PNG

    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    events: list[str] = []

    # Were the read done on the loop, the feeder below could never run: the watchdog then unblocks it,
    # so the test fails instead of hanging.
    def unblock() -> None:
        events.append("watchdog")
        fifo.write_bytes(PNG)

    watchdog = threading.Timer(15, unblock)
    watchdog.start()

    async def feed() -> None:
        await asyncio.sleep(0.2)
        events.append("loop ran while the file was read")
        await asyncio.to_thread(fifo.write_bytes, PNG)

    try:
        async with KellyAPI() as api:
            image, _ = await asyncio.gather(api.upscale(fifo), feed())
    finally:
        watchdog.cancel()

    assert events == ["loop ran while the file was read"]
    assert image.startswith(b"\x89PNG")


async def test_a_large_file_object_is_read_off_the_event_loop(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    from tests.samples import PNG

    path = tmp_path / "big.png"
    path.write_bytes(PNG + bytes(2 * 1024 * 1024))  # over the 1 MiB read at once
    readers: set[int] = set()
    loop_thread = threading.get_ident()

    class Watched(io.FileIO):
        def read(self, size: int | None = -1, /) -> bytes:
            readers.add(threading.get_ident())
            return super().read(size)

    async with KellyAPI() as api:
        with Watched(path) as file:
            assert await api.upscale(file)
        assert await api.upscale(path)
    assert readers and loop_thread not in readers
    assert [r.body["image_data"][:20] for r in kelly_sandbox.requests] == [base64.b64encode(PNG).decode()[:20]] * 2
