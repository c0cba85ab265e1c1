"""Every endpoint of the spec, called with the original client's signature, on a replayed cassette."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from kellyapi import KellyAPI
from tests import samples
from tests.conftest import CassetteTarget


@pytest.mark.parametrize("method", ["sd_models", "sdxl_models", "llm_models", "voice_models"])
async def test_model_lists_return_the_parsed_json(kelly: CassetteTarget, method: str) -> None:
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        models = await getattr(api, method)()
    assert isinstance(models, dict)
    assert models["models"]
    assert all(isinstance(name, str) for name in models["models"])


async def test_generate_returns_a_png_of_the_requested_size(kelly: CassetteTarget) -> None:
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        image = await api.generate("a lighthouse on a cliff at dawn", width=128, height=96)
    assert samples.png_size(image) == (128, 96)


async def test_generate_with_every_default(kelly: CassetteTarget) -> None:
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        image = await api.generate(prompt="a red fox")
    assert samples.png_size(image) == (1024, 1024)


async def test_img2img_takes_image_bytes(kelly: CassetteTarget) -> None:
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        image = await api.img2img("make it autumn", samples.PNG, width=96, height=64)
    assert samples.png_size(image) == (96, 64)


async def test_img2text_takes_base64_text_as_before(kelly: CassetteTarget) -> None:
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        text = await api.img2text("what is this?", base64.b64encode(samples.PNG).decode())
    assert isinstance(text, str)
    assert text


async def test_llm_posts_to_the_model_route(kelly: CassetteTarget) -> None:
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        answer = await api.llm("Hello, world!", model="gemini", character="Sage")
    assert isinstance(answer, str)
    assert answer


async def test_upscale_takes_a_path(kelly: CassetteTarget, tmp_path: Path) -> None:
    source = tmp_path / "photo.png"
    source.write_bytes(samples.PNG)
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        image = await api.upscale(source)
    size = samples.png_size(image)
    assert size is not None
    assert size[0] >= 64
    assert size[1] >= 48


async def test_removebg_takes_a_binary_file(kelly: CassetteTarget) -> None:
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        image = await api.removebg(io.BytesIO(samples.PNG))
    assert samples.png_size(image) is not None


async def test_text2voice_returns_wav_bytes(kelly: CassetteTarget) -> None:
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        audio = await api.text2voice("hello from the sandbox")
    assert audio[:4] == b"RIFF"
    assert audio[8:12] == b"WAVE"


async def test_voice2text_returns_the_transcript(kelly: CassetteTarget) -> None:
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        text = await api.voice2text(samples.WAV)
    assert isinstance(text, str)
    assert text


async def test_text2write_sends_text_as_code(kelly: CassetteTarget) -> None:
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        image = await api.text2write("Dear diary, today the SDK shipped.")
    assert samples.png_size(image) is not None


async def test_code2image_returns_a_png(kelly: CassetteTarget) -> None:
    async with KellyAPI(kelly.api_key, kelly.url) as api:
        image = await api.code2image("def hello():\n    return 'world'\n")
    assert samples.png_size(image) is not None
