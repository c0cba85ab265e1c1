"""The I/O seam: `aiohttp.AsyncTransport` and `urllib3.SyncTransport` send a `Request` and return a `Response`;
`redis.RedisLimiter` shares a fleet's pace through Redis.

A transport knows HTTP and nothing of the Kelly API; each is the only module that imports its library.
"""

from __future__ import annotations

import os

from kellyapi._core.policy.limiter import REDIS_URL_ENV, Limiter


def fleet_limiter_from_environment(max_rate: float | None) -> Limiter | None:
    """A `RedisLimiter` on KELLY_REDIS_URL when it is set (every client of the process then shares the
    fleet's pace without a code change), else None."""
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        return None
    from kellyapi._transport.redis import RedisLimiter  # redis-py, an extra: loaded only when asked for

    return RedisLimiter(url, max_rate=max_rate)
