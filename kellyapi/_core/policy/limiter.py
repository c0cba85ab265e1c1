"""The seam between a client and what decides when its attempts go: `Limiter`, a small protocol with a blocking
and an async side, and `ProcessLimiter`, the in-process policy every client has unless it is given another
(`kellyapi.RedisLimiter` shares one pace between the processes and machines of a fleet).

A client consults its limiter before every attempt, retries included, and reports each attempt's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

from kellyapi import errors
from kellyapi._core.policy.pace import ACCEPTED, FAILED, REFUSED, AdaptivePace, Turn

__all__ = ["ACCEPTED", "FAILED", "REFUSED", "Limiter", "ProcessLimiter"]

REDIS_URL_ENV = "KELLY_REDIS_URL"


@runtime_checkable
class Limiter(Protocol):
    """When each attempt of a client may go, learnt from how the attempts went.

    `deadline` is a `time.monotonic()` time: a turn that would come later raises `errors.RateLimitError` at
    once, its `retry_after` the wait; so does an attempt the limiter refuses outright (when the API refuses
    most calls). `first` marks a call's first attempt (new work, which a limiter may refuse outright when
    the API refuses most calls). The permit a turn returns goes back with `report`, always, in a `finally`:
    a cancelled or failed attempt reports `FAILED`. `report` returns at once, or after what it tells a
    shared store, within that store's timeout.
    """

    def turn(self, deadline: float, *, first: bool = False) -> object:
        """Block until an attempt may go; the permit to report back."""

    async def aturn(self, deadline: float, *, first: bool = False) -> object:
        """Wait, without blocking the event loop, until an attempt may go; the permit to report back."""

    def report(self, permit: object, outcome: str, retry_after: float | None = None) -> None:
        """How the attempt went: `ACCEPTED` (an answer other than a 429), `REFUSED` (a 429, with its
        Retry-After in seconds if it had one) or `FAILED` (no answer, or the call was cancelled)."""


def takes_route(turn: Callable[..., object]) -> bool:
    """Whether a limiter's `turn` (or `aturn`) takes the call's `route` (`ProcessLimiter`'s does: its pace times
    each route's answers); a limiter written to the `Limiter` protocol alone is called without it."""
    try:
        return "route" in inspect.signature(turn).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin, say)
        return False


def _waits(pace: AdaptivePace, turn: Turn, wait: float, deadline: float) -> Iterator[float]:
    """The waits before `turn` may go, for a blocking or an async driver: seconds to wait at most, woken sooner
    when the turn may go (register with `pace.wait_on` first), or infinity for "until woken". Raises
    RateLimitError when no turn comes in time, at once when the wait is known to end past the deadline, or too
    close to it for an answer (`AdaptivePace.answer_time`; google-api-core's rule: never sleep past it), and when
    the pace passed the turn over for that (the attempt could only time out). The slow start holds a call for at
    most half the time it had left: a start is a guess at what the API accepts, not a limit it showed, and a call
    with a short timeout must not fail for it."""
    started = time.monotonic()
    held_until = started + (deadline - started) / 2
    while wait:
        now = time.monotonic()
        # (A start's wait never ends too late: the turn goes at half its time, or now if it must.)
        too_late = wait != math.inf and now + wait + pace.answer_time(turn.route) > deadline
        if (now >= held_until or too_late) and pace.go_anyway(turn, now):
            break
        if wait == math.inf and now >= deadline:
            raise errors.RateLimitError(f"no turn to send within the timeout: calls queued before took it ({pace!r})")
        if too_late:
            raise errors.RateLimitError(
                f"no turn to send within the timeout at the pace the API accepts ({pace!r})", retry_after=wait
            )
        yield wait if now >= held_until else min(wait, held_until - now)
        wait = pace.ready(turn, time.monotonic())
    if turn.too_late:
        raise errors.RateLimitError(
            f"no time left to send: the pace the API accepts took this call's timeout ({pace!r})",
            retry_after=pace.answer_time(turn.route),
        )
    if turn.local_refusal:
        raise errors.RateLimitError(
            "not sent: the API refused most of this client's recent calls with 429 (or all of them at the"
            " slowest pace), so the client refuses calls itself until the API accepts calls again"
        )


class ProcessLimiter:
    """The in-process policy (`kellyapi._core.policy.pace`): one pace for every task and thread of a client."""

    def __init__(self, max_rate: float | None = None, adaptive: bool = True) -> None:
        """Pace at most `max_rate` calls a second; with `adaptive`, learn the API's rate from its 429s."""
        self.pace = AdaptivePace(max_rate, adaptive)

    def turn(self, deadline: float, *, first: bool = False, route: str = "") -> Turn:
        """Block until an attempt may go; `route`: what the call asks for (a turn too late for the fastest
        answer the API gave there is not given)."""
        return self._wait_for(*self.pace.acquire(time.monotonic(), first, deadline, route), deadline)

    async def aturn(self, deadline: float, *, first: bool = False, route: str = "") -> Turn:
        """Wait until an attempt may go, without blocking the event loop; `route` as for `turn`."""
        return await self._await(*self.pace.acquire(time.monotonic(), first, deadline, route), deadline)

    def requeue(self, turn: Turn, deadline: float) -> Turn:
        """Block until a turn given but never sent may go again by this policy (a fleet's limiter that held it
        failed meanwhile): it waits behind the turns already waiting."""
        return self._wait_for(turn, self.pace.requeue(turn, time.monotonic(), deadline), deadline)

    async def arequeue(self, turn: Turn, deadline: float) -> Turn:
        """`requeue`, without blocking the event loop."""
        return await self._await(turn, self.pace.requeue(turn, time.monotonic(), deadline), deadline)

    def _wait_for(self, turn: Turn, wait: float, deadline: float) -> Turn:
        if not wait and not turn.local_refusal:
            return turn
        try:
            for seconds in _waits(self.pace, turn, wait, deadline):
                woken = threading.Event()
                if self.pace.wait_on(turn, woken.set):
                    woken.wait(min(seconds, deadline - time.monotonic()))
        except BaseException:
            self.pace.release(turn, time.monotonic())
            raise
        return turn

    async def _await(self, turn: Turn, wait: float, deadline: float) -> Turn:
        if not wait and not turn.local_refusal:
            return turn
        try:
            for seconds in _waits(self.pace, turn, wait, deadline):
                waker = _LoopWaker()
                if self.pace.wait_on(turn, waker.wake):
                    await waker.wait(min(seconds, deadline - time.monotonic()))
        except BaseException:
            self.pace.release(turn, time.monotonic())
            raise
        return turn

    def report(self, permit: object, outcome: str, retry_after: float | None = None) -> None:
        """Learn from the attempt and give back what its turn held."""
        self.pace.release(permit, time.monotonic(), outcome, retry_after)  # type: ignore[arg-type]

    @property
    def paced_rate(self) -> float | None:
        """The calls a second the client keeps to (learned from the API's 429s, or max_rate); None: unpaced."""
        return self.pace.rate if self.pace.engaged else None

    def __repr__(self) -> str:
        return repr(self.pace)


class _LoopWaker:
    """Wakes one waiting task, from any thread (a turn freed by a thread of another event loop, say)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._woken: asyncio.Future[None] = self._loop.create_future()

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # its loop closed meanwhile: nobody waits any more
            self._loop.call_soon_threadsafe(self._set)

    def _set(self) -> None:
        if not self._woken.done():
            self._woken.set_result(None)

    async def wait(self, seconds: float) -> None:
        await asyncio.wait({self._woken}, timeout=seconds)
