"""`with_raw_response.METHOD(...)`: the answer as it came (status, headers, timing, attempts) and `parse()`."""

from __future__ import annotations

import pytest

from kellyapi import KellyAPI, RawResponse, errors
from kellyapi.testing import KellySandbox


async def test_the_raw_response_has_status_headers_elapsed_attempts_and_parses_to_the_result(
    kelly_async_client: KellyAPI, kelly_sandbox: KellySandbox
) -> None:
    kelly_sandbox.fail("image/generate", "503", times=1)

    raw = await kelly_async_client.with_raw_response.generate("a cat", width=64, height=64)

    assert isinstance(raw, RawResponse)
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.headers["Content-Type"] == raw.headers["CONTENT-TYPE"], "headers are case-insensitive"
    assert raw.attempts == 2
    assert raw.elapsed > 0
    image = raw.parse()
    assert image.startswith(b"\x89PNG")
    assert raw.parse() is image, "parsed once"
    assert image == await kelly_async_client.generate("a cat", width=64, height=64)
    assert "200" in repr(raw) and "image/generate" in repr(raw)


async def test_every_method_has_its_raw_twin(kelly_async_client: KellyAPI) -> None:
    raw = await kelly_async_client.with_raw_response.llm("hello", model="gemini")
    assert raw.parse() == await kelly_async_client.llm("hello", model="gemini")
    models = await kelly_async_client.with_raw_response.sd_models()
    assert models.parse() == await kelly_async_client.sd_models()


async def test_a_failed_call_raises_as_usual_and_a_broken_answer_raises_on_parse(
    kelly_async_client: KellyAPI, kelly_sandbox: KellySandbox
) -> None:
    kelly_sandbox.fail("image/generate", status=401, times=1)
    with pytest.raises(errors.InvalidApiKey):
        await kelly_async_client.with_raw_response.generate("a cat")

    kelly_sandbox.fail("image/generate", "missing-field", times=1)
    raw = await kelly_async_client.with_raw_response.generate("a cat", width=64, height=64)
    assert raw.status_code == 200
    with pytest.raises(errors.InvalidContent) as caught:
        raw.parse()
    assert caught.value.attempts == 1


async def test_the_raw_headers_never_show_the_key(kelly_sandbox: KellySandbox) -> None:
    secret = "sk-raw-0123456789abcdef"
    kelly_sandbox.fail("sd/models", status=200, json_body={"models": []}, headers={"X-Echo": f"Bearer {secret}"})
    async with KellyAPI(secret, kelly_sandbox.url) as api:
        raw = await api.with_raw_response.sd_models()
    assert secret[:8] not in raw.headers["x-echo"]
