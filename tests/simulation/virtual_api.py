"""The real async client against model APIs on a virtual clock: minutes of rate limits run in a second of CPU.

The client's call loop and its pure policy run unchanged; only three things are stand-ins: the event loop's
clock (`VirtualTimeLoop`: a select() that would block moves the clock on instead), the client's own clock
(its module's `time`, pointed at the loop's), and the transport (`ModelTransport`: an answer from a model
server after the model's latency, no socket). Servers are the families the policy must fit: token buckets,
random load shedding, a used-up quota, a limit that changes, several clients on one limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import selectors
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs

from kellyapi import KellyAPI, errors
from kellyapi._async import client as client_module
from kellyapi._core.http import Request, Response
from kellyapi._core.policy import limiter as limiter_module
from kellyapi._transport.aiohttp import CONNECTIONS

ANSWER = b'{"message": "ok"}'
JSON = {"content-type": "application/json"}


class _VirtualSelector(selectors.DefaultSelector):
    """A selector whose waits take no time: the clock moves on by the wait instead."""

    # Turns of the loop at one instant that no run needs (a burst of thousands of calls takes tens of thousands):
    # past them, something waits for a time too short for the clock to tell, again and again.
    STANDSTILL = 2_000_000

    def __init__(self, clock: list[float]) -> None:
        super().__init__()
        self._clock = clock
        self._turns_at = (0, clock[0])  # turns of the loop at the same instant, and that instant

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = super().select(0)
        if not events:
            if timeout is None:
                raise RuntimeError("every task waits for something no timer will bring: a lost wake-up")
            self._clock[0] += timeout
        turns, at = self._turns_at
        self._turns_at = (turns + 1, at) if self._clock[0] == at else (0, self._clock[0])
        if turns > self.STANDSTILL:
            raise RuntimeError("the clock stands still: waits too short for it to tell, over and over (a livelock)")
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock: timers fire in order, at once."""

    def __init__(self) -> None:
        self.clock = [0.0]
        super().__init__(_VirtualSelector(self.clock))

    def time(self) -> float:
        """The virtual time."""
        return self.clock[0]


class _LoopClock:
    """Stands in for the client module's `time`: its monotonic() is the running loop's clock."""

    @staticmethod
    def monotonic() -> float:
        return asyncio.get_running_loop().time()


def run_virtual(main: Callable[[], Any]) -> Any:
    """Run `main()` (a coroutine function) to its end on a virtual clock, the client reading that clock."""
    with virtual_loop() as loop:
        return loop.run_until_complete(main())


# -- model servers ---------------------------------------------------------------------------------------


@attrs.define
class Log:
    """What a model server saw: each request's arrival time and status."""

    arrivals: list[float] = attrs.field(factory=list)
    statuses: list[int] = attrs.field(factory=list)

    @property
    def refused(self) -> int:
        """Requests answered 429."""
        return self.statuses.count(429)


class Server:
    """A model API: `answer(now)` gives the status and headers of a request arriving at `now`."""

    def __init__(
        self, latency: float = 0.3, jitter: float = 0.0, seed: int = 0, refusal_latency: float = 0.02
    ) -> None:
        self.latency = latency
        self.jitter = jitter
        self.refusal_latency = refusal_latency  # a 429 takes no work: at most this long (as jittered)
        self.random = random.Random(seed)
        self.log = Log()

    def decide(self, now: float) -> tuple[int, dict[str, str]]:
        """The status and headers; 200 by default."""
        return 200, {}

    def answer(self, now: float) -> tuple[int, dict[str, str], float]:
        """Log and decide a request arriving at `now`: status, headers, seconds until the answer."""
        status, headers = self.decide(now)
        self.log.arrivals.append(now)
        self.log.statuses.append(status)
        spread = 1 + self.jitter * (2 * self.random.random() - 1)
        took = self.latency * spread
        return status, headers, took if status == 200 else min(took, self.refusal_latency * spread)


def _retry_after_header(value: float | None) -> dict[str, str]:
    return {} if value is None else {"retry-after": f"{value:g}"}


