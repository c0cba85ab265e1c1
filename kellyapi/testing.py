"""pytest fixtures for testing your own code offline against the Kelly API sandbox: `kelly_sandbox`,
`kelly_client` and `kelly_async_client`.

Installing kellyapi registers this plugin (the `pytest11` entry point), so a test only names a fixture.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from kellyapi._core.config import API_KEY_ENV, BASE_URL_ENV

if TYPE_CHECKING:  # the server side loads only when a test asks for a sandbox
    from kellyapi import KellyAPI, SyncKellyAPI
    from kellyapi.sandbox import Sandbox
    from kellyapi.sandbox.faults import FaultPlan
    from kellyapi.sandbox.server import ReceivedRequest

_LOOPBACK = "127.0.0.1,localhost,::1"  # where the sandbox listens (kellyapi.sandbox binds to 127.0.0.1)

__all__ = ["KellySandbox", "kelly_async_client", "kelly_client", "kelly_sandbox"]


class KellySandbox:
    """A running sandbox as a test sees it: where it is, what it received, and the faults it will show."""

    def __init__(self, sandbox: Sandbox) -> None:
        """Wrap a started Sandbox."""
        self.sandbox = sandbox

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:40123/`."""
        return self.sandbox.url

    @property
    def api_key(self) -> str:
        """The key the sandbox accepts."""
        return self.sandbox.api_key

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received since the test began, oldest first: `.route`, `.body` (parsed JSON), `.status`
        (None when a `reset` or `hang` fault sent no status line)."""
        return list(self.sandbox.state.requests)

    def requests_to(self, route: str) -> list[ReceivedRequest]:
        """The requests received by one route, named by its path (`image/generate`) or method (`generate`)."""
        path = route_path(route)
        return [request for request in self.sandbox.state.requests if request.route == path]

    @property
    def connections(self) -> int:
        """How many TCP connections clients opened since the test began."""
        return self.sandbox.state.connections

    @property
    def faults(self) -> FaultPlan:
        """The full fault plan, for random fault mixes: `kelly_sandbox.faults.randomly(0.1, seed=1)`."""
        return self.sandbox.faults

    def fail(self, route: str, kind: str | None = None, *, times: int = 1, **answer: Any) -> None:
        """Make the next `times` calls of `route` fail: a named kind (`"503"`, `"hang"`...) or the answer described.

        `route` is a path (`image/generate`), a method name (`generate`) or `*` for every route; `answer`
        takes `status`, `detail`, `json_body`, `body`, `content_type`, `retry_after` and `headers`, e.g.
        `kelly_sandbox.fail("generate", status=429, retry_after=1, times=2)`.
        """
        self.sandbox.faults.add(route_path(route), kind, times=times, **answer)

    def add_models(self, **models: Iterable[str]) -> None:
        """Accept more model names for this test, as the API may (newer models): `add_models(chat=["gpt-9"])`.

        The kinds are `image`, `chat` and `voice`; other names than the spec's are refused with a 422, as
        the real API refuses a model it does not have. For the whole suite, use the `kelly_sandbox_models`
        ini option instead.
        """
        self.sandbox.state.models.add(models)

    def limit_rate(self, calls_per_second: float | None, *, latency: float | Mapping[str, float] = 0.0) -> None:
        """Until the test ends, accept `calls_per_second` (bursts of as many; None: no limit), answering the
        calls beyond it `429` with `Retry-After`, and take `latency` seconds per accepted call
        (or {route: seconds}, `*` for the others)."""
        from kellyapi.sandbox.throttle import Throttle

        self.sandbox.state.throttle = Throttle(calls_per_second, latency)

    def reset(self) -> None:
        """Forget the requests, connections, faults, added models and rate limits so far."""
        self.sandbox.state.reset()

    def __repr__(self) -> str:
        return f"KellySandbox(url={self.url!r}, requests={len(self.sandbox.state.requests)})"


def route_path(route: str) -> str:
    """The sandbox route behind a path or SDK method name; ValueError naming the routes for anything else."""
    from kellyapi._core.api_spec import ENDPOINTS
    from kellyapi.sandbox.faults import ANY_ROUTE

    if route in ENDPOINTS:
        return ENDPOINTS[route].path
    path = route.lstrip("/")
    templates = {endpoint.path for endpoint in ENDPOINTS.values()}
    if path == ANY_ROUTE or path in templates:
        return path
    for template in templates:  # a concrete path such as chat/KelyAI counts as its template chat/{model}
        prefix, brace, _ = template.partition("{")
        if brace and path.startswith(prefix) and "/" not in path[len(prefix) :] and path != prefix:
            return template
    known = ", ".join(sorted(templates | set(ENDPOINTS)))
    raise ValueError(f"no Kelly API route {route!r}; use a path or method name: {known}")


def pytest_addoption(parser: pytest.Parser) -> None:
    """The `kelly_sandbox_models` ini option: model names the session's sandbox accepts besides the spec's."""
    parser.addini(
        "kelly_sandbox_models",
        "models the Kelly sandbox accepts besides the spec's: KIND=NAME[,NAME...] a line (image, chat, voice)",
        type="linelist",
        default=[],
    )


@pytest.fixture(scope="session")
def kelly_sandbox_server(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """One in-process sandbox on 127.0.0.1 for the whole test session (use `kelly_sandbox` in tests)."""
    from kellyapi.sandbox import Sandbox
    from kellyapi.sandbox.models import parse_models

    try:
        models = parse_models(request.config.getini("kelly_sandbox_models"))
    except ValueError as exc:
        raise pytest.UsageError(f"kelly_sandbox_models: {exc}") from None
    with Sandbox(models=models) as sandbox:
        yield sandbox


@pytest.fixture
def kelly_sandbox(kelly_sandbox_server: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[KellySandbox]:
    """The session's sandbox, emptied for this test: where it is, what it received (`.requests`), faults to
    plan (`.fail(...)`), models to add. While the test runs, KELLY_API_KEY and KELLY_API_URL point at it, so
    a client your code creates without arguments talks to it, and NO_PROXY lists loopback, so it does so
    directly even where the environment names a proxy."""
    handle = KellySandbox(kelly_sandbox_server)
    handle.reset()
    monkeypatch.setenv(API_KEY_ENV, handle.api_key)
    monkeypatch.setenv(BASE_URL_ENV, handle.url)
    for name in ("no_proxy", "NO_PROXY"):  # both spellings: tools differ in which one wins
        monkeypatch.setenv(name, ",".join(filter(None, [os.environ.get(name, "").strip(), _LOOPBACK])))
    yield handle
    handle.reset()


@pytest.fixture
def kelly_client(kelly_sandbox: KellySandbox) -> Iterator[SyncKellyAPI]:
    """A SyncKellyAPI pointed at `kelly_sandbox`, closed after the test."""
    from kellyapi import SyncKellyAPI

    with SyncKellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, trust_env=False) as client:
        yield client


@pytest.fixture
def kelly_async_client(kelly_sandbox: KellySandbox) -> Iterator[KellyAPI]:
    """A KellyAPI pointed at `kelly_sandbox`; its connections close with the event loop that used them, so it
    works under `asyncio.run`, pytest-asyncio or anyio."""
    from kellyapi import KellyAPI

    # A plain fixture, so it works under pytest-asyncio, anyio or a test's own asyncio.run(): the client
    # keeps one pool per event loop and closes it when that loop shuts down.
    yield KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, trust_env=False)
