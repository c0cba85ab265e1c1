"""`RedisLimiter`: one pace for every process and machine that shares an API key, kept in Redis (redis-py).

The rules are those of `kellyapi._core.policy.fleet`, run as Lua scripts on the server (atomic, on its clock).
Redis down, slow or restarted: the limiter fails open. Each attempt then goes by the in-process policy, one
warning is logged, and Redis is tried again after `RETRY_REDIS_AFTER` seconds; the limiter itself never fails
a call and never waits past a call's deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
import weakref
from typing import Any

import attrs

from kellyapi import errors
from kellyapi._core.policy import fleet
from kellyapi._core.policy.limiter import FAILED, REDIS_URL_ENV, REFUSED, ProcessLimiter

try:
    import redis
    import redis.asyncio
except ImportError:  # pragma: no cover - the extra is not installed
    redis = None  # type: ignore[assignment]

REDIS_TIMEOUT = 0.25  # seconds a Redis command may take before the limiter falls back to the in-process policy
RETRY_REDIS_AFTER = 5.0  # seconds the limiter keeps to the in-process policy after Redis failed

logger = logging.getLogger("kellyapi")


@attrs.define
class _FleetPermit:
    local: object  # the in-process policy's permit: its window (slow start) and throttle hold everywhere
    sent_ms: float | None = None  # when the fleet booked the attempt's start, on the Redis server's clock


def default_name(base_url: str, api_key: str | None) -> str:
    """A name that scopes the shared state: the API's URL and a hash of the key, never the key itself."""
    digest = hashlib.sha256(f"{base_url}\n{api_key or ''}".encode()).hexdigest()[:16]
    return f"kellyapi:{digest}"


