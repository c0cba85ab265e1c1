"""The pytest fixtures of kellyapi.testing, as a user's test uses them: the sandbox, its record, its faults."""

from __future__ import annotations

import time

import pytest

from kellyapi import KellyAPI, errors
from kellyapi.sandbox.media import png_size
from kellyapi.testing import KellySandbox


async def test_the_client_fixture_talks_to_the_sandbox_which_records_route_and_body(
    kelly_async_client: KellyAPI, kelly_sandbox: KellySandbox
) -> None:
    image = await kelly_async_client.generate("a kite over the dunes", width=96, height=80)

    assert png_size(image) == (96, 80)
    (received,) = kelly_sandbox.requests
    assert (received.method, received.route, received.status) == ("POST", "image/generate", 200)
    assert received.body["prompt"] == "a kite over the dunes"
    assert (received.body["width"], received.body["height"]) == (96, 80)
    assert kelly_sandbox.requests_to("generate") == [received]
    assert kelly_sandbox.requests_to("image/generate") == [received]
    assert kelly_sandbox.connections == 1


async def test_a_planned_429_is_waited_out_and_counted(
    kelly_async_client: KellyAPI, kelly_sandbox: KellySandbox
) -> None:
    kelly_sandbox.fail("image/generate", status=429, retry_after=1, times=1)
    started = time.monotonic()

    assert await kelly_async_client.generate("after the wait", width=64, height=64)

    assert time.monotonic() - started >= 1
    assert [received.status for received in kelly_sandbox.requests_to("generate")] == [429, 200]


async def test_a_named_fault_kind_on_a_concrete_chat_path(
    kelly_async_client: KellyAPI, kelly_sandbox: KellySandbox
) -> None:
    kelly_sandbox.fail("chat/KelyAI", "500", times=10)

    with pytest.raises(errors.GenericApiError) as caught:
        await kelly_async_client.llm("hello", timeout=30)

    assert caught.value.status_code == 500
    assert {received.route for received in kelly_sandbox.requests} == {"chat/{model}"}


async def test_faults_that_send_no_status_line_are_recorded_without_one(
    kelly_async_client: KellyAPI, kelly_sandbox: KellySandbox
) -> None:
    kelly_sandbox.fail("generate", "reset")
    kelly_sandbox.fail("generate", "reset-mid-body")  # the status line and half the body, then the reset
    kelly_sandbox.fail("sd_models", "hang")

    assert await kelly_async_client.generate("after two resets", width=64, height=64)
    with pytest.raises(errors.TimeoutError):
        await kelly_async_client.sd_models(timeout=0.5)

    assert [(received.route, received.status) for received in kelly_sandbox.requests] == [
        ("image/generate", None),
        ("image/generate", 200),
        ("image/generate", 200),
        ("sd/models", None),
    ]


async def test_code_that_builds_its_own_client_reaches_the_sandbox(kelly_sandbox: KellySandbox) -> None:
    async with KellyAPI() as api:
        assert await api.voice_models()

    assert [received.route for received in kelly_sandbox.requests] == ["voice/models"]


def test_an_unknown_route_is_refused_naming_the_routes(kelly_sandbox: KellySandbox) -> None:
    with pytest.raises(ValueError, match=r"no Kelly API route 'image/generat'; use a path or method name: .*generate"):
        kelly_sandbox.fail("image/generat", status=500)
    with pytest.raises(ValueError, match="unknown fault kind 'teapot'"):
        kelly_sandbox.fail("generate", "teapot")


async def test_the_sandbox_is_reached_directly_whatever_proxy_the_environment_names(
    kelly_sandbox: KellySandbox, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port}")  # a proxy that is not there
    async with KellyAPI() as api:
        assert await api.sd_models()
    assert len(kelly_sandbox.requests) == 1
