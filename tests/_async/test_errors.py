"""Every error class and every retry path, as the server's answers map to them, on replayed cassettes."""

from __future__ import annotations

import pytest

from kellyapi import KellyAPI, errors
from tests._async.helpers import recording_sleeps
from tests.conftest import CassetteTarget

pytestmark = pytest.mark.faults

VALIDATION_DETAIL = [{"type": "missing", "loc": ["body", "image_data"], "msg": "Field required", "input": {}}]


async def test_401_is_invalid_api_key_and_not_retried(kelly: CassetteTarget) -> None:
    kelly.fail("sd/models", status=401, detail="Invalid API key")
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        with pytest.raises(errors.InvalidApiKey) as caught:
            await api.sd_models()
    assert caught.value.status_code == 401
    assert caught.value.detail == "Invalid API key"
    assert str(caught.value) == "GET sd/models failed with HTTP 401: Invalid API key"
    assert caught.value.success is False


async def test_422_is_invalid_request_with_the_fields_named(kelly: CassetteTarget) -> None:
    kelly.fail("image/upscale", status=422, detail=VALIDATION_DETAIL)
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        with pytest.raises(errors.InvalidRequest) as caught:
            await api.upscale("aGVsbG8=")
    assert caught.value.status_code == 422
    assert caught.value.detail == VALIDATION_DETAIL
    assert "image_data: Field required" in str(caught.value)


async def test_404_is_invalid_request(kelly: CassetteTarget) -> None:
    kelly.fail("chat/{model}", status=404, detail="Not Found")
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        with pytest.raises(errors.InvalidRequest) as caught:
            await api.llm("hi", model="no-such-model")
    assert caught.value.status_code == 404
    assert str(caught.value) == "POST chat/no-such-model failed with HTTP 404: Not Found"


async def test_429_is_retried_after_retry_after_then_succeeds(
    kelly: CassetteTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    kelly.fail("chat/{model}", status=429, detail="Slow down", retry_after=1)
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        sleeps = recording_sleeps(api, monkeypatch)
        answer = await api.llm("hello")
    assert isinstance(answer, str)
    assert sleeps.waits == [1.0]


async def test_429_beyond_max_retries_is_rate_limit_error(
    kelly: CassetteTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    kelly.fail("chat/{model}", status=429, detail="Slow down", retry_after=0, times=3)
    async with KellyAPI(kelly.api_key, kelly.url, max_retries=2) as api:
        sleeps = recording_sleeps(api, monkeypatch)
        with pytest.raises(errors.RateLimitError) as caught:
            await api.llm("hello")
    assert sleeps.waits == [0.0, 0.0]
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 0.0


async def test_retry_after_beyond_the_cap_is_raised_at_once(
    kelly: CassetteTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    kelly.fail("image/generate", status=429, detail="Quota exhausted", retry_after=3600)
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        sleeps = recording_sleeps(api, monkeypatch)
        with pytest.raises(errors.RateLimitError) as caught:
            await api.generate("a cat", width=64, height=64)
    assert sleeps.waits == []
    assert caught.value.retry_after == 3600.0


async def test_503_is_retried_with_jittered_backoff(kelly: CassetteTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    kelly.fail("image/generate", status=503, detail="Overloaded", times=2)
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        sleeps = recording_sleeps(api, monkeypatch)
        image = await api.generate("a cat", width=64, height=64)
    assert image.startswith(b"\x89PNG")
    assert len(sleeps.waits) == 2
    assert 0 <= sleeps.waits[0] <= 0.5
    assert 0 <= sleeps.waits[1] <= 1.0


async def test_500_without_detail_is_generic_api_error_after_all_retries(
    kelly: CassetteTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    kelly.fail("voice/generation", status=500, body="Internal Server Error", times=3)
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        sleeps = recording_sleeps(api, monkeypatch)
        with pytest.raises(errors.GenericApiError) as caught:
            await api.text2voice("hello")
    assert len(sleeps.waits) == 2
    assert caught.value.status_code == 500
    assert caught.value.detail is None
    assert str(caught.value) == "POST voice/generation failed with HTTP 500: Internal Server Error"


async def test_html_502_is_connection_error(kelly: CassetteTarget) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
    kelly.fail("write/code", status=502, body=page, content_type="text/html")
    async with KellyAPI(kelly.api_key, kelly.url, max_retries=0) as api:
        with pytest.raises(errors.ConnectionError) as caught:
            await api.code2image("print(1)")
    assert caught.value.status_code == 502
    assert "502 Bad Gateway" in str(caught.value)
    assert isinstance(caught.value, ConnectionError)


async def test_max_retries_zero_makes_one_attempt(kelly: CassetteTarget) -> None:
    kelly.fail("image/removebg", status=503, detail="Overloaded")
    async with KellyAPI(kelly.api_key, kelly.url, max_retries=0) as api:
        with pytest.raises(errors.GenericApiError) as caught:
            await api.removebg(b"\x89PNG fake")
    assert caught.value.status_code == 503


async def test_a_non_json_answer_is_invalid_content(kelly: CassetteTarget) -> None:
    kelly.fail("image/generate", status=200, body="<html>maintenance</html>", content_type="text/html")
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        with pytest.raises(errors.InvalidContent) as caught:
            await api.generate("a cat", width=64, height=64)
    assert "not JSON" in str(caught.value)
    assert "maintenance" in str(caught.value)


async def test_a_missing_result_field_is_invalid_content(kelly: CassetteTarget) -> None:
    kelly.fail("image/description", status=200, json_body={"text": "wrong field"})
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        with pytest.raises(errors.InvalidContent) as caught:
            await api.img2text("what?", b"\x89PNG fake")
    assert "'content' is missing" in str(caught.value)


async def test_bad_base64_in_the_result_is_invalid_content(kelly: CassetteTarget) -> None:
    kelly.fail("voice/generation", status=200, json_body={"voice": "not base64!"})
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        with pytest.raises(errors.InvalidContent) as caught:
            await api.text2voice("hello")
    assert "not valid base64" in str(caught.value)


async def test_errors_never_show_the_api_key(kelly: CassetteTarget) -> None:
    kelly.fail("sd/models", status=401, detail="Invalid API key")
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        with pytest.raises(errors.InvalidApiKey) as caught:
            await api.sd_models()
        shown = [str(caught.value), repr(caught.value), repr(api), str(caught.value.__dict__)]
    assert all(kelly.api_key not in text for text in shown)
