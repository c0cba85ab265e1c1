"""A rate limit and a latency for the sandbox, as a busy API has them: a token bucket shared by every
caller (N calls a second, bursts of N), `429` with `Retry-After` beyond it, and time spent per call."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping

ANY_ROUTE = "*"


def parse_rate(text: str) -> float:
    """`20/s`, `20` or `1200/min` as calls per second; ValueError for anything else."""
    number, _, unit = text.strip().partition("/")
    seconds = {"": 1.0, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0}.get(unit.strip())
    try:
        rate = float(number) / seconds if seconds else math.nan
    except ValueError:
        rate = math.nan
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"a rate limit must be calls per second or minute such as 20/s or 600/min, got {text!r}")
    return rate


def parse_latency(rules: Iterable[str]) -> dict[str, float]:
    """`["0.3", "image/generate=2"]` as {route: seconds} (`*` for every route); ValueError for a bad rule."""
    latency: dict[str, float] = {}
    for rule in rules:
        route, _, seconds = rule.rpartition("=")
        try:
            value = float(seconds)
        except ValueError:
            value = math.nan
        if not 0 <= value < 3600:
            raise ValueError(f"a latency must be seconds (0 to 3600) or ROUTE=SECONDS, got {rule!r}")
        latency[route.strip("/ ") or ANY_ROUTE] = value
    return latency


class RateLimit:
    """A token bucket: `rate` calls a second on average, `burst` at once (default: one second's worth)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        """Start full, as an API that has not been called for a while."""
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """None if a call may go ahead now (its token taken), else the whole seconds to wait (`Retry-After`)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return max(1, math.ceil((1 - self._tokens) / self.rate))


class Throttle:
    """What a sandbox does to calls it accepts: the rate limit, if any, and the latency of each route."""

    def __init__(self, rate_limit: float | None = None, latency: float | Mapping[str, float] = 0.0) -> None:
        """`rate_limit` in calls a second (None: no limit); `latency` in seconds, or {route or `*`: seconds}."""
        self.limit = None if rate_limit is None else RateLimit(rate_limit)
        self.latency = {ANY_ROUTE: latency} if isinstance(latency, (int, float)) else dict(latency)

    def delay_for(self, route: str) -> float:
        """The seconds an accepted call of `route` takes."""
        return self.latency.get(route, self.latency.get(ANY_ROUTE, 0.0))
