"""`RedisLimiter`: one pace for every process and machine that shares an API key, kept in Redis (redis-py).

The rules are those of `kellyapi._core.policy.fleet`, run as Lua scripts on the server (atomic, on its clock;
sent by their SHA1 once Redis has them). Redis down, slow or restarted: the limiter fails open. Each attempt
then goes by the in-process policy (the calls the fleet's schedule held go back in line behind its slow start),
one warning is logged, and Redis is tried again after `RETRY_REDIS_AFTER` seconds, or at once when another
command of the process got an answer; the limiter itself never fails a call and never waits past a call's
deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any

import attrs

from kellyapi import errors
from kellyapi._core.policy import fleet
from kellyapi._core.policy.limiter import FAILED, REDIS_URL_ENV, REFUSED, ProcessLimiter
from kellyapi._core.policy.pace import Turn

try:
    import redis
    import redis.asyncio
    from redis.connection import parse_url as _parse_url

    parse_url: Callable[[str], dict[str, Any]] = _parse_url  # (redis-py leaves it untyped)
except ImportError:  # pragma: no cover - the extra is not installed
    redis = None  # type: ignore[assignment]

REDIS_TIMEOUT = 1.0  # seconds a Redis command (or connecting) may take: redis-rb's default timeouts
RETRY_REDIS_AFTER = 5.0  # seconds the limiter keeps to the in-process policy after Redis failed

logger = logging.getLogger("kellyapi")


@attrs.define
class _FleetPermit:
    local: Turn  # the in-process policy's permit: its throttle holds everywhere, its pace while Redis fails
    seq: int = fleet.NOT_BOOKED  # the send's number in the fleet's order, once booked


@attrs.frozen
class _Script:
    """A Lua script, sent by its SHA1 (EVALSHA) once the server has it."""

    text: str
    sha: str = attrs.field(init=False)

    @sha.default
    def _sha(self) -> str:
        return hashlib.sha1(self.text.encode()).hexdigest()  # the name Redis gives a script

    def run(self, client: Any, keys: list[str], arguments: list[Any]) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *arguments)
        except redis.exceptions.NoScriptError:  # a new or restarted server: load it (as redis-py's Script does)
            client.script_load(self.text)
            return client.evalsha(self.sha, len(keys), *keys, *arguments)

    async def arun(self, client: Any, keys: list[str], arguments: list[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *arguments)
        except redis.exceptions.NoScriptError:
            await client.script_load(self.text)
            return await client.evalsha(self.sha, len(keys), *keys, *arguments)


TURN = _Script(fleet.TURN_SCRIPT)
REFUSED_SCRIPT = _Script(fleet.REFUSED_SCRIPT)


def default_name(base_url: str, api_key: str | None) -> str:
    """A name that scopes the shared state: the API's URL and a hash of the key, never the key itself."""
    digest = hashlib.sha256(f"{base_url}\n{api_key or ''}".encode()).hexdigest()[:16]
    return f"kellyapi:{digest}"


