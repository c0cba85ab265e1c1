"""Cassettes hold no key, and replay really compares what a client sends."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import vcr.errors

from kellyapi import KellyAPI, SyncKellyAPI
from kellyapi.testing import KellySandbox
from tests.conftest import CASSETTE_VCR, CASSETTES, LIVE_URL, RECORDED_SANDBOX_URL, REPLAY_KEY

SECRET = "sk-live-0123456789abcdef"


def test_no_cassette_holds_a_key_or_an_authorization_header() -> None:
    files = sorted(CASSETTES.rglob("*.yaml"))
    assert len(files) >= 29
    for path in files:
        text = path.read_text()
        assert "authorization" not in text.lower(), path
        assert "Bearer" not in text, path
        assert "sandbox-key" not in text, path
        assert REPLAY_KEY not in text, path


LOCAL_ADDRESS = re.compile(r"https?://(?:127\.0\.0\.1|localhost)(?::\d+)?/")


def test_no_cassette_holds_the_random_port_it_was_recorded_on() -> None:
    for path in sorted(CASSETTES.rglob("*.yaml")):
        assert set(LOCAL_ADDRESS.findall(path.read_text())) <= {RECORDED_SANDBOX_URL}, path


def record_with_both_twins(sandbox: KellySandbox, path: Path) -> None:
    with CASSETTE_VCR.use_cassette(str(path), record_mode="all"):
        with SyncKellyAPI(SECRET, sandbox.url) as api:
            api.llm("recorded by the sync twin")

        async def main() -> None:
            async with KellyAPI(SECRET, sandbox.url) as api:
                await api.llm("recorded by the async twin")

        asyncio.run(main())


def test_recording_filters_the_key_on_both_twins(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    path = tmp_path / "recorded.yaml"
    record_with_both_twins(kelly_sandbox, path)
    text = path.read_text()
    assert "recorded by the sync twin" in text
    assert "recorded by the async twin" in text
    assert SECRET not in text
    assert "authorization" not in text.lower()
    assert kelly_sandbox.url not in text, "the sandbox's random port is normalised when recorded"
    assert text.count(RECORDED_SANDBOX_URL + "chat/chatgpt") == 2


def test_replay_refuses_a_request_with_another_body() -> None:
    cassette = CASSETTES / "endpoints" / "test_llm_posts_to_the_model_route.yaml"
    with CASSETTE_VCR.use_cassette(str(cassette), record_mode="none"):
        with SyncKellyAPI(REPLAY_KEY, LIVE_URL, max_retries=0) as api:
            with pytest.raises(vcr.errors.CannotOverwriteExistingCassetteException):
                api.llm("Hello, world!", model="gemini", character="Someone else")
            assert api.llm("Hello, world!", model="gemini", character="Sage")
