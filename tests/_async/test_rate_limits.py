"""The 429s real APIs send, on real sockets: a rate limit every call gets through, load shedding that costs
nothing, a used-up quota that fails fast, Retry-After pauses with a cap (sizes reduced for CI; no timing
asserted: the families at scale run on a virtual clock in tests/simulation and in `python -m bench.rate_limits`)."""

from __future__ import annotations

import functools

import pytest

from kellyapi import KellyAPI, ProcessLimiter, errors
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


async def test_a_burst_against_an_api_at_its_limit_costs_a_few_refusals_not_the_burst(
    kelly_sandbox: KellySandbox,
) -> None:
    """The start's window: with no controller, 100 calls at once against a bucket of 10 see 90 refused."""
    kelly_sandbox.limit_rate(10, latency=0.3)
    async with KellyAPI() as api:
        results = await gather_calls([functools.partial(api.llm, f"call {i}") for i in range(100)])
    assert [type(result) for result in results] == [str] * 100
    statuses = [request.status for request in kelly_sandbox.requests]
    assert statuses.count(429) < 20


async def test_each_call_on_its_own_fails_where_the_pace_succeeds(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.limit_rate(10, latency=0.05)
    async with KellyAPI(adaptive_rate=False, max_retries=1) as api:
        results = await gather_calls([functools.partial(api.llm, f"call {i}") for i in range(40)])
    assert any(isinstance(result, errors.RateLimitError) for result in results), "the behaviour the pace replaces"


async def test_random_shedding_is_retried_call_by_call_and_never_paces_the_client(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.faults.randomly(0.05, seed=3, kinds=["429-shed", "429-now"])
    async with KellyAPI() as api:
        results = await gather_calls([functools.partial(api.llm, f"call {i}") for i in range(300)])
        assert api.paced_rate is None, "a few percent of 429s prove no limit"
    assert [type(result) for result in results] == [str] * 300
    assert 0 < [request.status for request in kelly_sandbox.requests].count(429) < 40


@pytest.mark.parametrize("kind", ["429-shed", "429"], ids=["no Retry-After", "Retry-After 1"])
async def test_a_used_up_quota_fails_fast_and_the_client_stops_sending(kelly_sandbox: KellySandbox, kind: str) -> None:
    kelly_sandbox.fail("chat/{model}", kind, times=10_000)
    async with KellyAPI(max_retries=2) as api:
        with pytest.raises(errors.RateLimitError) as one:
            await api.llm("one", timeout=5)
        assert 1 <= one.value.attempts <= 3
        assert len(kelly_sandbox.requests) == one.value.attempts

        ten = await gather_calls([lambda: api.llm("ten", timeout=10) for _ in range(10)])
        assert all(isinstance(result, errors.RateLimitError) for result in ten)
        assert len(kelly_sandbox.requests) <= 3 + 30

        before = len(kelly_sandbox.requests)
        more = await gather_calls([lambda: api.llm("more", timeout=10) for _ in range(100)])
        assert all(isinstance(result, errors.RateLimitError) for result in more)
        assert len(kelly_sandbox.requests) - before <= 20, "a used-up quota: most new calls fail without a request"


async def test_a_retry_after_pauses_every_caller_of_the_client(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.fail("chat/{model}", status=429, retry_after=2, times=1)
    async with KellyAPI() as api:
        with pytest.raises(errors.RateLimitError) as first:
            await api.llm("refused", timeout=1)  # its Retry-After does not fit its timeout
        assert first.value.attempts == 1
        assert first.value.retry_after == 2

        with pytest.raises(errors.RateLimitError) as second:
            await api.sd_models(timeout=1)  # another route, another caller: the same pause
        assert second.value.attempts == 0
        assert "no turn to send within the timeout" in str(second.value)
        assert second.value.retry_after is not None and 0 < second.value.retry_after <= 2

        assert await api.sd_models(timeout=5), "it goes when the pause is over"
    assert [(request.route, request.status) for request in kelly_sandbox.requests] == [
        ("chat/{model}", 429),
        ("sd/models", 200),
    ]


async def test_a_retry_after_of_years_fails_that_call_at_once_and_pauses_nobody(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.fail("chat/{model}", status=429, retry_after="99999999999999999999")
    async with KellyAPI() as api:
        with pytest.raises(errors.RateLimitError) as caught:
            await api.llm("refused")
        assert caught.value.attempts == 1
        assert caught.value.retry_after == 1e20, "the wait the server asked for, on the error"
        assert await api.sd_models(timeout=2), "the next call to a healthy route goes at once"


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


class _LimiterOfTheProtocol(ProcessLimiter):
    """A user's limiter, written to the `kellyapi.Limiter` protocol: its turns take no route."""

    async def aturn(self, deadline: float, *, first: bool = False) -> object:  # type: ignore[override]
        return await super().aturn(deadline, first=first)


async def test_a_limiter_written_to_the_protocol_alone_paces_the_calls(kelly_sandbox: KellySandbox) -> None:
    """The in-process limiter's turns take the call's route (its pace times each route's answers); one whose
    turns do not is called without it."""
    kelly_sandbox.limit_rate(10, latency=0.05)
    async with KellyAPI(limiter=_LimiterOfTheProtocol(max_rate=10)) as api:
        results = await gather_calls([functools.partial(api.llm, f"call {i}") for i in range(15)])
    assert [type(result) for result in results] == [str] * 15
