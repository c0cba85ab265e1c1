"""What follows a failed attempt: one immutable policy (as urllib3's `Retry`), no I/O, testable without a socket.

- Which failures: a connection failure or a 408/429/500/502/503/504; never one that would fail the same
  way again (a certificate, a malformed answer).
- How often: `max_retries` retries after the first attempt, a 429 included: every attempt counts.
- How long: the server's wait when it gives one (`retry-after-ms`, then `Retry-After` in seconds or as an
  HTTP date, as openai-python reads them) of at most `retry_after_cap` (60 s, openai-python's line; 0 is
  "now"); when it gives none, or garbage, or a negative number: exponential backoff with full jitter,
  `uniform(0, min(max_delay, initial_delay * 2**n))` (the AWS Architecture Blog's "Exponential Backoff and
  Jitter"; openai-python's 0.5 s and 8 s).
- Never past the deadline: a wait that would end after the call's deadline is not slept, the error is raised
  at once (google-api-core's rule), its `retry_after` saying when to come back.
- Not when retries keep failing across calls: retries draw on a quota of 500 tokens, 5 a retry and 10 after
  a timeout, and an answer gives back what its retry took, or 1 (botocore's standard retry mode,
  `botocore/retries/quota.py`); a dry quota means no retry. The retry of a 429 takes nothing: a refused
  call has no fault to repeat, and whether refused calls go again is the pace's and its client-side
  throttle's to decide (`pace.py`), which space them out or refuse them when the API accepts nothing (one
  burst over a rate limit would otherwise drain the quota, and calls that the pace would get through fail).
- A stale connection (Go's `net/http` `shouldRetryRequest`): a request that failed on a reused pooled
  connection before any byte of an answer came is resent at once on a new connection, once per call and
  not counted, only when it is replayable (GET): a POST that was written may have been read, so it is
  resent only as a counted retry.
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from collections.abc import Callable, Mapping

import attrs

from kellyapi import errors

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REPLAYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # RFC 9110's safe methods: resending changes nothing
RETRY_AFTER_CAP = 60.0  # openai-python honours a Retry-After of up to 60 s; a longer one is not waited out
QUOTA_CAPACITY = 500  # botocore retries/quota.py: the retry quota holds 500 tokens...
RETRY_COST = 5  # ...a retry takes 5 (botocore standard.py)...
TIMEOUT_RETRY_COST = 10  # ...10 after a timeout...
NO_RETRY_INCREMENT = 1  # ...and an answer gives back 1, or what its retry took


def parse_retry_after(headers: Mapping[str, str] | str | None, now: float | None = None) -> float | None:
    """Seconds the server asks to wait: `retry-after-ms`, else `Retry-After` as seconds or an HTTP date.

    None when absent, unreadable or negative (the retry's own backoff applies then); a date in the past is 0.
    """
    if headers is None or isinstance(headers, str):
        value, milliseconds = headers, None
    else:
        value, milliseconds = headers.get("retry-after"), headers.get("retry-after-ms")
    if milliseconds is not None:
        seconds = _number(milliseconds)
        if seconds is not None:
            return seconds / 1000
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT and says so
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# RFC 9110 (10.2.3): delay-seconds is digits; a decimal fraction is read too, as openai-python reads it.
# Anything else (a sign, an exponent, Python's digit separators) is garbage, and the backoff applies.
_DELAY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*", re.ASCII)


def _number(text: str) -> float | None:
    match = _DELAY.fullmatch(text)
    return float(match[1]) if match else None


@attrs.frozen
class RetryPolicy:
    """When to retry a failed attempt and how long to wait first."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    retry_after_cap: float = RETRY_AFTER_CAP

    def is_retryable(self, error: errors.BaseError) -> bool:
        """Whether a second attempt can succeed where this one failed."""
        if error._deterministic:
            return False
        if error.status_code is None:
            return isinstance(error, errors.ConnectionError)
        return error.status_code in RETRY_STATUSES

    def resend_at_once(self, error: errors.BaseError, method: str, resent_already: bool) -> bool:
        """Whether to resend now on a fresh connection, uncounted: a replayable request whose reused
        connection turned out closed before any byte of an answer came (once per call)."""
        return error._stale_connection and not resent_already and method in REPLAYABLE_METHODS

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
        """Seconds to wait before the next attempt, or None to raise `error` now."""
        if retries_done >= self.max_retries or not self.is_retryable(error):
            return None
        retry_after = error.retry_after
        if retry_after is not None and retry_after > self.retry_after_cap:
            return None  # a wait of minutes or days: the caller decides, with `retry_after` on the error
        delay = retry_after if retry_after is not None else self.backoff(retries_done, rand)  # 0: at once
        return delay if delay < remaining else None


class RetryQuota:
    """botocore's retry quota, shared by a client's calls (and threads): retries stop when they keep failing."""

    def __init__(self) -> None:
        """A full quota."""
        self.tokens = QUOTA_CAPACITY
        self._lock = threading.Lock()

    def take(self, error: errors.BaseError) -> int | None:
        """Take a retry's tokens for `error`: what was taken (0 for a 429, which is free), or None when the
        quota cannot pay (no retry)."""
        if isinstance(error, errors.RateLimitError):
            return 0
        cost = TIMEOUT_RETRY_COST if isinstance(error, errors.TimeoutError) else RETRY_COST
        with self._lock:
            if self.tokens < cost:
                return None
            self.tokens -= cost
            return cost

    def answered(self, retry_cost: int) -> None:
        """An attempt got an answer: give back what its retry took (`retry_cost`), or 1 for a first attempt.

        Without the lock: on every answer, and two threads refunding at once lose one refund at worst, which
        only ends a retry a little sooner."""
        if self.tokens < QUOTA_CAPACITY:
            self.tokens = min(QUOTA_CAPACITY, self.tokens + (retry_cost or NO_RETRY_INCREMENT))
