"""The client's core: its configuration, the transport it owns, and the call loop with retries."""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from kellyapi import errors
from kellyapi._core.any_route import Files, build_route_request
from kellyapi._core.arguments import files_to_read, read_files
from kellyapi._core.config import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ClientConfig,
    check_timeout,
)
from kellyapi._core.endpoint import Endpoint, ResultT
from kellyapi._core.http import Request, Response, build_request
from kellyapi._core.log import log_attempt, log_retry, logger
from kellyapi._core.network import Verify
from kellyapi._core.policy.limiter import (
    ACCEPTED,
    FAILED,
    REDIS_URL_ENV,
    REFUSED,
    Limiter,
    ProcessLimiter,
    takes_route,
)
from kellyapi._core.policy.retry import QUOTA_CAPACITY, RetryQuota
from kellyapi._core.raw import RawResponse
from kellyapi._core.response import decode_json, decode_result, error_for_response
from kellyapi._transport import fleet_limiter_from_environment
from kellyapi._transport.aiohttp import AsyncSessionArg, AsyncTransport

ClientT = TypeVar("ClientT", bound="AsyncClient")
ValueT = TypeVar("ValueT")


class AsyncClient:
    """Configuration, connection pooling and retries; the endpoint methods are generated in `api.py`."""

    def __init__(
        self,
        api_key: str | None = None,
        api: str | None = None,
        session: AsyncSessionArg | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        allow_insecure_http: bool = False,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: Verify = True,
        max_rate: float | None = None,
        adaptive_rate: bool = True,
        limiter: Limiter | None = None,
    ) -> None:
        """Configure a client.

        api_key: the Kelly API key; default: the KELLY_API_KEY environment variable.
        api: the base URL; default: KELLY_API_URL, else https://api.kellyai.pro/.
        session: your HTTP session (never closed by the SDK), a callable returning one, or the session
            class; default: a pooled session that the client owns.
        timeout: seconds one call may take in all, retries and waits included; each method also takes
            `timeout=` for one call.
        max_retries: retries after a connection failure or a 408/429/500/502/503/504; 0 disables them.
        max_response_bytes: the largest response body read (default 64 MiB); a larger one is InvalidContent.
        allow_insecure_http: allow a plain http:// api on another machine (loopback is always allowed);
            the key then crosses the network unencrypted.
        proxy: a forward proxy, `http://[user:password@]host:port`; HTTPS goes through it with CONNECT.
            Default: HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, unless NO_PROXY lists the API's host.
        trust_env: False ignores the proxy environment variables.
        verify: True (the system's CAs, or SSL_CERT_FILE), a CA bundle's path, an ssl.SSLContext (also for a
            client certificate), or False to skip certificate checks (a warning is logged).
        Proxy and TLS options apply to the connections the client owns, not to a `session=` of yours.
        max_rate: at most this many calls a second, paced from the start (for a quota you know).
        adaptive_rate: share one pace between this client's calls: a new client starts a few calls at once
            and more as they succeed; once the API's 429s prove a limit, calls are paced at the rate it
            accepts; a Retry-After of up to 60 s pauses them all; when the API refuses most calls, new calls
            fail at once. False leaves each call to its own retries (with max_rate, a fixed pace).
        limiter: what decides when each attempt goes (`kellyapi.Limiter`), e.g. a `kellyapi.RedisLimiter` that
            processes and machines sharing a key share; default: this client's own, in-process.
        """
        self._config = ClientConfig.create(
            api_key,
            api,
            timeout,
            max_retries,
            max_response_bytes=max_response_bytes,
            allow_insecure_http=allow_insecure_http,
            proxy=proxy,
            trust_env=trust_env,
            verify=verify,
            max_rate=max_rate,
            adaptive_rate=adaptive_rate,
        )
        self._owns_limiter = limiter is None and bool(os.environ.get(REDIS_URL_ENV))
        if limiter is None:
            limiter = fleet_limiter_from_environment(self._config.max_rate) or ProcessLimiter(
                self._config.max_rate, self._config.adaptive_rate
            )
        self._use_limiter(limiter)
        self._transport = AsyncTransport(session, self._config.max_response_bytes, self._config.network)
        if self._pace is not None and self._transport.max_connections is not None:
            self._pace.max_in_flight = min(self._pace.max_in_flight, self._transport.max_connections)
        self._quota = RetryQuota()

    def _use_limiter(self, limiter: Limiter) -> None:
        bind = getattr(limiter, "abind", None)
        if bind is not None:  # a fleet's limiter scopes its shared state to this API and key (and checks it
            # can serve this kind of client)
            bind(self._config.base_url, self._config.options["api_key"])
        self._limiter = limiter
        self._turn_takes_route = takes_route(limiter.aturn)
        # The in-process pace, which the call loop may skip while it is open (a fleet's limiter it never skips).
        self._pace = limiter.pace if isinstance(limiter, ProcessLimiter) else None

    @property
    def api(self) -> str:
        """The base URL every route is appended to."""
        return self._config.base_url

    @property
    def api_key(self) -> str | None:
        """The API key the client sends (given, or from KELLY_API_KEY); None when it has none. Never in its repr."""
        key = self._config.options["api_key"]
        return key if isinstance(key, str) else None

    @property
    def paced_rate(self) -> float | None:
        """The calls a second this client keeps to (learned from the API's 429s, or max_rate); None: unpaced."""
        return getattr(self._limiter, "paced_rate", None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._config!r})"

    async def __aenter__(self: ClientT) -> ClientT:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections the client owns; a session (or limiter) you passed in stays open."""
        await self._transport.aclose()
        if self._owns_limiter:
            await self._limiter.aclose()  # type: ignore[attr-defined]

    def with_options(self: ClientT, **options: Any) -> ClientT:
        """A client of this class with some constructor options changed (all but `session`), on this one's connections.

        `client.with_options(timeout=5, max_retries=0).generate(...)`: this client is unchanged; the copy
        shares its connection pool, which closing the copy leaves open (with other `proxy`, `verify` or
        `trust_env` settings the blocking client gives the copy a pool of its own, closed with the copy).
        """
        twin = copy.copy(self)
        twin._owns_limiter = False  # a limiter the copy shares, or one given to it: closing the copy leaves it
        limiter = options.pop("limiter", None)
        twin._config = self._config.with_options(options)
        twin._transport = self._transport.sharing(twin._config.max_response_bytes, twin._config.network)
        rates = (twin._config.max_rate, twin._config.adaptive_rate)
        if limiter is not None:
            twin._use_limiter(limiter)
        elif isinstance(self._limiter, ProcessLimiter) and rates != (self._config.max_rate, self._config.adaptive_rate):
            twin._use_limiter(ProcessLimiter(*rates))  # else the copy shares this client's limiter
        return twin

    async def request(
        self,
        method: str,
        route: str,
        *,
        json: object = None,
        params: Mapping[str, object] | None = None,
        files: Files | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call any route of the API, e.g. one newer than this SDK, with the client's key, retries and errors.

        method: GET, POST...; route: the path below the API's URL, e.g. `"image/nano-banana"`.
        json: the JSON body; with `files=`, its items are sent as form fields instead.
        params: the query string, e.g. `{"page": 2}`.
        files: a multipart upload: `{"files": Path("a.png")}`, `{"files": ("a.png", data, "image/png")}`,
            or `[("files", a), ("files", b)]` for several files under one name.
        Returns the parsed JSON answer (None for an empty 204). Raises the same errors as the methods.
        """
        budget = self._config.timeout if timeout is None else check_timeout(timeout)
        if files is None:
            request = build_route_request(self._config, method, route, json, params, None)
        else:  # reading the files may block: off the event loop
            request = await self._transport.offload(
                build_route_request, self._config, method, route, json, params, files
            )
        response = await self._send(request, budget)
        return self._decoded(decode_json, request, response)

    async def _call(
        self, endpoint: Endpoint[ResultT], timeout: float | None, arguments: Mapping[str, object]
    ) -> ResultT:
        if endpoint.has_media and files_to_read(endpoint, arguments):
            arguments = await self._transport.offload(read_files, endpoint, arguments)
        request = build_request(self._config, endpoint, arguments)
        budget = self._config.timeout if timeout is None else check_timeout(timeout)
        response = await self._send(request, budget)
        try:
            return decode_result(endpoint, request, response)
        except errors.BaseError as error:
            error.attempts = response.attempts
            raise

    async def _call_raw(
        self, endpoint: Endpoint[ResultT], timeout: float | None, arguments: Mapping[str, object]
    ) -> RawResponse[ResultT]:
        started = time.monotonic()
        if endpoint.has_media and files_to_read(endpoint, arguments):
            arguments = await self._transport.offload(read_files, endpoint, arguments)
        request = build_request(self._config, endpoint, arguments)
        budget = self._config.timeout if timeout is None else check_timeout(timeout)
        response = await self._send(request, budget)
        return RawResponse(endpoint, request, response, time.monotonic() - started)

    @staticmethod
    def _decoded(decode: Callable[[Request, Response], ValueT], request: Request, response: Response) -> ValueT:
        try:
            return decode(request, response)
        except errors.BaseError as error:
            error.attempts = response.attempts
            raise

    async def _send(self, request: Request, budget: float) -> Response:
        """Send `request` until an answer, a final error or the deadline; each attempt waits for its turn."""
        started = time.monotonic()
        deadline = started + budget
        remaining = budget  # the first attempt's timeout is the budget itself: transports reuse its timeout object
        pace = self._pace
        retries = 0
        attempt = 0
        retry_cost = 0  # what the coming attempt took from the retry quota
        fresh_connection = False
        seq = 0
        while True:
            if pace is not None and pace.open:  # nothing paced, paused or throttled: nothing to decide (pace.py)
                permit = None
                seq = pace.sent_open(started)
            else:
                permit = await self._turn(request, deadline, attempt)
                started = time.monotonic()
                remaining = deadline - started
                if remaining <= 0:
                    self._limiter.report(permit, FAILED)
                    raise request.timed_out(budget)
            attempt += 1
            outcome = FAILED
            retry_after = None
            response: Response | None = None
            error: errors.BaseError | None
            try:
                response = await self._transport.send(request, remaining, fresh_connection)
            except errors.TimeoutError as exc:
                # The attempt had what was left of the call's timeout: the error names the call's timeout.
                error = request.timed_out(budget)
                error.__cause__ = exc.__cause__
            except errors.BaseError as exc:
                error = exc
            else:
                if 200 <= response.status < 300:
                    error = None
                    outcome = ACCEPTED
                else:
                    error = error_for_response(request, response)
                    assert error is not None
                    outcome = REFUSED if response.status == 429 else ACCEPTED
                    retry_after = error.retry_after
                if retry_cost or self._quota.tokens < QUOTA_CAPACITY:
                    self._quota.answered(retry_cost)
            finally:
                if permit is not None:
                    self._limiter.report(permit, outcome, retry_after)
                elif outcome is not ACCEPTED or not pace.open:  # type: ignore[union-attr]
                    pace.open_done(seq, time.monotonic(), outcome, retry_after)  # type: ignore[union-attr]
            if logger.isEnabledFor(logging.DEBUG):
                log_attempt(request, response, error, attempt, time.monotonic() - started)
            if error is None:
                assert response is not None
                response.attempts = attempt
                return response
            now = time.monotonic()
            if self._config.retry.resend_at_once(error, request.method, fresh_connection) and now < deadline:
                fresh_connection = True
                retry_cost = 0
                log_retry(request, error, 0.0)
            else:
                delay = self._config.retry.delay_before_retry(retries, error, deadline - now)
                # botocore's quota: when retries keep failing across calls it runs dry, and calls end sooner.
                cost = None if delay is None else self._quota.take(error)
                if delay is None or cost is None:
                    error.attempts = attempt
                    raise error
                retry_cost = cost
                log_retry(request, error, delay)
                await self._transport.sleep(delay)
                retries += 1
            started = time.monotonic()
            remaining = deadline - started

    async def _turn(self, request: Request, deadline: float, attempts: int) -> object:
        """The limiter's permit for the next attempt; RateLimitError, naming the request, when none comes."""
        try:
            if self._turn_takes_route:
                return await self._limiter.aturn(deadline, first=attempts == 0, route=request.route)  # type: ignore[call-arg]
            return await self._limiter.aturn(deadline, first=attempts == 0)
        except errors.RateLimitError as no_turn:
            raise errors.RateLimitError(
                f"{request.describe()}: {no_turn}", retry_after=no_turn.retry_after, attempts=attempts
            ) from None


class AsyncRawView:
    """`client.with_raw_response`: the client's methods, each returning the `RawResponse` of its call."""

    def __init__(self, client: AsyncClient) -> None:
        """A view on `client`'s configuration and connections."""
        self._client = client

    def __repr__(self) -> str:
        return f"<with_raw_response of {self._client!r}>"
