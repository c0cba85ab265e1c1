"""The original kellyapi 0.0.2.5 client gets correct results from the sandbox for all 14 methods.

It is installed into a temporary venv (its package name is ours): offline from .cache/old-kellyapi-wheels,
where `.ci/run` downloads its wheels, else from the package index; with neither, the test is skipped saying so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from kellyapi.testing import KellySandbox
from tests import needs

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / ".cache" / "old-kellyapi-wheels"
OLD_CLIENT = "kellyapi==0.0.2.5"

OLD_CLIENT_SCRIPT = textwrap.dedent(
    """
    import asyncio, base64, json, struct, sys
    import kellyapi
    from kellyapi import KellyAPI

    def png_size(data):
        assert data[:8] == b"\\x89PNG\\r\\n\\x1a\\n", data[:16]
        return list(struct.unpack(">II", data[16:24]))

    async def main():
        api = KellyAPI(api_key="old-client-key", api=sys.argv[1])
        image = await api.generate("a lighthouse", width=128, height=96)
        image_b64 = base64.b64encode(image).decode()
        voice = await api.text2voice("hello old client")
        return {
            "module": kellyapi.__file__,
            "sd_models": await api.sd_models(),
            "sdxl_models": await api.sdxl_models(),
            "llm_models": await api.llm_models(),
            "voice_models": await api.voice_models(),
            "generate": png_size(image),
            "img2img": png_size(await api.img2img("autumn", image_b64, width=64, height=64)),
            "img2text": await api.img2text("what is it?", image_b64),
            "llm": await api.llm("Hello, world!"),
            "upscale": png_size(await api.upscale(image_b64)),
            "removebg": png_size(await api.removebg(image_b64)),
            "text2voice": [voice[:4].decode(), voice[8:12].decode()],
            "voice2text": await api.voice2text(base64.b64encode(voice).decode()),
            "text2write": png_size(await api.text2write("Dear diary")),
            "code2image": png_size(await api.code2image("print('hi')")),
        }

    print(json.dumps(asyncio.run(main())))
    """
)


def test_the_original_client_is_happy_with_the_sandbox(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    source = needs.wheels_or_index(WHEELHOUSE, OLD_CLIENT, f"the original client ({OLD_CLIENT})", tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", OLD_CLIENT, *source], check=True, timeout=600, capture_output=True
    )
    script = tmp_path / "old_client.py"
    script.write_text(OLD_CLIENT_SCRIPT)
    result = subprocess.run(
        [python, str(script), kelly_sandbox.url], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)

    assert str(venv) in got["module"], "the old client, not this SDK, must have been imported"
    assert "PhotoPerfect" in got["sd_models"]["models"]
    assert got["sdxl_models"]["models"]
    assert "chatgpt" in got["llm_models"]["models"]
    assert "en-US_LisaExpressive" in got["voice_models"]["models"]
    assert got["generate"] == [128, 96]
    assert got["img2img"] == [64, 64]
    assert "128x96" in got["img2text"]
    assert "Hello, world!" in got["llm"]
    assert got["upscale"] == [256, 192]
    assert got["removebg"] == [128, 96]
    assert got["text2voice"] == ["RIFF", "WAVE"]
    assert got["voice2text"] == "hello old client"
    assert got["text2write"][0] > 0
    assert got["code2image"][0] > 0
    assert {request.status for request in kelly_sandbox.requests} == {200}
    assert len(kelly_sandbox.requests) == 14
