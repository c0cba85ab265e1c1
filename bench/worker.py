"""One measurement in a fresh interpreter: `python bench/worker.py CONTENDER MODE URL [ARGS]`, JSON on stdout.

Run by path, not as a module, and importing only what its contender needs, so the same file serves the
original 0.0.2.5 client from its own venv (where `import kellyapi` is that client).

Contenders: kellyapi, aiohttp (one raw ClientSession), kellyapi-sync, urllib3 (one raw PoolManager),
old-kellyapi. Modes: `latency N`, `throughput CONCURRENCY CALLS`, `instructions CONCURRENCY CALLS` (the
throughput run between two `getppid()` marks, for `valgrind --tool=callgrind --dump-before=getppid`).
Every contender makes the same call: POST chat/chatgpt with a JSON prompt, returning the answer's text.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

KEY = "bench-key"
PROMPT = {"prompt": "hello", "character": "KelyAI"}


def body() -> bytes:
    """The request body, encoded per call as any caller must (a pre-encoded constant would flatter the baseline)."""
    return json.dumps(PROMPT, separators=(",", ":")).encode()


HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", "Accept": "application/json"}
# Calls before any measurement, the same for every contender: the connection pool filled and the code paths
# warm, as in a long-lived client.
WARMUP = 600
ASYNC = {"kellyapi", "aiohttp", "old-kellyapi"}

AsyncCall = Callable[[], Awaitable[str]]
SyncCall = Callable[[], str]


async def async_contender(name: str, url: str, stack: list[Any]) -> AsyncCall:
    """The call to measure, with whatever it keeps open appended to `stack` for closing."""
    if name == "kellyapi":
        from kellyapi import KellyAPI

        api = KellyAPI(KEY, url)
        stack.append(api.aclose)
        return lambda: api.llm("hello")
    if name == "old-kellyapi":
        from kellyapi import KellyAPI  # the original client, from its own venv

        old = KellyAPI(api_key=KEY, api=url)
        return lambda: old.llm("hello")
    import aiohttp

    session = aiohttp.ClientSession()
    stack.append(session.close)
    target = url + "chat/chatgpt"

    async def raw() -> str:
        async with session.post(target, data=body(), headers=HEADERS) as response:
            return str(json.loads(await response.read())["message"])

    return raw


def sync_contender(name: str, url: str, stack: list[Any]) -> SyncCall:
    """The blocking call to measure."""
    if name == "kellyapi-sync":
        from kellyapi import SyncKellyAPI

        api = SyncKellyAPI(KEY, url)
        stack.append(api.close)
        return lambda: api.llm("hello")
    import urllib3

    pool = urllib3.PoolManager(maxsize=100)
    stack.append(pool.clear)
    target = url + "chat/chatgpt"
    return lambda: str(json.loads(pool.request("POST", target, body=body(), headers=HEADERS).data)["message"])


async def async_latency(call: AsyncCall, calls: int) -> dict[str, Any]:
    for _ in range(WARMUP):
        await call()
    samples = []
    cpu = time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return {"samples": samples, "cpu": (time.process_time() - cpu) / calls}


def sync_latency(call: SyncCall, calls: int) -> dict[str, Any]:
    for _ in range(WARMUP):
        call()
    samples = []
    cpu = time.process_time()
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return {"samples": samples, "cpu": (time.process_time() - cpu) / calls}


async def async_calls(call: AsyncCall, concurrency: int, calls: int) -> None:
    """`calls` calls shared by `concurrency` tasks."""
    left = calls

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def async_throughput(call: AsyncCall, concurrency: int, calls: int) -> dict[str, Any]:
    await async_calls(call, concurrency, WARMUP)  # warmed up at the concurrency measured
    started, cpu = time.perf_counter(), time.process_time()
    await async_calls(call, concurrency, calls)
    wall = time.perf_counter() - started
    return {"rate": calls / wall, "cpu": (time.process_time() - cpu) / calls}


async def async_instructions(call: AsyncCall, concurrency: int, calls: int) -> dict[str, Any]:
    await async_calls(call, concurrency, WARMUP)  # warmed up at the concurrency measured
    os.getppid()  # callgrind dumps its counters here and at the next mark: the calls alone between them
    await async_calls(call, concurrency, calls)
    os.getppid()
    return {"calls": calls}


def sync_calls(call: SyncCall, threads: int, calls: int, mark: Callable[[], object]) -> None:
    """`calls` calls shared by `threads` threads; `mark()` runs once all threads are up and once all are done.

    So neither starting the threads nor shutting them down falls between the two marks.
    """
    left = calls
    lock = threading.Lock()

    def all_up() -> None:
        mark()

    start = threading.Barrier(threads + 1, action=all_up)

    def worker() -> None:
        nonlocal left
        start.wait()
        while True:
            with lock:
                if left <= 0:
                    return
                left -= 1
            call()

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        start.wait()
        for future in futures:
            future.result()
        mark()


def sync_throughput(call: SyncCall, threads: int, calls: int) -> dict[str, Any]:
    sync_calls(call, threads, WARMUP, lambda: None)  # warmed up at the concurrency measured
    marks: list[tuple[float, float]] = []
    sync_calls(call, threads, calls, lambda: marks.append((time.perf_counter(), time.process_time())))
    (wall_start, cpu_start), (wall_end, cpu_end) = marks
    return {"rate": calls / (wall_end - wall_start), "cpu": (cpu_end - cpu_start) / calls}


def sync_instructions(call: SyncCall, threads: int, calls: int) -> dict[str, Any]:
    sync_calls(call, threads, WARMUP, lambda: None)  # warmed up at the concurrency measured
    sync_calls(call, threads, calls, os.getppid)  # callgrind dumps its counters at each mark
    return {"calls": calls}


def measure(name: str, mode: str, url: str, sizes: list[int]) -> dict[str, Any]:
    """One contender's measurement, on a client made for it and closed after."""
    stack: list[Any] = []
    if name in ASYNC:

        async def run() -> dict[str, Any]:
            call = await async_contender(name, url, stack)
            try:
                if mode == "latency":
                    return await async_latency(call, *sizes)
                if mode == "instructions":
                    return await async_instructions(call, *sizes)
                return await async_throughput(call, *sizes)
            finally:
                for close in stack:
                    await close()

        return asyncio.run(run())
    call = sync_contender(name, url, stack)
    try:
        if mode == "latency":
            return sync_latency(call, *sizes)
        if mode == "instructions":
            return sync_instructions(call, *sizes)
        return sync_throughput(call, *sizes)
    finally:
        for close in stack:
            close()


def main() -> None:
    """Run the measurements asked for and print their JSON: one object, or a list for several contenders.

    `instructions` takes several contenders (`kellyapi,aiohttp`), measured one after another in this
    interpreter, so that callgrind's slow start (about 12 s of imports) is paid once; each contender has its
    own client, warm-up and pair of marks.
    """
    names, mode, url, *numbers = sys.argv[1:]
    sizes = [int(number) for number in numbers]
    results = [measure(name, mode, url, sizes) for name in names.split(",")]
    print(json.dumps(results[0] if len(results) == 1 else results))


if __name__ == "__main__":
    main()
