"""Under the API's rate limit every call succeeds: the client learns the pace the sandbox accepts, pauses all
its callers on a Retry-After, and keeps to a max_rate it is given (sizes reduced for CI; no timing asserted)."""

from __future__ import annotations

import functools

import pytest

from kellyapi import KellyAPI, errors
from kellyapi._core import rate
from kellyapi.testing import KellySandbox
from tests.concurrently import gather_calls


async def test_every_call_succeeds_under_the_rate_limit_with_default_settings(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.limit_rate(10, latency=0.05)
    async with KellyAPI() as api:
        results = await gather_calls([functools.partial(api.llm, f"call {i}") for i in range(40)])

    assert [type(result) for result in results] == [str] * 40
    assert all(f"'call {i}'" in str(result) for i, result in enumerate(results))
    statuses = [request.status for request in kelly_sandbox.requests]
    assert statuses.count(200) == 40
    assert statuses.count(429) < 40, "the pace learned from the first 429s keeps most calls from being refused"


async def test_a_client_past_its_cold_start_is_refused_once_per_call_of_a_burst_then_paced(
    kelly_sandbox: KellySandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rate, "OPEN_AFTER", 8)  # fewer calls to stop counting, and well under the limit's rate
    async with KellyAPI() as api:
        for _ in range(8):
            await api.sd_models()
        assert not api._rate.active
        kelly_sandbox.limit_rate(10, latency=0.05)
        before = len(kelly_sandbox.requests)
        results = await gather_calls([functools.partial(api.llm, f"call {i}") for i in range(40)])

    assert [type(result) for result in results] == [str] * 40
    statuses = [request.status for request in kelly_sandbox.requests[before:]]
    assert statuses.count(200) == 40
    # The burst meets the limit unguarded: at most each call beyond the bucket is refused, once. Its
    # refused calls then wait for paced turns rather than all going again when their pause ends.
    assert statuses.count(429) <= 40 - 10 + 3


async def test_each_call_on_its_own_fails_where_the_pace_succeeds(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.limit_rate(10, latency=0.05)
    async with KellyAPI(adaptive_rate=False, max_retries=1) as api:
        results = await gather_calls([functools.partial(api.llm, f"call {i}") for i in range(40)])
    assert any(isinstance(result, errors.RateLimitError) for result in results), "the behaviour the pace replaces"


async def test_a_retry_after_pauses_every_caller_of_the_client(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.fail("chat/{model}", status=429, retry_after=2, times=1)
    async with KellyAPI() as api:
        with pytest.raises(errors.RateLimitError) as first:
            await api.llm("refused", timeout=1)  # its Retry-After does not fit its timeout
        assert first.value.attempts == 1

        with pytest.raises(errors.RateLimitError) as second:
            await api.sd_models(timeout=1)  # another route, another caller: the same pause
        assert second.value.attempts == 0
        assert "no turn to send within the timeout" in str(second.value)

        assert await api.sd_models(timeout=5), "it goes when the pause is over"
    assert [(request.route, request.status) for request in kelly_sandbox.requests] == [
        ("chat/{model}", 429),
        ("sd/models", 200),
    ]


@pytest.mark.parametrize("adaptive_rate", [True, False], ids=["adaptive", "fixed"])
async def test_max_rate_keeps_the_calls_under_the_limit_from_the_first_call(
    kelly_sandbox: KellySandbox, adaptive_rate: bool
) -> None:
    kelly_sandbox.limit_rate(5, latency=0.05)  # bursts of 5, then 5 a second
    async with KellyAPI(max_rate=4, adaptive_rate=adaptive_rate) as api:
        results = await gather_calls([api.sd_models for _ in range(14)])

    assert all(isinstance(result, dict) for result in results)
    assert [request.status for request in kelly_sandbox.requests] == [200] * 14, "never a 429"


async def test_bad_rate_options_are_refused_before_any_request(kelly_sandbox: KellySandbox) -> None:
    for bad, kind in ((0, ValueError), (-1.5, ValueError), (float("inf"), ValueError), ("20", TypeError)):
        with pytest.raises(errors.InvalidRequest) as caught:
            KellyAPI(max_rate=bad)  # type: ignore[arg-type]
        assert isinstance(caught.value, kind)
    with pytest.raises(errors.InvalidRequest):
        KellyAPI(adaptive_rate=1)  # type: ignore[arg-type]
    assert kelly_sandbox.requests == []
