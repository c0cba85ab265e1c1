"""What a RedisLimiter holds and where it may serve: connections made on an event loop go with the loop, and a
`redis.asyncio.Redis` cannot serve a blocking client (said when the client is made, not on every call)."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest
import redis.asyncio

from kellyapi import KellyAPI, RedisLimiter, SyncKellyAPI, errors
from kellyapi.sandbox import Sandbox
from tests.redis_server import RedisServer


def test_a_limiter_used_on_two_event_loops_leaves_no_connection_of_the_first_open(redis_server: RedisServer) -> None:
    limiter = RedisLimiter(redis_server.url)

    async def calls(url: str, key: str) -> None:
        async with KellyAPI(key, url, limiter=limiter) as api:
            await asyncio.gather(*(api.sd_models() for _ in range(5)))

    with Sandbox() as sandbox, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        asyncio.run(calls(sandbox.url, sandbox.api_key))  # the limiter outlives this loop
        asyncio.run(calls(sandbox.url, sandbox.api_key))
        gc.collect()
    assert not [warning for warning in caught if issubclass(warning.category, ResourceWarning)]


def test_a_redis_asyncio_client_given_to_a_blocking_client_is_refused_when_it_is_made(
    redis_server: RedisServer,
) -> None:
    given = redis.asyncio.Redis.from_url(redis_server.url)
    limiter = RedisLimiter(given)
    with pytest.raises(errors.InvalidArgumentType, match=r"blocking client needs a redis\.Redis or a URL"):
        SyncKellyAPI("key", limiter=limiter)
    KellyAPI("key", limiter=limiter)  # an async client it serves
