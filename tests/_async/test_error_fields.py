"""What an error carries besides its message: the answer's headers (None when none came) and the attempts made."""

from __future__ import annotations

import pytest

from kellyapi import KellyAPI, errors
from kellyapi.testing import KellySandbox
from tests._async.helpers import recording_sleeps


async def test_a_status_error_carries_the_answer_s_headers_and_every_attempt(
    kelly_sandbox: KellySandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    kelly_sandbox.fail("llm", status=503, headers={"X-Request-Id": "req-42"}, times=3)
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, max_retries=2) as api:
        recording_sleeps(api, monkeypatch)
        with pytest.raises(errors.GenericApiError) as caught:
            await api.llm("busy?")
    assert caught.value.attempts == 3
    assert caught.value.headers is not None
    assert caught.value.headers["x-request-id"] == "req-42"  # case-insensitive, as the transport read them


async def test_a_broken_success_carries_its_headers_and_attempts(
    kelly_sandbox: KellySandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    kelly_sandbox.fail("llm", status=503)
    kelly_sandbox.fail("llm", "invalid-json")
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, max_retries=2) as api:
        recording_sleeps(api, monkeypatch)
        with pytest.raises(errors.InvalidContent) as caught:
            await api.llm("broken?")
    assert caught.value.attempts == 2
    assert caught.value.headers is not None and "content-type" in caught.value.headers


async def test_no_answer_means_no_headers(closed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    async with KellyAPI("a-key", f"http://127.0.0.1:{closed_port}/", max_retries=1) as api:
        recording_sleeps(api, monkeypatch)
        with pytest.raises(errors.ConnectionError) as caught:
            await api.llm("anyone?")
    assert caught.value.headers is None
    assert caught.value.attempts == 2


async def test_an_error_raised_before_sending_made_no_attempt() -> None:
    async with KellyAPI("a-key", "https://api.kellyai.pro/") as api:
        with pytest.raises(errors.InvalidRequest) as caught:
            await api.generate("a cat", width="wide")  # type: ignore[arg-type]
    assert caught.value.attempts == 0
    assert caught.value.headers is None