class TokenBucket(Server):
    """`rate` calls a second, bursts of `burst`; a 429 beyond, with the seconds to the next token rounded up
    (at least 1) as Retry-After, or none. `schedule` [(at, rate), ...] changes the rate as time goes."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        retry_after: bool = True,
        schedule: Sequence[tuple[float, float]] = (),
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.tokens = self.burst
        self.at = 0.0
        self.retry_after = retry_after
        self.schedule = list(schedule)

    def decide(self, now: float) -> tuple[int, dict[str, str]]:
        while self.schedule and self.schedule[0][0] <= now:
            self.rate = self.schedule.pop(0)[1]
            self.burst = max(1.0, self.rate)
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 200, {}
        wait = max(1, math.ceil((1 - self.tokens) / self.rate))
        return 429, _retry_after_header(wait if self.retry_after else None)


class Shedding(Server):
    """No limit; a random `share` of requests answered 429 (with `retry_after` when not None)."""

    def __init__(self, share: float, retry_after: float | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.share = share
        self.retry_after = retry_after

    def decide(self, now: float) -> tuple[int, dict[str, str]]:
        if self.random.random() < self.share:
            return 429, _retry_after_header(self.retry_after)
        return 200, {}


class Quota(Server):
    """A used-up quota: every request answered 429 (with `retry_after` when not None) until `until`."""

    def __init__(self, retry_after: float | None = None, until: float = math.inf, **options: Any) -> None:
        super().__init__(**options)
        self.retry_after = retry_after
        self.until = until

    def decide(self, now: float) -> tuple[int, dict[str, str]]:
        if now < self.until:
            return 429, _retry_after_header(self.retry_after)
        return 200, {}


class ModelTransport:
    """The transport's seam, answered by a model server after its latency; no socket. As the real async
    transport, it has at most `max_connections` requests in flight, the others waiting for a connection
    within their timeout."""

    max_connections = CONNECTIONS

    def __init__(self, server: Server) -> None:
        self.server = server
        self._connections = asyncio.Semaphore(self.max_connections)

    async def send(self, request: Request, timeout: float, fresh_connection: bool = False) -> Response:
        loop = asyncio.get_running_loop()
        asked = loop.time()
        try:
            await asyncio.wait_for(self._connections.acquire(), timeout)
        except asyncio.TimeoutError:
            raise request.timed_out(timeout) from None
        try:
            timeout -= loop.time() - asked
            status, headers, took = self.server.answer(loop.time())
            if took > timeout:
                await asyncio.sleep(timeout)
                raise request.timed_out(timeout)
            await asyncio.sleep(took)
        finally:
            self._connections.release()
        body = ANSWER if status == 200 else b'{"detail": "Too Many Requests"}'
        return Response(status, {**JSON, **headers}, body)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def aclose(self) -> None:
        pass


def model_client(server: Server, **options: Any) -> KellyAPI:
    """A KellyAPI whose requests go to `server`."""
    api = KellyAPI("model-key", "https://api.kellyai.pro/", **options)
    api._transport = ModelTransport(server)  # type: ignore[assignment]
    return api


# -- runs ------------------------------------------------------------------------------------------------


@attrs.frozen
class Run:
    """What one scenario gave: the virtual seconds it took and how each call ended."""

    seconds: float
    outcomes: list[object]
    log: Log

    @property
    def failed(self) -> list[BaseException]:
        """The calls that raised."""
        return [outcome for outcome in self.outcomes if isinstance(outcome, BaseException)]

    @property
    def requests(self) -> int:
        """Requests the server saw."""
        return len(self.log.statuses)

    @property
    def refused_share(self) -> float:
        """The share of requests answered 429."""
        return self.log.refused / self.requests if self.requests else 0.0


async def _calls(api: KellyAPI, count: int, concurrency: int, start: float = 0.0) -> list[object]:
    """`count` calls, at most `concurrency` at once (a pool of workers), beginning at `start`."""
    await asyncio.sleep(start)
    outcomes: list[object] = [None] * count
    numbers = iter(range(count))

    async def worker() -> None:
        for number in numbers:
            try:
                outcomes[number] = await api.llm(f"call {number}")
            except errors.BaseError as error:
                outcomes[number] = error

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return outcomes


def run_clients(
    server: Server,
    clients: int = 1,
    calls: int = 200,
    concurrency: int | None = None,
    stagger: float = 0.0,
    **options: Any,
) -> Run:
    """`clients` independent clients (processes, each its own pace) on one server, each making `calls` calls
    with `concurrency` at once (default: all of them), the i-th starting `i * stagger` seconds in."""

    async def main() -> Run:
        apis = [model_client(server, **options) for _ in range(clients)]
        results = await asyncio.gather(
            *(_calls(api, calls, concurrency or calls, index * stagger) for index, api in enumerate(apis))
        )
        seconds = asyncio.get_running_loop().time()
        return Run(seconds, [outcome for result in results for outcome in result], server.log)

    run: Run = run_virtual(main)
    return run


@contextlib.contextmanager
def virtual_loop() -> Iterator[VirtualTimeLoop]:
    """A virtual-time loop for a test of its own making, the client reading its clock."""
    loop = VirtualTimeLoop()
    real = time
    for module in (client_module, limiter_module):
        vars(module)["time"] = _LoopClock
    try:
        yield loop
    finally:
        for module in (client_module, limiter_module):
            vars(module)["time"] = real
        loop.close()
