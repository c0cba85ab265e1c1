"""Calls stopped at random points give back what they held, on real sockets: a task cancelled (a timeout of the
caller's, a dropped request, a TaskGroup), a thread interrupted (Ctrl-C). Afterwards the client's pace is idle
and new calls go at once."""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time

import pytest

from kellyapi import KellyAPI, SyncKellyAPI, errors
from kellyapi.testing import KellySandbox

LATENCY = 0.2  # seconds the sandbox takes per call: long enough to cancel calls in flight


@pytest.mark.parametrize("seed", range(3))
async def test_tasks_cancelled_at_random_points_leave_a_new_client_free_to_send(
    kelly_sandbox: KellySandbox, seed: int
) -> None:
    kelly_sandbox.limit_rate(10, latency=LATENCY)
    chance = random.Random(seed)
    async with KellyAPI() as api:
        tasks = [asyncio.ensure_future(api.llm(f"call {index}")) for index in range(30)]
        for task in tasks:
            asyncio.get_running_loop().call_later(chance.uniform(0, 1.5), task.cancel)
        await asyncio.gather(*tasks, return_exceptions=True)
        pace = api._pace
        assert pace is not None
        assert pace.in_flight == 0 and not pace.waiting, "every cancelled call gave back its place"

        kelly_sandbox.limit_rate(None)
        await asyncio.sleep(pace.pause_left(asyncio.get_running_loop().time()))
        results = await asyncio.gather(*(api.llm(f"after {index}", timeout=5) for index in range(20)))
    assert all(isinstance(result, str) for result in results)
    await asyncio.sleep(LATENCY)  # the cancelled calls' requests the sandbox still serves end with this test


async def test_calls_cancelled_by_their_callers_timeout_do_not_hold_a_new_clients_starts(
    kelly_sandbox: KellySandbox,
) -> None:
    kelly_sandbox.limit_rate(None, latency=1.0)
    async with KellyAPI() as api:
        for _ in range(4):  # asyncio.wait_for, as the usage guide shows
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(api.llm("slow"), 0.2)
        kelly_sandbox.limit_rate(None, latency=0.0)
        results = await asyncio.gather(*(api.llm(f"after {index}", timeout=5) for index in range(20)))
    assert all(isinstance(result, str) for result in results)
    await asyncio.sleep(1.0)  # the slow requests of the cancelled calls end with this test


@pytest.mark.parametrize("seed", range(3))
def test_a_thread_interrupted_at_random_points_gives_its_turn_back(kelly_sandbox: KellySandbox, seed: int) -> None:
    assert threading.current_thread() is threading.main_thread(), "signals reach the main thread only"
    kelly_sandbox.limit_rate(5, latency=LATENCY)
    chance = random.Random(seed)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with SyncKellyAPI() as api:
            for index in range(8):
                signal.setitimer(signal.ITIMER_REAL, chance.uniform(0.01, 0.6))
                try:
                    api.llm(f"call {index}")
                except KeyboardInterrupt:
                    pass
                except errors.BaseError:
                    pass
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            pace = api._pace
            assert pace is not None
            assert pace.in_flight == 0 and not pace.waiting, (
                "an interrupted call gave back its place"
            )
            kelly_sandbox.limit_rate(None)
            assert isinstance(api.llm("after", timeout=5), str)
        time.sleep(LATENCY)  # an interrupted call's request the sandbox still serves ends with this test
    finally:
        signal.signal(signal.SIGALRM, previous)
