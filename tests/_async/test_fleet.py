"""Clients that share an API key share one pace through Redis (a real redis-server): a Retry-After one of them
sees pauses the others, a max_rate holds for all of them together, and Redis failing fails open."""

from __future__ import annotations

import functools
import logging
import time

import pytest

from kellyapi import KellyAPI, RedisLimiter, errors
from kellyapi.testing import KellySandbox
from tests.concurrently import gather_calls
from tests.redis_server import RedisServer


async def test_a_retry_after_one_client_sees_pauses_another(
    kelly_sandbox: KellySandbox, redis_server: RedisServer
) -> None:
    kelly_sandbox.fail("chat/{model}", status=429, retry_after=3, times=1)
    one, other = RedisLimiter(redis_server.url), RedisLimiter(redis_server.url)
    async with KellyAPI(limiter=one) as first, KellyAPI(limiter=other) as second:
        # Timeouts longer than the limiter's own Redis timeout: a call with less time left than that goes by
        # its process's policy rather than risk a slow Redis answer past its deadline.
        with pytest.raises(errors.RateLimitError):
            await first.llm("refused", timeout=2)
        # A limiter tells Redis of a refusal beside its caller, who does not wait for it; closing it waits.
        await one.aclose()
        with pytest.raises(errors.RateLimitError) as paused:
            await second.sd_models(timeout=2)  # another client, as another process would be
        assert paused.value.attempts == 0, "not sent: the fleet is paused"
        assert 1 < (paused.value.retry_after or 0) <= 3
        assert await second.sd_models(timeout=6), "it goes when the pause is over"
    await one.aclose()
    await other.aclose()


async def test_max_rate_holds_for_the_fleet_together(kelly_sandbox: KellySandbox, redis_server: RedisServer) -> None:
    kelly_sandbox.limit_rate(5, latency=0.05)  # bursts of 5, then 5 a second
    limiters = [RedisLimiter(redis_server.url, max_rate=4) for _ in range(2)]
    async with KellyAPI(limiter=limiters[0]) as first, KellyAPI(limiter=limiters[1]) as second:
        results = await gather_calls([api.sd_models for api in (first, second) for _ in range(7)])
    assert all(isinstance(result, dict) for result in results)
    assert [request.status for request in kelly_sandbox.requests] == [200] * 14, "never a 429"
    for limiter in limiters:
        await limiter.aclose()


async def test_the_time_the_fleet_s_schedule_holds_a_call_is_not_taken_for_the_api_s(
    kelly_sandbox: KellySandbox, redis_server: RedisServer
) -> None:
    """Calls the fleet's schedule held for seconds, refused at once when they went: the time a refusal takes is
    the API's answer, not the hold, or every call later left less than the hold would fail as out of time."""
    kelly_sandbox.fail("sd_models", status=429, times=6)  # no Retry-After: each retries after its backoff
    limiter = RedisLimiter(redis_server.url, max_rate=2)  # one call every half second, fleet-wide
    async with KellyAPI(limiter=limiter) as api:
        results = await gather_calls([api.sd_models for _ in range(6)])
    assert all(isinstance(result, dict) for result in results)
    assert len(kelly_sandbox.requests) == 12
    assert limiter._local.pace.answer_time() < 0.5, "the sandbox answers at once; the schedule held for 2.5 s"
    await limiter.aclose()


