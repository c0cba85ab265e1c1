"""Many calls at once, the way each twin's users make them: tasks for the async client, threads for the
blocking one (tests/_async names `gather_calls`; unasync turns it into `thread_calls` in tests/_sync)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

ResultT = TypeVar("ResultT")


async def gather_calls(calls: list[Callable[[], Awaitable[ResultT]]]) -> list[ResultT | BaseException]:
    """Run every call as a task at once; each result or the exception it raised, in order."""
    return await asyncio.gather(*(call() for call in calls), return_exceptions=True)


def thread_calls(calls: list[Callable[[], ResultT]], threads: int = 32) -> list[ResultT | BaseException]:
    """Run the calls on `threads` threads at once; each result or the exception it raised, in order."""

    def one(call: Callable[[], ResultT]) -> ResultT | BaseException:
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, calls))
