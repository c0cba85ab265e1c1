"""The example Django site under test: its module-level clients replay cassettes, or record them on the sandbox."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from django.test import override_settings

from kellyapi.sandbox import Sandbox
from tests.conftest import CASSETTE_VCR, LIVE_URL, REPLAY_KEY, cassette_path


@pytest.fixture(scope="session", autouse=True)
def site_clients_configured(request: pytest.FixtureRequest) -> Iterator[None]:
    """Point the site's clients at the replayed API (or, with --record, the sandbox) before they are created."""
    assert "studio.kelly" not in sys.modules, "the site's clients must be created from these settings"
    if request.config.getoption("--record"):
        sandbox: Sandbox = request.getfixturevalue("kelly_sandbox_server")
        key, url = sandbox.api_key, sandbox.url
    else:
        key, url = REPLAY_KEY, LIVE_URL
    with override_settings(KELLY_API_KEY=key, KELLY_API_URL=url):
        yield


class SiteCassette:
    """`fail()` plans a sandbox fault while recording; replaying, the cassette already holds its outcome."""

    def __init__(self, sandbox: Sandbox | None) -> None:
        self.sandbox = sandbox

    def fail(self, route: str, **fault: object) -> None:
        if self.sandbox is not None:
            self.sandbox.faults.add(route, **fault)  # type: ignore[arg-type]


@pytest.fixture
def site_cassette(request: pytest.FixtureRequest) -> Iterator[SiteCassette]:
    """Replays (or with --record, records) this test's cassette, strictly: every recorded call must be made."""
    path = cassette_path(request.path, request.node.name)
    if request.config.getoption("--record"):
        sandbox: Sandbox = request.getfixturevalue("kelly_sandbox_server")
        sandbox.state.reset()
        path.unlink(missing_ok=True)
        with CASSETTE_VCR.use_cassette(str(path), record_mode="once"):
            yield SiteCassette(sandbox)
        sandbox.state.reset()
        return
    with CASSETTE_VCR.use_cassette(str(path), record_mode="none") as cassette:
        yield SiteCassette(None)
    assert cassette.all_played, f"{path.name}: only {cassette.play_count} of {len(cassette)} requests were made"