async def test_redis_down_fails_open_with_one_warning(
    kelly_sandbox: KellySandbox, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kellyapi")
    limiter = RedisLimiter(redis_server.url)
    redis_server.kill()
    async with KellyAPI(limiter=limiter) as api:
        results = await gather_calls([functools.partial(api.llm, f"call {i}") for i in range(10)])
    assert all(isinstance(result, str) for result in results), "the limiter never fails a call"
    warnings = [record for record in caplog.records if "in-process policy" in record.getMessage()]
    assert len(warnings) == 1
    await limiter.aclose()


async def test_the_shared_state_is_named_after_the_api_and_a_hash_of_the_key(
    kelly_sandbox: KellySandbox, redis_server: RedisServer
) -> None:
    import redis

    kelly_sandbox.fail("chat/{model}", status=429, retry_after=1, times=1)
    limiter = RedisLimiter(redis_server.url)
    async with KellyAPI(limiter=limiter) as api:
        assert await api.llm("after a pause")
    keys = [str(key) for key in redis.Redis.from_url(redis_server.url, decode_responses=True).keys("*")]
    assert keys and all(key.startswith("kellyapi:") for key in keys)
    assert all(kelly_sandbox.api_key not in key for key in keys), "the key itself never"
    assert kelly_sandbox.api_key not in repr(limiter)
    await limiter.aclose()


async def test_kelly_redis_url_gives_every_client_the_fleets_limiter(
    kelly_sandbox: KellySandbox, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KELLY_REDIS_URL", redis_server.url)
    async with KellyAPI() as api:
        assert isinstance(api._limiter, RedisLimiter)
        assert await api.sd_models()


def test_a_url_redis_cannot_read_is_refused_when_the_limiter_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    for url in ("localhost:6379", "http://localhost:6379/0", "redis://localhost:port/0"):
        with pytest.raises(errors.InvalidArgumentValue, match="not a Redis URL"):
            RedisLimiter(url)
    monkeypatch.setenv("KELLY_REDIS_URL", "redis://:secret@localhost:bad/0")
    with pytest.raises(errors.InvalidArgumentValue) as refused:
        KellyAPI()
    assert "secret" not in str(refused.value), "the URL's password never"


async def test_a_stalled_redis_never_holds_a_call_past_its_deadline(
    kelly_sandbox: KellySandbox, redis_server: RedisServer
) -> None:
    import redis

    limiter = RedisLimiter(redis_server.url)
    async with KellyAPI(limiter=limiter) as api:
        assert await api.sd_models(), "Redis answers: the fleet's turn"
        admin = redis.Redis.from_url(redis_server.url)
        admin.client_pause(3000)  # every client of this Redis waits 3 s
        try:
            started = time.monotonic()
            assert await api.sd_models(timeout=0.2), "too little time to ask Redis: it goes on this process's pace"
            assert time.monotonic() - started < 0.2
        finally:
            admin.client_unpause()
            admin.close()
    await limiter.aclose()


async def test_the_scripts_are_sent_by_their_digest_once_redis_has_them(
    kelly_sandbox: KellySandbox, redis_server: RedisServer
) -> None:
    import redis

    limiter = RedisLimiter(redis_server.url)
    async with KellyAPI(limiter=limiter) as api:
        await api.sd_models()
        await gather_calls([api.sd_models for _ in range(20)])
    admin = redis.Redis.from_url(redis_server.url, decode_responses=True)
    stats = admin.info("commandstats")
    admin.close()
    assert stats["cmdstat_evalsha"]["calls"] >= 21
    assert "cmdstat_eval" not in stats
    assert stats["cmdstat_script|load"]["calls"] == 1, "the script's text goes once, to a new server"
    await limiter.aclose()


async def test_a_restarted_redis_shares_the_pace_again_as_soon_as_it_answers(
    kelly_sandbox: KellySandbox, redis_server: RedisServer
) -> None:
    import redis

    limiter = RedisLimiter(redis_server.url)
    async with KellyAPI(limiter=limiter) as api:
        await gather_calls([api.sd_models for _ in range(4)])  # connections to Redis, kept for the next calls
        redis_server.restart()
        # The kept connections fail (the server closed them), new ones reach the new server: the limiter
        # warns and falls back for what failed, and takes the first answer as Redis back.
        await gather_calls([api.sd_models for _ in range(12)])
        admin = redis.Redis.from_url(redis_server.url)
        before = admin.info("commandstats")["cmdstat_evalsha"]["calls"]
        assert await api.sd_models()
        after = admin.info("commandstats")["cmdstat_evalsha"]["calls"]
        admin.close()
    assert after == before + 1, "the next call asks the fleet's pace, not only this process's"
    await limiter.aclose()