class RedisLimiter:
    """One pace for every process and machine that uses the same Redis and name: the send schedule, the
    pause of any Retry-After and the rate learned from 429s are shared, so their refusals do not add up.

    Pass it to a client (`KellyAPI(limiter=RedisLimiter("redis://host:6379/0"))`), or set KELLY_REDIS_URL to
    give every client of the process one. Install with `pip install 'kellyapi[redis]'`.
    """

    def __init__(
        self,
        redis_client: str | Any = None,
        *,
        name: str | None = None,
        max_rate: float | None = None,
    ) -> None:
        """redis_client: a `redis://` URL (default: KELLY_REDIS_URL), or a `redis.Redis` or
        `redis.asyncio.Redis` of yours (never closed by the limiter).
        name: the scope of the shared state (default: derived from the API URL and a hash of the key).
        max_rate: a fixed fleet-wide limit in calls a second, instead of the rate learned from 429s.
        """
        if redis is None:
            raise errors.InvalidArgumentType("RedisLimiter needs redis-py: pip install 'kellyapi[redis]'")
        source = redis_client if redis_client is not None else os.environ.get(REDIS_URL_ENV)
        if source is None:
            raise errors.InvalidArgumentValue(f"RedisLimiter needs a redis:// URL, a Redis client or {REDIS_URL_ENV}")
        if isinstance(source, str):
            self._url: str | None = source
            self._sync: Any = None
            self._async_given: Any = None
        elif isinstance(source, redis.asyncio.Redis):
            self._url, self._sync, self._async_given = None, None, source
        elif isinstance(source, redis.Redis):
            self._url, self._sync, self._async_given = None, source, None
        else:
            raise errors.InvalidArgumentType(
                "redis_client must be a redis:// URL, a redis.Redis or a redis.asyncio.Redis,"
                f" got {type(source).__name__}"
            )
        if max_rate is not None and not (isinstance(max_rate, (int, float)) and 0 < max_rate < math.inf):
            raise errors.InvalidArgumentValue(f"max_rate must be more than 0 calls a second, got {max_rate!r}")
        self.name = name
        self.max_rate = float(max_rate or 0.0)
        self._owned_sync = self._sync is None and self._url is not None
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        # This process's own policy: its slow start and throttle always, its pacing only while Redis fails.
        self._local = ProcessLimiter(max_rate)
        self._local.pace.fleet_paces = True
        self._down_until = 0.0
        self._warned = False
        self._tasks: set[asyncio.Task[Any]] = set()

    def bind(self, base_url: str, api_key: str | None) -> None:
        """Called by a client given this limiter: name the shared state after its API and key if unnamed."""
        if self.name is None:
            self.name = default_name(base_url, api_key)

    def __repr__(self) -> str:
        where = self._url.rsplit("@", 1)[-1] if self._url else "a Redis client"
        return f"<RedisLimiter {self.name or 'unbound'} on {where}>"

    # -- Redis, and what to do when it fails ---------------------------------------------------------------

    def _keys(self) -> list[str]:
        name = self.name or "kellyapi:default"
        return [f"{name}:tat", f"{name}:pause", f"{name}:pace", f"{name}:accepted", f"{name}:since"]

    def _sync_client(self) -> Any:
        if self._sync is None:
            if self._url is None:
                raise errors.InvalidArgumentType(
                    "this RedisLimiter was given a redis.asyncio.Redis: a blocking client needs a redis.Redis or a URL"
                )
            self._sync = redis.Redis.from_url(
                self._url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
            )
        return self._sync

    def _async_client(self) -> Any:
        if self._async_given is not None:
            return self._async_given
        loop = asyncio.get_running_loop()
        client = self._loops.get(loop)
        if client is None:
            if self._url is None:  # a blocking client given: its commands run in a thread
                return None
            client = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
            )
            self._loops[loop] = client
        return client

    def _usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_REDIS_AFTER
        self._local.pace.fleet_paces = False
        if not self._warned:
            self._warned = True
            logger.warning(
                "Redis is unreachable (%s: %s): calls go on under the in-process policy; retrying Redis every %g s",
                type(exc).__name__,
                exc,
                RETRY_REDIS_AFTER,
            )

    def _recovered(self) -> None:
        self._local.pace.fleet_paces = True
        if self._warned:
            self._warned = False
            logger.warning("Redis is back: calls share the fleet's pace again")

    def _turn_arguments(self, max_wait_ms: float) -> list[float]:
        constants = fleet.script_arguments()
        return [
            max(0.0, max_wait_ms),
            self.max_rate,
            constants["burst"],
            constants["beta"],
            constants["c"],
            constants["floor"],
            constants["idle"],
        ]

    def _refused_arguments(self, permit: _FleetPermit, retry_after: float | None) -> list[float | int]:
        constants = fleet.script_arguments()
        return [
            permit.sent_ms or 0.0,
            -1.0 if retry_after is None else retry_after * 1000,
            1 if self._local.pace.proven else 0,
            self.max_rate,
            constants["cap"],
            constants["beta"],
            constants["c"],
            constants["floor"],
            constants["idle"],
            constants["burst"],
        ]

    # -- the protocol ----------------------------------------------------------------------------------------

    def turn(self, deadline: float, *, first: bool = False) -> object:
        """Block until an attempt may go: this process's window, then the fleet's schedule (or, Redis failing,
        this process's pace)."""
        permit = _FleetPermit(self._local.turn(deadline, first=first))
        try:
            while self._usable():
                max_wait = (deadline - time.monotonic()) * 1000
                try:
                    answer = self._sync_client().eval(
                        fleet.TURN_SCRIPT, 5, *self._keys(), *self._turn_arguments(max_wait)
                    )
                except (redis.RedisError, OSError) as exc:
                    self._failed(exc)
                    break
                wait, booked = self._fleet_turn(permit, answer, max_wait)
                time.sleep(wait)
                if booked:
                    break
        except BaseException:
            self._local.report(permit.local, FAILED)
            raise
        return permit

    async def aturn(self, deadline: float, *, first: bool = False) -> object:
        """Wait, without blocking the event loop, until an attempt may go: this process's window, then the
        fleet's schedule (or, Redis failing, this process's pace)."""
        permit = _FleetPermit(await self._local.aturn(deadline, first=first))
        try:
            while self._usable():
                max_wait = (deadline - time.monotonic()) * 1000
                arguments = (fleet.TURN_SCRIPT, 5, *self._keys(), *self._turn_arguments(max_wait))
                try:
                    client = self._async_client()
                    if client is None:
                        answer = await asyncio.to_thread(self._sync_client().eval, *arguments)
                    else:
                        answer = await client.eval(*arguments)
                except (redis.RedisError, OSError) as exc:
                    self._failed(exc)
                    break
                wait, booked = self._fleet_turn(permit, answer, max_wait)
                await asyncio.sleep(wait)
                if booked:
                    break
        except BaseException:
            self._local.report(permit.local, FAILED)
            raise
        return permit

    def _fleet_turn(self, permit: _FleetPermit, answer: Any, max_wait: float) -> tuple[float, bool]:
        """Read the fleet's answer: the seconds to sleep, and whether the attempt then goes (a booked start)
        or asks again (a pause); RateLimitError when the wait ends past the deadline."""
        self._recovered()
        wait, now, booked = float(answer[0]), float(answer[1]), answer[2] in (b"1", "1")
        if wait > max_wait:
            raise self._no_turn(wait)
        if booked:  # when its start was booked, at the rate then: a refusal of it is of that rate's wave
            permit.sent_ms = now
        return wait / 1000, booked

    def report(self, permit: object, outcome: str, retry_after: float | None = None) -> None:
        """Learn from the attempt: this process's policy always; the fleet pauses and cuts on refusals."""
        assert isinstance(permit, _FleetPermit)
        self._local.report(permit.local, outcome, retry_after)
        if permit.sent_ms is None:  # Redis could not be asked for this attempt
            return
        if outcome == REFUSED:
            self._send(fleet.REFUSED_SCRIPT, self._keys(), self._refused_arguments(permit, retry_after))

    def _send(self, script: str, keys: list[str], arguments: list[Any]) -> None:
        """Run a script without making the caller wait on Redis: on the event loop's side when there is one."""
        if not self._usable():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            try:
                self._sync_client().eval(script, len(keys), *keys, *arguments)
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)
            return
        task = loop.create_task(self._asend(script, keys, arguments))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _asend(self, script: str, keys: list[str], arguments: list[Any]) -> None:
        try:
            client = self._async_client()
            if client is None:
                await asyncio.to_thread(self._sync_client().eval, script, len(keys), *keys, *arguments)
            else:
                await client.eval(script, len(keys), *keys, *arguments)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)

    @staticmethod
    def _no_turn(wait_ms: float) -> errors.RateLimitError:
        return errors.RateLimitError(
            "no turn to send within the timeout at the pace the fleet shares", retry_after=wait_ms / 1000
        )

    @property
    def paced_rate(self) -> float | None:
        """This process's own pace while Redis fails (the fleet's lives in Redis); None otherwise."""
        return self._local.paced_rate

    # -- closing ----------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the blocking Redis connections the limiter made (a client you passed in stays open)."""
        if self._owned_sync and self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        """Close the Redis connections the limiter made on this event loop, and the blocking ones."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        client = self._loops.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
        self.close()
