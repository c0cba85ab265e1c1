"""When to retry a failed attempt and how long to wait first: one decision, no I/O, testable without a socket."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable

import attrs

from kellyapi import errors

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date); None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT even when it does not say so
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@attrs.frozen
class RetryPolicy:
    """Exponential backoff with full jitter; `Retry-After` wins when the server sends one.

    A retry happens only when the error is retryable (connection failure, or a status in
    `RETRY_STATUSES`), fewer than `max_retries` retries were made, and the wait still fits in the
    call's remaining time. A `Retry-After` longer than `retry_after_cap` is not waited for: the
    error is raised at once, its `retry_after` telling the caller when to come back.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    retry_after_cap: float = 60.0

    def is_retryable(self, error: errors.BaseError) -> bool:
        """Whether a second attempt can succeed where this one failed."""
        if error._deterministic:
            return False
        if error.status_code is None:
            return isinstance(error, errors.ConnectionError)
        return error.status_code in RETRY_STATUSES

    def resend_at_once(self, error: errors.BaseError, resent_already: bool) -> bool:
        """Whether to resend now on a fresh connection, as browsers and Go's net/http do.

        A pooled connection the server had closed fails before any byte of an answer arrives: the server
        never read the request, so resending is safe for any method. Once per call, and not counted
        against `max_retries` (it is not a retry of anything the server saw).
        """
        return error._stale_connection and not resent_already

    def backoff(self, retries_done: int, rand: Callable[[], float] = random.random) -> float:
        """Full jitter: a uniform wait in [0, min(max_delay, initial_delay * 2**retries_done))."""
        ceiling = min(self.max_delay, self.initial_delay * 2.0 ** min(retries_done, 62))
        return rand() * ceiling

    def delay_before_retry(
        self,
        retries_done: int,
        error: errors.BaseError,
        remaining: float,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to sleep before the next attempt, or None to raise `error` now."""
        if retries_done >= self.max_retries or not self.is_retryable(error):
            return None
        if error.retry_after is not None:
            if error.retry_after > self.retry_after_cap:
                return None
            delay = error.retry_after
        else:
            delay = self.backoff(retries_done, rand)
        return delay if delay < remaining else None
