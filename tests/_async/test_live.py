"""Behaviour that needs a real server (the in-process sandbox): pooling, borrowed sessions, failures, timeouts."""

from __future__ import annotations

import base64
import gzip
import json
import random
import time
import zlib

import aiohttp
import pytest

from kellyapi import KellyAPI, errors
from kellyapi.testing import KellySandbox


async def test_sequential_calls_reuse_one_connection(kelly_sandbox: KellySandbox) -> None:
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url) as api:
        for _ in range(10):
            assert await api.llm("hello")
    assert kelly_sandbox.connections == 1
    assert len(kelly_sandbox.requests) == 10


async def test_a_session_you_pass_serves_three_calls_and_stays_open(kelly_sandbox: KellySandbox) -> None:
    async with aiohttp.ClientSession() as session:
        api = KellyAPI(api_key=kelly_sandbox.api_key, api=kelly_sandbox.url, session=lambda: session)
        assert await api.llm(prompt="First question")
        assert await api.llm(prompt="Second question")
        assert await api.generate(prompt="An image", width=64, height=64)
        await api.aclose()
        again = KellyAPI(api_key=kelly_sandbox.api_key, api=kelly_sandbox.url, session=session)
        assert await again.llm(prompt="Still open after the client closed")
        await again.aclose()
        assert await again.llm(prompt="A borrowed session outlives aclose")


async def test_a_session_callable_that_makes_a_new_session_each_time_has_each_one_closed(
    kelly_sandbox: KellySandbox,
) -> None:
    made: list[aiohttp.ClientSession] = []

    def new_session() -> aiohttp.ClientSession:
        made.append(aiohttp.ClientSession())
        return made[-1]

    api = KellyAPI(api_key=kelly_sandbox.api_key, api=kelly_sandbox.url, session=new_session)
    assert await api.llm(prompt="First question")
    assert await api.llm(prompt="Second question")
    assert len(made) == 3  # asked twice on the first call, to tell a maker from a lender
    assert all(is_closed(session) for session in made)  # each closed as its call ended, as the old client did
    await api.aclose()


def is_closed(session: aiohttp.ClientSession) -> bool:
    """A ClientSession closed, or a PoolManager cleared, for the twins alike."""
    return bool(getattr(session, "closed", False) or not getattr(session, "pools", True))


async def test_the_api_key_is_readable_and_never_shown(kelly_sandbox: KellySandbox) -> None:
    async with KellyAPI(api_key="sk-readable-0123456789", api=kelly_sandbox.url) as api:
        assert api.api_key == "sk-readable-0123456789"
        assert "0123456789" not in repr(api)
        assert api.with_options(timeout=5).api_key == "sk-readable-0123456789"
    async with KellyAPI() as from_environment:
        assert from_environment.api_key == kelly_sandbox.api_key


async def test_the_session_class_gives_a_client_owned_pool(kelly_sandbox: KellySandbox) -> None:
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, session=aiohttp.ClientSession) as api:
        assert await api.sd_models()
        assert await api.sdxl_models()
    assert kelly_sandbox.connections == 1


async def test_a_closed_client_reopens_on_the_next_call(kelly_sandbox: KellySandbox) -> None:
    api = KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url)
    assert await api.voice_models()
    await api.aclose()
    assert await api.voice_models()
    await api.aclose()


async def test_a_refused_connection_is_retried_then_connection_error(closed_port: int) -> None:
    async with KellyAPI("k", f"http://127.0.0.1:{closed_port}/", max_retries=2) as api:
        with pytest.raises(errors.ConnectionError) as caught:
            await api.sd_models()
    assert caught.value.status_code is None
    assert str(caught.value).startswith("GET sd/models: ")


async def test_a_silent_server_times_out_within_the_call_timeout(silent_port: int) -> None:
    async with KellyAPI("k", f"http://127.0.0.1:{silent_port}/", timeout=30) as api:
        started = time.monotonic()
        with pytest.raises(errors.TimeoutError) as caught:
            await api.llm("hello", timeout=0.5)
        elapsed = time.monotonic() - started
    assert isinstance(caught.value, TimeoutError)
    assert "within 0.5 s" in str(caught.value)
    assert elapsed < 5, "the call outlived its timeout by far"


async def test_the_server_sees_what_the_sdk_sends(kelly_sandbox: KellySandbox) -> None:
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url) as api:
        await api.text2write("Dear diary")
    (received,) = kelly_sandbox.requests
    assert received.route == "write/notes"
    assert received.body == {"code": "Dear diary", "responseType": "base64data"}


async def test_debug_logs_name_each_attempt_but_never_the_key(
    kelly_sandbox: KellySandbox, caplog: pytest.LogCaptureFixture
) -> None:
    kelly_sandbox.faults.add("image/generate", status=503, detail="Overloaded")
    caplog.set_level("DEBUG", logger="kellyapi")
    secret = "sk-log-secret-123"
    async with KellyAPI(secret, kelly_sandbox.url) as api:
        assert await api.generate("a cat", width=64, height=64)
    messages = [record.getMessage() for record in caplog.records if record.name == "kellyapi"]
    assert any(m.startswith("POST image/generate -> 503 (attempt 1, ") for m in messages), messages
    assert any(m.startswith("POST image/generate -> 200 (attempt 2, ") for m in messages), messages
    assert any("GenericApiError; retrying in" in m for m in messages), messages
    assert all(secret not in m for m in messages)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("size", [100, 3 * 1024 * 1024], ids=["short", "3MiB"])
async def test_a_compressed_answer_is_decoded(kelly_sandbox: KellySandbox, encoding: str, size: int) -> None:
    # Servers may compress (RFC 9110 allows it when the request names no Accept-Encoding), so both
    # transports must decode, whether the answer arrives in one read or in many; random bytes keep
    # the large answer large once compressed.
    image = random.Random(size).randbytes(size)
    answer = json.dumps({"image": base64.b64encode(image).decode()}).encode()
    compress = gzip.compress if encoding == "gzip" else zlib.compress
    kelly_sandbox.fail(
        "image/generate",
        status=200,
        body=compress(answer),
        content_type="application/json",
        headers={"Content-Encoding": encoding},
    )
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url) as api:
        assert await api.generate("a cat", width=64, height=64) == image
