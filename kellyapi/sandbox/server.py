"""The sandbox: a local Kelly API on aiohttp.web that serves every route of the spec."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs
from aiohttp import web

from kellyapi._core.api_spec import ENDPOINTS
from kellyapi._core.endpoint import Endpoint
from kellyapi.sandbox.delivery import deliver
from kellyapi.sandbox.faults import RANDOM_KINDS, FaultPlan
from kellyapi.sandbox.models import ModelLists
from kellyapi.sandbox.responders import RESPONDERS
from kellyapi.sandbox.throttle import Throttle
from kellyapi.sandbox.validation import validate, with_defaults

MAX_REQUEST_BYTES = 64 * 1024 * 1024
# `python -m kellyapi.sandbox`'s port: not 8000, which Django's runserver and many other servers take.
DEFAULT_PORT = 8765
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class ReceivedRequest:
    """A request the sandbox received: its route (the spec's path), parsed JSON body, and the status it
    answered, None when it sent none (a `reset` or `hang` fault)."""

    method: str
    route: str
    path: str
    body: Any
    status: int | None
    query: str = ""  # the query string, without the `?`


class SandboxState:
    """What a running sandbox was asked and how it should misbehave; shared with tests."""

    def __init__(
        self,
        api_key: str | None = None,
        models: Mapping[str, Iterable[str]] | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.api_key = api_key
        self.models = ModelLists(models)
        self._made_with = throttle or Throttle()
        self.throttle = self._made_with
        self.faults = FaultPlan()
        self.requests: list[ReceivedRequest] = []
        self.peers: set[Any] = set()
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    @property
    def connections(self) -> int:
        """How many TCP connections clients opened so far."""
        return len(self.peers)

    def reset(self) -> None:
        """Forget the requests, connections, faults and models added so far."""
        with self._lock:
            self.requests.clear()
            self.peers.clear()
        self.faults.clear()
        self.models.reset()
        self.throttle = self._made_with

    def record(self, request: web.Request, route: Endpoint[Any], body: Any, status: int | None) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        with self._lock:
            self.peers.add(peer)
            self.requests.append(
                ReceivedRequest(request.method, route.path, request.path, body, status, request.query_string)
            )


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(payload).encode(), content_type="application/json", headers=headers
    )


def _authorised(state: SandboxState, header: str) -> bool:
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return False
    return state.api_key is None or secrets.compare_digest(key.strip(), state.api_key)


def _handler(route: Endpoint[Any], state: SandboxState) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        raw = await request.read() if request.method == "POST" else b""
        if not _authorised(state, request.headers.get("Authorization", "")):
            state.record(request, route, None, 401)
            return _json(401, {"detail": "Invalid API key"}, {"WWW-Authenticate": "Bearer"})
        body: Any = None
        if request.method == "POST":
            try:
                body = json.loads(raw)
            except ValueError:
                state.record(request, route, None, 422)
                problem = {"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}
                return _json(422, {"detail": [problem]})
        limit = state.throttle.limit
        wait = None if limit is None else limit.take()
        if wait is not None:
            state.record(request, route, body, 429)
            return _json(429, {"detail": "Rate limit exceeded"}, {"Retry-After": str(wait)})
        delay = state.throttle.delay_for(route.path)
        if delay:
            await asyncio.sleep(delay)
        fault = state.faults.take(route.path)
        if fault is not None and fault.body is not None:
            state.record(request, route, body, fault.status_sent)
            return await deliver(request, fault, fault.body, state.stopping)
        problems = validate(route, request.match_info, body, state.models)
        if problems:
            state.record(request, route, body, 422)
            return _json(422, {"detail": problems})
        answer = RESPONDERS[route.responder](route, request.match_info, with_defaults(route, body or {}), state.models)
        if fault is None:
            state.record(request, route, body, 200)
            return _json(200, answer)
        state.record(request, route, body, fault.status_sent)
        if fault.rewrite is not None:
            answer = fault.rewrite(route, answer)
        return await deliver(request, fault, json.dumps(answer).encode(), state.stopping)

    return handle


@web.middleware
async def _fastapi_style_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A route or method the API lacks is answered as FastAPI (the API's framework) answers it:
    `{"detail": "Not Found"}` with 404, `{"detail": "Method Not Allowed"}` with 405."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as refused:
        headers = {"Allow": refused.headers["Allow"]} if "Allow" in refused.headers else None
        return _json(refused.status, {"detail": refused.reason}, headers)


def create_app(state: SandboxState | None = None) -> web.Application:
    """The sandbox as an aiohttp.web application (for `aiohttp.web.run_app` or an AppRunner)."""
    state = state or SandboxState()
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[_fastapi_style_errors])

    async def release_hung_answers(app: web.Application) -> None:
        state.stopping.set()

    app.on_shutdown.append(release_hung_answers)
    for route in ENDPOINTS.values():
        app.router.add_route(route.method, "/" + route.path, _handler(route, state))
    return app


class Sandbox:
    """A sandbox running on 127.0.0.1 in a background thread: `with Sandbox() as sandbox: sandbox.url`."""

    def __init__(
        self,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Iterable[str] = (),
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        fault_kinds: Iterable[str] = RANDOM_KINDS,
        models: Mapping[str, Iterable[str]] | None = None,
        rate_limit: float | None = None,
        latency: float | Mapping[str, float] = 0.0,
    ) -> None:
        """A sandbox, not yet serving: `start()` it, or use it in a `with` block.

        Args:
            api_key: the only key it accepts; default: any non-empty key.
            host: the address to listen on.
            port: the port to listen on; 0 picks a free one (see `url` once started).
            faults: faults to plan, as rules like `"image/generate=503*2"` or `"*=hang"` (ROUTE=KIND[*TIMES]).
            fault_rate: the share (0..1) of all calls that get a random fault, drawn from `fault_kinds` by a
                generator seeded with `fault_seed`.
            fault_seed: the seed of the random faults.
            fault_kinds: what the random faults are drawn from; default: every kind but `huge`.
            models: model names to accept besides the spec's, e.g. `{"chat": ["gpt-9"], "image": ["Flux"]}`;
                the kinds are image, chat and voice.
            rate_limit: calls a second it accepts, all callers together, as a token bucket with bursts of one
                second's worth; the calls beyond it are answered `429` with `Retry-After`. None: no limit.
            latency: the seconds each accepted call takes, or `{route: seconds}` with `*` for the others.

        Raises:
            ValueError: an unknown fault rule or kind, or a bad rate or latency.
        """
        self.state = SandboxState(api_key, models, Throttle(rate_limit, latency))
        for rule in faults:
            self.state.faults.add_rule(rule)
        if fault_rate:
            self.state.faults.randomly(fault_rate, seed=fault_seed, kinds=fault_kinds)
        self._address = (host, port)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def api_key(self) -> str:
        """A key this sandbox accepts."""
        return self.state.api_key or "sandbox-key"

    @property
    def models(self) -> ModelLists:
        """The model names it accepts: `sandbox.models.add({"chat": ["gpt-9"]})` for more."""
        return self.state.models

    @property
    def faults(self) -> FaultPlan:
        """The fault plan: `sandbox.faults.add("image/generate", status=503, times=2)`."""
        return self.state.faults

    def start(self) -> Sandbox:
        """Start serving; returns once the port is open."""
        self.state.stopping.clear()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(self._address)
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}/"
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            self._runner = web.AppRunner(create_app(self.state), access_log=None)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
            ready.set()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()
            # Finish the loop in its own thread: stop() may be called from inside another running loop.
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="kelly-sandbox", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the sandbox did not start within 10 s")
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._loop is None or self._thread is None:
            return
        loop, runner = self._loop, self._runner

        async def shutdown() -> None:
            if runner is not None:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> Sandbox:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
