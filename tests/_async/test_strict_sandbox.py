"""The sandbox refuses what a real API would (not an image, not audio, an unknown model, a guessed limit) with
FastAPI's 422, which the client raises as InvalidRequest naming the field; its model lists grow on request."""

from __future__ import annotations

import pytest

from kellyapi import KellyAPI, errors
from kellyapi._core.api_spec import ENDPOINTS
from kellyapi.sandbox import Sandbox
from kellyapi.testing import KellySandbox
from tests import samples


def refused_field(error: errors.BaseError) -> list[object]:
    """The `loc` of each field the 422 names."""
    assert isinstance(error, errors.InvalidRequest) and error.status_code == 422, error
    assert isinstance(error.detail, list)
    return [problem["loc"] for problem in error.detail]


@pytest.mark.parametrize(
    ("image", "size"),
    [
        (samples.PNG, "64x48 PNG"),
        (samples.jpeg(640, 480), "640x480 JPEG"),
        (samples.webp(320, 200), "320x200 WebP"),
        (samples.gif(32, 16), "32x16 GIF"),
    ],
    ids=["png", "jpeg", "webp", "gif"],
)
async def test_images_in_the_four_web_formats_are_accepted_with_their_size_read(
    kelly_async_client: KellyAPI, image: bytes, size: str
) -> None:
    assert f"a {size} image" in await kelly_async_client.img2text("What is it?", image)


@pytest.mark.parametrize(
    "not_an_image",
    [b"not an image", b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", samples.WAV],
    ids=["text", "empty", "png-signature-only", "gif-signature-only", "wav"],
)
async def test_anything_but_an_image_is_refused_as_the_api_would(
    kelly_async_client: KellyAPI, kelly_sandbox: KellySandbox, not_an_image: bytes
) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        await kelly_async_client.upscale(not_an_image)

    assert refused_field(caught.value) == [["body", "image_data"]]
    assert "image_data" in str(caught.value)
    assert [r.status for r in kelly_sandbox.requests] == [422], "the client sent it: the server decides"


@pytest.mark.parametrize(
    "audio", [samples.WAV, samples.MP3, samples.OGG, samples.FLAC], ids=["wav", "mp3", "ogg", "flac"]
)
async def test_audio_in_the_four_formats_is_accepted(kelly_async_client: KellyAPI, audio: bytes) -> None:
    assert await kelly_async_client.voice2text(audio)


async def test_anything_but_audio_is_refused(kelly_async_client: KellyAPI) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        await kelly_async_client.voice2text(b"hello")
    assert refused_field(caught.value) == [["body", "audio"]]

    with pytest.raises(errors.InvalidRequest):
        await kelly_async_client.voice2text(samples.PNG)


async def test_unknown_models_are_refused_on_every_model_parameter(kelly_async_client: KellyAPI) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        await kelly_async_client.generate("a cat", model="NoSuchModel", width=64, height=64)
    assert refused_field(caught.value) == [["body", "model"]]

    with pytest.raises(errors.InvalidRequest) as caught:
        await kelly_async_client.llm("hello", model="gpt-9")
    assert refused_field(caught.value) == [["path", "model"]]

    with pytest.raises(errors.InvalidRequest) as caught:
        await kelly_async_client.text2voice("hello", model="xx-XX_Nobody")
    assert refused_field(caught.value) == [["body", "model"]]


async def test_every_default_of_the_client_and_every_listed_model_is_accepted(kelly_async_client: KellyAPI) -> None:
    assert await kelly_async_client.generate("a cat", width=64, height=64)
    assert await kelly_async_client.llm("hello")
    assert await kelly_async_client.text2voice("hello")
    for model in (await kelly_async_client.sd_models())["models"] + (await kelly_async_client.sdxl_models())["models"]:
        assert await kelly_async_client.generate("a cat", model=model, width=64, height=64)
    for model in (await kelly_async_client.llm_models())["models"]:
        assert model in await kelly_async_client.llm("hello", model=model)


async def test_the_limits_the_spec_assumes_are_the_servers_to_enforce(kelly_async_client: KellyAPI) -> None:
    for width in (8192, 32):
        with pytest.raises(errors.InvalidRequest) as caught:
            await kelly_async_client.generate("a cat", width=width, height=64)
        assert refused_field(caught.value) == [["body", "width"]]
        assert "width: Input should be" in str(caught.value)
    with pytest.raises(errors.InvalidRequest) as caught:
        await kelly_async_client.llm("")
    assert refused_field(caught.value) == [["body", "prompt"]]


async def test_a_test_can_accept_newer_models_until_it_ends(
    kelly_async_client: KellyAPI, kelly_sandbox: KellySandbox
) -> None:
    kelly_sandbox.add_models(chat=["gpt-9"], image=["Flux-Pro"])

    assert "gpt-9" in await kelly_async_client.llm("hello", model="gpt-9")
    assert await kelly_async_client.generate("a cat", model="Flux-Pro", width=64, height=64)
    assert "gpt-9" in (await kelly_async_client.llm_models())["models"]

    kelly_sandbox.reset()
    with pytest.raises(errors.InvalidRequest):
        await kelly_async_client.llm("hello", model="gpt-9")


async def test_a_sandbox_made_with_more_models_keeps_them() -> None:
    with Sandbox(models={"chat": ["gpt-9"], "voice": "en-AU_Nova"}) as sandbox:
        async with KellyAPI(sandbox.api_key, sandbox.url) as api:
            assert "gpt-9" in await api.llm("hello", model="gpt-9")
            assert await api.text2voice("g'day", model="en-AU_Nova")
            sandbox.state.reset()
            assert "gpt-9" in await api.llm("hello", model="gpt-9")
            assert (await api.voice_models())["models"][-1] == "en-AU_Nova"


def test_unknown_model_kinds_are_refused_naming_the_kinds() -> None:
    with pytest.raises(ValueError, match="image, chat, voice"):
        Sandbox(models={"video": ["x"]})


def test_the_model_lists_hold_every_default_of_the_client() -> None:
    sandbox = Sandbox()
    for endpoint in ENDPOINTS.values():
        for param in endpoint.params:
            if param.models is not None:
                assert sandbox.models.accepts(param.models, str(param.default)), (endpoint.name, param.name)
