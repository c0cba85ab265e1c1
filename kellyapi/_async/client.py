"""The client's core: its configuration, the transport it owns, and the call loop with retries."""

from __future__ import annotations

import copy
import logging
import math
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
from kellyapi._core.rate import RateController
from kellyapi._core.raw import RawResponse
from kellyapi._core.response import decode_json, decode_result, error_for_response
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
        adaptive_rate: from the API's first 429 on, pace all of this client's calls to the rate it accepts,
            learned from its 429s, and pause them all on a Retry-After; False leaves each call to its own
            retries (with max_rate, a fixed pace).
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
        self._transport = AsyncTransport(session, self._config.max_response_bytes, self._config.network)
        self._rate = RateController(self._config.max_rate, self._config.adaptive_rate)

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
        pace = self._rate
        return pace.rate if pace.engaged and pace.rate != math.inf else None

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
        """Close the connections the client owns; a session you passed in stays open."""
        await self._transport.aclose()

    def with_options(self: ClientT, **options: Any) -> ClientT:
        """A client of this class with some constructor options changed (all but `session`), on this one's connections.

        `client.with_options(timeout=5, max_retries=0).generate(...)`: this client is unchanged; the copy
        shares its connection pool, which closing the copy leaves open (with other `proxy`, `verify` or
        `trust_env` settings the blocking client gives the copy a pool of its own, closed with the copy).
        """
        twin = copy.copy(self)
        twin._config = self._config.with_options(options)
        twin._transport = self._transport.sharing(twin._config.max_response_bytes, twin._config.network)
        if (twin._config.max_rate, twin._config.adaptive_rate) != (self._config.max_rate, self._config.adaptive_rate):
            twin._rate = RateController(twin._config.max_rate, twin._config.adaptive_rate)  # else shared
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
        started = time.monotonic()
        deadline = started + budget
        remaining = budget  # the first attempt's timeout is the budget itself: transports reuse its timeout object
        retries = 0
        attempt = 1
        fresh_connection = False
        pace = self._rate
        paced = False  # this attempt waited for a turn the pace gave it
        sat_out = 0.0  # the pause this call has just waited out after its own 429
        while True:
            if pace.active and (attempt == 1 or pace.engaged):  # wait for a turn, which is not a retry
                try:
                    started, paced = await self._wait_for_turn(request, deadline, sat_out)
                except errors.RateLimitError as no_turn:
                    no_turn.attempts = attempt - 1
                    raise
                remaining = deadline - started
            response: Response | None = None
            error: errors.BaseError | None
            try:
                response = await self._transport.send(request, remaining, fresh_connection)
            except errors.BaseError as exc:
                error = exc
            else:
                error = None if 200 <= response.status < 300 else error_for_response(request, response)
            if logger.isEnabledFor(logging.DEBUG):
                log_attempt(request, response, error, attempt, time.monotonic() - started)
            if error is None:
                assert response is not None
                response.attempts = attempt
                if pace.active:
                    pace.accepted(time.monotonic(), started)
                return response
            now = time.monotonic()
            policy = self._config.retry
            if policy.resend_at_once(error, fresh_connection) and now < deadline:
                fresh_connection = True
                log_retry(request, error, 0.0)
            else:
                throttled = error.status_code == 429 and self._config.adaptive_rate
                free = throttled and paced  # a 429 on a paced turn is the pace's miss, which it now corrects
                delay = policy.delay_before_retry(0 if free else retries, error, deadline - now)
                if throttled:  # every call of this client pauses, and sends are paced from now on
                    pace.refused(now, delay if delay is not None else error.retry_after or 0.0)
                if delay is None:
                    if pace.active and not throttled:
                        pace.failed()
                    error.attempts = attempt
                    raise error
                log_retry(request, error, delay)
                await self._transport.sleep(delay)
                if not free:
                    retries += 1
                sat_out = delay if throttled else 0.0
            attempt += 1
            started = time.monotonic()
            remaining = deadline - started

    async def _wait_for_turn(self, request: Request, deadline: float, sat_out: float) -> tuple[float, bool]:
        """Wait for the call's turn: when it may send, and whether it waited for a paced turn; RateLimitError
        if no turn comes before its deadline.

        sat_out: the pause the call has just waited out after its own 429. The call still asks for a turn
        like every other: the refused calls of a wave all wake together, and going at once would refuse
        them together again. Only a pause left as long as the one it sat out (its sleep passed no time: a
        test's stand-in) is not waited twice.
        """
        pace = self._rate
        waited = sat_out > 0
        while True:
            now = time.monotonic()
            wait, booked = pace.turn(now)
            if wait <= 0 or (sat_out and not booked and pace.pause_left(now) >= sat_out / 2):
                return now, waited and pace.engaged
            sat_out = 0.0
            if not booked and not pace.engaged:  # a new client's call waits to be woken when a start frees up
                if now >= deadline:
                    wait = 0.0  # no start came in time: the error below
                else:
                    waker = self._transport.waker()
                    if pace.sleep_until_woken(waker.wake):
                        await waker.wait(min(wait, deadline - now))
                    continue
            if now + wait >= deadline:
                why = "at the rate the API accepts" if pace.engaged else "while this new client's first calls run"
                raise errors.RateLimitError(
                    f"{request.describe()}: no turn to send within the timeout {why} ({pace!r})", retry_after=wait
                )
            await self._transport.sleep(wait)
            waited = True
            after = time.monotonic()
            if after - now < wait / 2:  # a sleep that did not sleep (a test's stand-in): go, never spin
                return after, False
            if booked and not pace.pause_left(after):  # else another call's 429 paused the client: ask again
                return after, pace.engaged


class AsyncRawView:
    """`client.with_raw_response`: the client's methods, each returning the `RawResponse` of its call."""

    def __init__(self, client: AsyncClient) -> None:
        """A view on `client`'s configuration and connections."""
        self._client = client

    def __repr__(self) -> str:
        return f"<with_raw_response of {self._client!r}>"