async def _closing(client: Any) -> AsyncGenerator[None, None]:
    """Closes `client` when its event loop shuts its async generators down (as `asyncio.run` does on exit):
    connections made on a loop go with it, even from a limiter that outlives the loop."""
    try:
        yield
    finally:
        await client.aclose()


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
        """redis_client: a `redis://`, `rediss://` or `unix://` URL (default: KELLY_REDIS_URL), or a
        `redis.Redis` or `redis.asyncio.Redis` of yours (never closed by the limiter; a `redis.asyncio.Redis`
        serves async clients only).
        name: the scope of the shared state (default: derived from the API URL and a hash of the key).
        max_rate: a fixed fleet-wide limit in calls a second, instead of the rate learned from 429s.

        Raises:
            kellyapi.errors.InvalidArgumentType: redis-py is missing, or redis_client is of another type.
            kellyapi.errors.InvalidArgumentValue: no URL, or one Redis cannot read.
        """
        if redis is None:
            raise errors.InvalidArgumentType("RedisLimiter needs redis-py: pip install 'kellyapi[redis]'")
        source = redis_client if redis_client is not None else os.environ.get(REDIS_URL_ENV)
        if source is None:
            raise errors.InvalidArgumentValue(f"RedisLimiter needs a redis:// URL, a Redis client or {REDIS_URL_ENV}")
        if isinstance(source, str):
            try:
                parse_url(source)
            except ValueError as bad:  # its message names the fault, not the URL (which may hold a password)
                raise errors.InvalidArgumentValue(f"not a Redis URL: {bad}") from None
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
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, AsyncGenerator[None, None]]]
        self._loops = weakref.WeakKeyDictionary()
        # This process's own policy: its throttle always; its pacing only while Redis fails, learnt for this
        # process alone (a max_rate is the fleet's, not each process's).
        self._local = ProcessLimiter()
        self._local.pace.fleet_paces = True
        self._down_until = 0.0
        self._warned = False
        self._tasks: set[asyncio.Task[Any]] = set()

    def bind(self, base_url: str, api_key: str | None) -> None:
        """Called by a blocking client given this limiter: name the shared state after its API and key if
        unnamed. Raises InvalidArgumentType if the limiter was given a `redis.asyncio.Redis`."""
        if self._url is None and self._sync is None:
            raise errors.InvalidArgumentType(
                "this RedisLimiter was given a redis.asyncio.Redis: a blocking client needs a redis.Redis or a URL"
            )
        self.abind(base_url, api_key)

    def abind(self, base_url: str, api_key: str | None) -> None:
        """Called by an async client given this limiter: name the shared state after its API and key if unnamed."""
        if self.name is None:
            self.name = default_name(base_url, api_key)

    def __repr__(self) -> str:
        where = self._url.rsplit("@", 1)[-1] if self._url else "a Redis client"
        return f"<RedisLimiter {self.name or 'unbound'} on {where}>"

    # -- Redis, and what to do when it fails ---------------------------------------------------------------

    def _keys(self) -> list[str]:
        name = self.name or "kellyapi:default"
        return [f"{name}:{suffix}" for suffix in fleet.KEY_SUFFIXES]

    def _sync_client(self) -> Any:
        if self._sync is None:
            assert self._url is not None  # else a redis.asyncio.Redis was given: `bind` refuses blocking clients
            self._sync = redis.Redis.from_url(
                self._url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
            )
        return self._sync

    async def _async_client(self) -> Any:
        """This loop's Redis client (None: a blocking one was given, run in a thread)."""
        if self._async_given is not None:
            return self._async_given
        if self._url is None:
            return None
        loop = asyncio.get_running_loop()
        made = self._loops.get(loop)
        if made is None:
            client = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
            )
            closing = _closing(client)
            await closing.__anext__()  # the loop now tracks it, and closes it when it shuts down
            made = self._loops[loop] = (client, closing)
        return made[0]

    def _usable(self, deadline: float) -> bool:
        """Whether to ask Redis now: not while it is down, nor when a slow answer would end past the deadline
        (the attempt then goes by this process's policy)."""
        now = time.monotonic()
        return now >= self._down_until and deadline - now > REDIS_TIMEOUT

    def _failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_REDIS_AFTER
        self._local.pace.pace_alone(time.monotonic())
        if not self._warned:
            self._warned = True
            logger.warning(
                "Redis is unreachable (%s: %s): calls go on under the in-process policy; retrying Redis every %g s",
                type(exc).__name__,
                exc,
                RETRY_REDIS_AFTER,
            )

    def _recovered(self) -> None:
        self._down_until = 0.0  # (an answer after a failure: a restarted Redis, reached on a new connection)
        if not self._local.pace.fleet_paces:
            self._local.pace.pace_with_fleet()
        if self._warned:
            self._warned = False
            logger.warning("Redis is back: calls share the fleet's pace again")

    # -- the protocol ----------------------------------------------------------------------------------------

    def turn(self, deadline: float, *, first: bool = False) -> object:
        """Block until an attempt may go: this process's throttle, then the fleet's schedule (or, Redis failing,
        this process's pace)."""
        permit = _FleetPermit(self._local.turn(deadline, first=first))
        held_for_the_fleet = self._local.pace.fleet_paces  # (else this process's pace gave it: Redis failed)
        try:
            while self._usable(deadline):
                max_wait = (deadline - time.monotonic()) * 1000
                try:
                    answer = TURN.run(self._sync_client(), self._keys(), fleet.turn_arguments(max_wait, self.max_rate))
                except (redis.RedisError, OSError) as exc:
                    self._failed(exc)
                    # A turn given while the fleet paced goes back in line for this process's pace (else every
                    # call the fleet's schedule held goes at once, and their retries after the API's pause
                    # together again); one this process's pace gave (Redis tried again, and failing still) has
                    # waited for it already.
                    if held_for_the_fleet:
                        permit.local = self._local.requeue(permit.local, deadline)
                    break
                wait = self._fleet_turn(permit, answer, max_wait)
                time.sleep(wait)
                if permit.seq != fleet.NOT_BOOKED:
                    self._local.pace.went(permit.local, time.monotonic())
                    break
        except BaseException:
            self._local.report(permit.local, FAILED)
            raise
        return permit

    async def aturn(self, deadline: float, *, first: bool = False) -> object:
        """Wait, without blocking the event loop, until an attempt may go: this process's throttle, then the
        fleet's schedule (or, Redis failing, this process's pace)."""
        permit = _FleetPermit(await self._local.aturn(deadline, first=first))
        held_for_the_fleet = self._local.pace.fleet_paces  # (else this process's pace gave it: Redis failed)
        try:
            while self._usable(deadline):
                max_wait = (deadline - time.monotonic()) * 1000
                arguments = fleet.turn_arguments(max_wait, self.max_rate)
                try:
                    client = await self._async_client()
                    if client is None:
                        answer = await asyncio.to_thread(TURN.run, self._sync_client(), self._keys(), arguments)
                    else:
                        answer = await TURN.arun(client, self._keys(), arguments)
                except (redis.RedisError, OSError) as exc:
                    self._failed(exc)
                    if held_for_the_fleet:  # (as `turn`)
                        permit.local = await self._local.arequeue(permit.local, deadline)
                    break
                wait = self._fleet_turn(permit, answer, max_wait)
                await asyncio.sleep(wait)
                if permit.seq != fleet.NOT_BOOKED:
                    self._local.pace.went(permit.local, time.monotonic())
                    break
        except BaseException:
            self._local.report(permit.local, FAILED)
            raise
        return permit

    def _fleet_turn(self, permit: _FleetPermit, answer: Any, max_wait: float) -> float:
        """Read the fleet's answer: the seconds to sleep, after which the attempt goes if it was booked (else
        it asks again); RateLimitError when the wait ends past the deadline."""
        self._recovered()
        wait, seq = float(answer[0]), int(answer[1])
        if wait > max_wait:
            raise errors.RateLimitError(
                "no turn to send within the timeout at the pace the fleet shares", retry_after=wait / 1000
            )
        permit.seq = seq
        return wait / 1000

    def report(self, permit: object, outcome: str, retry_after: float | None = None) -> None:
        """Learn from the attempt: this process's policy always; the fleet pauses and cuts on refusals (on a
        blocking client, one Redis command, within the limiter's Redis timeout)."""
        assert isinstance(permit, _FleetPermit)
        waves = self._local.pace.waves
        self._local.report(permit.local, outcome, retry_after)
        if outcome == REFUSED and permit.seq != fleet.NOT_BOOKED:
            proven = self._local.pace.waves > waves  # this refusal completed the process's proof of a limit
            retry_after_ms = None if retry_after is None else retry_after * 1000
            self._send(REFUSED_SCRIPT, fleet.refused_arguments(permit.seq, retry_after_ms, proven, self.max_rate))

    def _send(self, script: _Script, arguments: list[Any]) -> None:
        """Run a script without making an async caller wait on Redis: on its event loop's side."""
        if time.monotonic() < self._down_until:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            try:
                script.run(self._sync_client(), self._keys(), arguments)
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)
            return
        task = loop.create_task(self._asend(script, arguments))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _asend(self, script: _Script, arguments: list[Any]) -> None:
        try:
            client = await self._async_client()
            if client is None:
                await asyncio.to_thread(script.run, self._sync_client(), self._keys(), arguments)
            else:
                await script.arun(client, self._keys(), arguments)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)

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
        made = self._loops.pop(asyncio.get_running_loop(), None)
        if made is not None:
            await made[1].aclose()
        self.close()
