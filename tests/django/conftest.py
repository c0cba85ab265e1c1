"""The example Django site under test: its module-level clients replay cassettes, or record them on the sandbox."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from django.test import override_settings

from kellyapi.sandbox import Sandbox
from kellyapi.testing import KellySandbox
from tests.conftest import LIVE_URL, REPLAY_KEY, CassetteTarget, cassette_path, recording, replaying


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


@pytest.fixture
def site_cassette(request: pytest.FixtureRequest) -> Iterator[CassetteTarget]:
    """Replays this test's cassette; with --record, records it on the sandbox the site's clients point at."""
    path = cassette_path(request.path, request.node.name)
    if not request.config.getoption("--record"):
        with replaying(path) as target:
            yield target
        return
    sandbox: KellySandbox = request.getfixturevalue("kelly_sandbox")
    with recording(path, CassetteTarget(sandbox.url, sandbox.api_key, sandbox)) as target:
        yield target
