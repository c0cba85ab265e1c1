"""The in-process limiter's two drivers (a thread's and a task's) around the pace: what a wait for a turn ends in."""

from __future__ import annotations

import asyncio
import time

from kellyapi._core.policy.limiter import ProcessLimiter
from kellyapi._core.policy.pace import FAILED, INITIAL_ROUND_TRIP, INITIAL_WINDOW, SENT, Turn


def _a_full_start() -> tuple[ProcessLimiter, list[Turn]]:
    """A new client whose first window of calls is in flight, none answered."""
    limiter = ProcessLimiter()
    far = time.monotonic() + 60
    return limiter, [limiter.turn(far, first=True) for _ in range(INITIAL_WINDOW)]


def test_a_thread_held_by_the_start_goes_at_half_its_time_rather_than_fail() -> None:
    """A deadline shorter than the start's wait: without the rule the call would raise RateLimitError unsent."""
    limiter, running = _a_full_start()
    turn = limiter.turn(time.monotonic() + INITIAL_ROUND_TRIP * 0.6, first=True)
    assert turn.state == SENT
    for held in [*running, turn]:
        limiter.report(held, FAILED)
    assert limiter.pace.in_flight == 0


def test_a_task_held_by_the_start_goes_at_half_its_time_rather_than_fail() -> None:
    limiter, running = _a_full_start()

    async def main() -> Turn:
        return await limiter.aturn(time.monotonic() + INITIAL_ROUND_TRIP * 0.6, first=True)

    turn = asyncio.run(main())
    assert turn.state == SENT
    for held in [*running, turn]:
        limiter.report(held, FAILED)
    assert limiter.pace.in_flight == 0
