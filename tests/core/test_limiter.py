"""The in-process limiter's two drivers (a thread's and a task's) around the pace: what a wait for a turn ends in."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from kellyapi import RedisLimiter, errors
from kellyapi._core.policy.limiter import ProcessLimiter
from kellyapi._core.policy.pace import ACCEPTED, FAILED, INITIAL_ROUND_TRIP, INITIAL_WINDOW, SENT, Turn
from kellyapi._transport import redis as redis_transport


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


def _a_line_whose_head_leaves_a_call_too_little_time(driver: str) -> tuple[ProcessLimiter, BaseException]:
    """A paced limiter whose API took 0.2 s for an answer; a call queued behind another, which its caller
    cancels once less than that is left before the call's deadline. What the call raised."""
    limiter = ProcessLimiter(max_rate=1)
    answered = limiter.turn(time.monotonic() + 60, route="llm")
    time.sleep(0.2)
    limiter.report(answered, ACCEPTED)
    head, _ = limiter.pace.acquire(time.monotonic(), deadline=time.monotonic() + 60, route="llm")
    outcome: list[BaseException] = []

    def call() -> None:
        deadline = time.monotonic() + 0.25
        try:
            if driver == "thread":
                limiter.turn(deadline, route="llm")
            else:
                asyncio.run(limiter.aturn(deadline, route="llm"))
        except BaseException as error:  # what the call raised is what is checked
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    while len(limiter.pace.waiting) < 2:
        time.sleep(0.001)
    time.sleep(0.1)
    limiter.pace.release(head, time.monotonic())  # cancelled: the call is first in line, with 0.15 s left
    caller.join(5)
    assert not caller.is_alive()
    return limiter, outcome[0]


@pytest.mark.parametrize("driver", ["thread", "task"])
def test_a_call_whose_turn_would_leave_no_time_for_an_answer_fails_as_the_pace_s_unsent(driver: str) -> None:
    limiter, error = _a_line_whose_head_leaves_a_call_too_little_time(driver)
    assert isinstance(error, errors.RateLimitError)
    assert "no time left" in str(error)
    assert error.retry_after is not None and error.retry_after >= 0.2, "the time an answer takes"
    assert limiter.pace.in_flight == 0 and not limiter.pace.waiting, "passed over, it took no turn"


def _a_limiter_whose_redis_is_down(monkeypatch: pytest.MonkeyPatch) -> tuple[RedisLimiter, list[Turn]]:
    """A RedisLimiter on a port nobody listens on, trying Redis again on every call: and the turns its process's
    pace put back in line."""
    monkeypatch.setattr(redis_transport, "RETRY_REDIS_AFTER", 0.0)
    requeued: list[Turn] = []
    requeue, arequeue = ProcessLimiter.requeue, ProcessLimiter.arequeue

    def counted_requeue(self: ProcessLimiter, turn: Turn, deadline: float) -> Turn:
        requeued.append(turn)
        return requeue(self, turn, deadline)

    async def counted_arequeue(self: ProcessLimiter, turn: Turn, deadline: float) -> Turn:
        requeued.append(turn)
        return await arequeue(self, turn, deadline)

    monkeypatch.setattr(ProcessLimiter, "requeue", counted_requeue)
    monkeypatch.setattr(ProcessLimiter, "arequeue", counted_arequeue)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    return RedisLimiter(f"redis://127.0.0.1:{port}/0"), requeued


def test_a_turn_the_process_s_own_pace_gave_is_not_put_back_in_line_when_redis_fails_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first call was held for the fleet: when Redis fails, it waits for this process's own pace. The next,
    given by that pace while Redis is down, has waited for it already: Redis failing again sends it on."""
    limiter, requeued = _a_limiter_whose_redis_is_down(monkeypatch)
    far = time.monotonic() + 30
    first = limiter.turn(far, first=True)
    assert requeued == [first.local]  # type: ignore[attr-defined]
    second = limiter.turn(far, first=True)
    assert requeued == [first.local], "not twice in line"  # type: ignore[attr-defined]
    for permit in (first, second):
        limiter.report(permit, FAILED)
    limiter.close()


def test_a_task_s_turn_the_process_s_own_pace_gave_is_not_put_back_in_line_when_redis_fails_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limiter, requeued = _a_limiter_whose_redis_is_down(monkeypatch)

    async def main() -> None:
        far = time.monotonic() + 30
        first = await limiter.aturn(far, first=True)
        assert requeued == [first.local]  # type: ignore[attr-defined]
        second = await limiter.aturn(far, first=True)
        assert requeued == [first.local], "not twice in line"  # type: ignore[attr-defined]
        for permit in (first, second):
            limiter.report(permit, FAILED)
        await limiter.aclose()

    asyncio.run(main())
