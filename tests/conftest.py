"""Fixtures shared by every test: the cassette player and recorder (the live sandbox is `kelly_sandbox`)."""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import vcr
from hypothesis import settings

from kellyapi.sandbox.server import DEFAULT_PORT
from kellyapi.testing import KellySandbox
from tests import needs

# Property tests try Hypothesis's default 100 examples each; `pytest --hypothesis-profile thorough` tries 5,000.
settings.register_profile("thorough", max_examples=5000)

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = ROOT / "cassettes"
LIVE_URL = "https://api.kellyai.pro/"
REPLAY_KEY = "replay-key"  # what replayed tests authenticate with; cassettes hold no key at all
_VOLATILE_HEADERS = ("date", "server", "set-cookie")

pytest_plugins = ["pytester", "tests.redis_server"]


def _drop_volatile_headers(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {
        name: value for name, value in response["headers"].items() if name.lower() not in _VOLATILE_HEADERS
    }
    return response


RECORDED_SANDBOX_URL = f"http://127.0.0.1:{DEFAULT_PORT}/"


def _stable_sandbox_address(request: Any) -> Any:
    # The in-process sandbox listens on a random port; record it as the sandbox's default address so
    # re-recording does not rewrite every file. Matching ignores the host anyway.
    request.uri = re.sub(r"^http://(127\.0\.0\.1|localhost):\d+/", RECORDED_SANDBOX_URL, request.uri)
    return request


# Both twins replay the same file: match what the client controls (not the host, which differs
# between the sandbox a cassette was recorded on and the URL it is replayed with).
CASSETTE_VCR = vcr.VCR(
    match_on=("method", "path", "query", "body"),
    filter_headers=["authorization"],
    decode_compressed_response=True,
    before_record_request=_stable_sandbox_address,
    before_record_response=_drop_volatile_headers,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record",
        action="store_true",
        help="re-record the cassettes of tests/_async: against the sandbox, or the live API if KELLY_API_KEY is set",
    )
    parser.addoption(
        needs.REQUIRE_ALL_OPTION,
        action="store_true",
        help=f"fail each test whose tool is missing instead of skipping it (as {needs.REQUIRE_ALL_ENV}=1 does)",
    )
    parser.addoption(
        "--load-size",
        choices=("reduced", "full"),
        default="reduced",
        help="size of the load tests (-m load): reduced for CI (default), or full (2,000 calls, 32 threads)",
    )


def pytest_configure(config: pytest.Config) -> None:
    needs.require_all(bool(config.getoption(needs.REQUIRE_ALL_OPTION)))
    config.addinivalue_line("markers", "faults: the test plans sandbox faults, so it is always recorded on the sandbox")
    config.addinivalue_line(
        "markers", "screenshot: drives headless Chromium (Debian's chromium); deselected unless -m screenshot"
    )
    config.addinivalue_line(
        "markers", "load: a load test under random faults; select with -m load, size with --load-size"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per cause of the skipped tests, whichever tests it skipped (see tests/needs.py)."""
    causes: collections.Counter[str] = collections.Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        causes[reason.removeprefix("Skipped: ")] += 1
    if causes:
        terminalreporter.section("skipped tests, by cause")
        for reason, count in causes.most_common():
            terminalreporter.line(f"{count} skipped: {reason}")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def closed_port() -> int:
    """A port where nothing listens."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


@attrs.define
class CassetteTarget:
    """Where a cassette test points its client; `fail()` plans a fault while recording on the sandbox."""

    url: str
    api_key: str
    sandbox: KellySandbox | None = None

    def fail(self, route: str, **fault: Any) -> None:
        """Plan a sandbox fault (see FaultPlan.add); replaying, the cassette already holds its outcome."""
        if self.sandbox is not None:
            self.sandbox.fail(route, **fault)


def cassette_path(test_file: Path, test_name: str) -> Path:
    """cassettes/<module without test_>/<test name>.yaml, the same for both twins of a test."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-")
    return CASSETTES / test_file.stem.removeprefix("test_") / f"{name}.yaml"


@contextlib.contextmanager
def replaying(path: Path) -> Iterator[CassetteTarget]:
    """Replay the cassette at `path` strictly: every recorded request must be made, and no other."""
    with CASSETTE_VCR.use_cassette(str(path), record_mode="none") as cassette:
        yield CassetteTarget(LIVE_URL, REPLAY_KEY)
    assert cassette.all_played, f"{path.name}: only {cassette.play_count} of {len(cassette)} requests were made"


@contextlib.contextmanager
def recording(path: Path, target: CassetteTarget) -> Iterator[CassetteTarget]:
    """Record a new cassette at `path` while the test talks to `target`."""
    path.unlink(missing_ok=True)
    with CASSETTE_VCR.use_cassette(str(path), record_mode="once"):
        yield target


@pytest.fixture
def kelly(request: pytest.FixtureRequest) -> Iterator[CassetteTarget]:
    """Replays the test's cassette (strictly: every recorded request must be made, no other); see --record."""
    path = cassette_path(request.path, request.node.name)
    if not (request.config.getoption("--record") and request.path.parent.name == "_async"):
        with replaying(path) as target:
            yield target
        return
    live_key = os.environ.get("KELLY_API_KEY")
    if live_key and request.node.get_closest_marker("faults") is None:
        target = CassetteTarget(LIVE_URL, live_key)
    else:
        sandbox = request.getfixturevalue("kelly_sandbox")
        target = CassetteTarget(sandbox.url, sandbox.api_key, sandbox)
    with recording(path, target):
        yield target


@attrs.define
class ForwardProxy:
    """A real forward proxy on a loopback port, and what its log says it forwarded."""

    name: str
    url: str
    log: Path
    credentials: str | None = None

    @property
    def url_with_credentials(self) -> str:
        return self.url.replace("://", f"://{self.credentials}@", 1) if self.credentials else self.url

    def forwarded(self, text: str, within: float = 10.0) -> bool:
        """Whether the log shows `text` (a path, or `CONNECT host:port`) within `within` seconds.

        proxy.py writes a connection's line when the connection closes, tinyproxy when the request
        arrives: either way the line is there soon after the client closed."""
        deadline = time.monotonic() + within
        while True:
            if text in (self.log.read_text(errors="replace") if self.log.exists() else ""):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tinyproxy_command(folder: Path, port: int, log: Path, credentials: str | None) -> list[str]:
    binary = needs.debian_program("tinyproxy")
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        "LogLevel Connect",
        f'LogFile "{log}"',
        f'PidFile "{folder / "tinyproxy.pid"}"',
        "MaxClients 64",
        "Allow 127.0.0.1",
    ]
    if credentials:
        lines.append("BasicAuth " + credentials.replace(":", " ", 1))
    config = folder / "tinyproxy.conf"
    config.write_text("\n".join(lines) + "\n")
    return [binary, "-d", "-c", str(config)]


def _proxy_py_command(folder: Path, port: int, log: Path, credentials: str | None) -> list[str]:
    if importlib.util.find_spec("proxy") is None:
        needs.missing("needs proxy.py from PyPI: the dev install brings it (pip install -e '.[dev]')")
    # proxy.py keeps its data (certificates, a cache) under ~/.proxy unless told otherwise: here, the test's folder.
    command = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", str(port)]
    command += ["--num-workers", "1", "--num-acceptors", "1", "--log-file", str(log)]
    command += ["--data-dir", str(folder / "proxy.py"), "--cache-dir", str(folder / "proxy.py" / "cache")]
    return command + (["--basic-auth", credentials] if credentials else [])


# The forward proxies the proxy tests go through: proxy.py comes with the dev install (PyPI); Debian's
# tinyproxy, a second, independent implementation, where it is installed (.ci/run installs it).
FORWARD_PROXIES = {"proxy.py": _proxy_py_command, "tinyproxy": _tinyproxy_command}


@contextlib.contextmanager
def _run_forward_proxy(name: str, folder: Path, credentials: str | None) -> Iterator[ForwardProxy]:
    folder = folder / name
    folder.mkdir()
    port = _free_port()
    log = folder / "access.log"
    command = FORWARD_PROXIES[name](folder, port, log, credentials)
    env = {**os.environ, "HOME": str(folder)}  # nothing of the proxy's lands in the real home folder
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{name} did not start (exit {process.poll()})")
            time.sleep(0.05)
        yield ForwardProxy(name, f"http://127.0.0.1:{port}", log, credentials)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(params=list(FORWARD_PROXIES))
def forward_proxy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ForwardProxy]:
    """A running forward proxy that any client on this machine may use: each test runs through each proxy."""
    with _run_forward_proxy(request.param, tmp_path, None) as proxy:
        yield proxy


@pytest.fixture(params=list(FORWARD_PROXIES))
def forward_proxy_with_login(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ForwardProxy]:
    """A running forward proxy that wants Basic credentials (`proxy.credentials`)."""
    with _run_forward_proxy(request.param, tmp_path, "kelly:s3cret-proxy-word") as proxy:
        yield proxy


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable from the machine's environment: each test sets the ones it means."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@attrs.define
class Certificates:
    """A private CA and a `localhost` server certificate it signed, for TLS tests."""

    authority: Any
    ca_file: Path
    server_context: ssl.SSLContext


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    """A trustme CA, its PEM file, and a server context for `localhost`."""
    import trustme

    authority = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    return Certificates(authority, ca_file, context)
