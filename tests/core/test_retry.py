"""The retry policy decides alone, without a socket: which errors, how many times, how long to wait."""

from __future__ import annotations

import email.utils

import pytest

from kellyapi import errors
from kellyapi._core.policy.retry import QUOTA_CAPACITY, RETRY_COST, RetryPolicy, RetryQuota, parse_retry_after

NOW = 1_700_000_000.0


def status_error(status: int, retry_after: float | None = None) -> errors.BaseError:
    return errors.GenericApiError("x", status_code=status, retry_after=retry_after)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    assert RetryPolicy().is_retryable(status_error(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 422, 501])
def test_statuses_that_are_not_retried(status: int) -> None:
    assert not RetryPolicy().is_retryable(status_error(status))


def test_connection_failures_are_retried_timeouts_are_not() -> None:
    policy = RetryPolicy()
    assert policy.is_retryable(errors.ConnectionError("reset"))
    assert not policy.is_retryable(errors.TimeoutError("slow"))
    assert not policy.is_retryable(errors.InvalidContent("bad"))


def test_full_jitter_backoff_doubles_up_to_the_ceiling() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0)
    assert [policy.backoff(n, rand=lambda: 1.0) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert policy.backoff(3, rand=lambda: 0.0) == 0.0
    assert policy.backoff(10_000, rand=lambda: 0.5) == 4.0


def test_no_retry_past_max_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    error = status_error(503)
    assert policy.delay_before_retry(0, error, 60, rand=lambda: 1.0) == 0.5
    assert policy.delay_before_retry(1, error, 60, rand=lambda: 1.0) == 1.0
    assert policy.delay_before_retry(2, error, 60, rand=lambda: 1.0) is None
    assert RetryPolicy(max_retries=0).delay_before_retry(0, error, 60) is None


def test_retry_after_wins_over_backoff_up_to_the_cap() -> None:
    policy = RetryPolicy(retry_after_cap=60)
    assert policy.delay_before_retry(0, status_error(429, retry_after=7), 100) == 7
    assert policy.delay_before_retry(0, status_error(429, retry_after=60), 100) == 60
    assert policy.delay_before_retry(0, status_error(429, retry_after=61), 100) is None


def test_no_wait_that_outlasts_the_call_timeout() -> None:
    policy = RetryPolicy()
    assert policy.delay_before_retry(0, status_error(429, retry_after=5), remaining=4.9) is None
    assert policy.delay_before_retry(0, status_error(503), remaining=0.1, rand=lambda: 1.0) is None


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("99999999999999999999") == 1e20, "read as it is: the policy decides what is too long"


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "9"}) == 9.0, "an unreadable one is skipped"
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({}) is None


def test_retry_after_as_an_http_date() -> None:
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after(date, now=NOW) == pytest.approx(30)
    past = email.utils.formatdate(NOW - 30, usegmt=True)
    assert parse_retry_after(past, now=NOW) == 0.0


@pytest.mark.parametrize(
    "value",
    [None, "", "soon", "nan", "inf", "-4", "-0.5", "Wed, 99 Foo 2015 07:28:00", "1_0", "+5", "1e3", "٣", "0x10"],
)
def test_unreadable_or_negative_retry_after_means_the_backoff(value: str | None) -> None:
    assert parse_retry_after(value) is None
    assert (
        RetryPolicy().delay_before_retry(
            0, status_error(429, retry_after=parse_retry_after(value)), 60, rand=lambda: 1.0
        )
        == 0.5
    )


def test_a_retry_after_over_the_cap_or_past_the_deadline_is_not_waited_but_kept_on_the_error() -> None:
    policy = RetryPolicy()
    assert policy.delay_before_retry(0, status_error(429, retry_after=1e20), 1e30) is None
    assert policy.delay_before_retry(0, status_error(429, retry_after=60), 61) == 60
    assert policy.delay_before_retry(0, status_error(429, retry_after=30), 29.9) is None


def test_only_a_replayable_request_is_resent_at_once_after_a_stale_connection() -> None:
    """Go's shouldRetryRequest: a written POST may have been read, so its resend is a counted retry."""
    stale = errors.ConnectionError("closed before any byte of an answer")
    stale._stale_connection = True
    policy = RetryPolicy()
    assert policy.resend_at_once(stale, "GET", resent_already=False)
    assert not policy.resend_at_once(stale, "GET", resent_already=True), "once per call"
    assert not policy.resend_at_once(stale, "POST", resent_already=False)
    assert not policy.resend_at_once(errors.ConnectionError("refused"), "GET", resent_already=False)


def test_the_retry_quota_runs_dry_on_failing_retries_and_refills_on_answers() -> None:
    quota = RetryQuota()
    failure = status_error(503)
    taken = [quota.take(failure) for _ in range(QUOTA_CAPACITY // RETRY_COST + 1)]
    assert taken[:-1] == [RETRY_COST] * (QUOTA_CAPACITY // RETRY_COST)
    assert taken[-1] is None, "no more retries"
    quota.answered(RETRY_COST)
    assert quota.take(failure) == RETRY_COST, "an answer gives back what its retry took"
    quota.answered(0)
    assert quota.take(errors.TimeoutError("slow")) is None, "a retry after a timeout takes 10"


def test_a_refused_call_retries_without_drawing_on_the_quota() -> None:
    """A burst over a rate limit is refused by the hundred: the pace spaces their retries (and its throttle
    refuses them when the API accepts nothing), the quota stays for failures."""
    quota = RetryQuota()
    assert [quota.take(errors.RateLimitError("429", status_code=429)) for _ in range(1000)] == [0] * 1000
    assert quota.take(status_error(503)) == RETRY_COST
