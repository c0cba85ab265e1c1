"""`kellyapi demo` runs every endpoint through both clients with no API key, and saves what it got."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kellyapi._core.endpoints import ENDPOINTS
from kellyapi.cli import DEMO_CALLS
from kellyapi.sandbox import media


def test_the_demo_covers_every_endpoint() -> None:
    assert [name for name, _ in DEMO_CALLS] == list(dict.fromkeys(name for name, _ in DEMO_CALLS))
    assert {name for name, _ in DEMO_CALLS} == set(ENDPOINTS)


def test_demo_without_a_key_uses_the_sandbox_and_saves_every_result(tmp_path: Path, closed_port: int) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KELLY_API_KEY", "KELLY_API_URL")}
    env["HTTP_PROXY"] = f"http://127.0.0.1:{closed_port}"  # a proxy that is not there: the sandbox is reached directly
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "default", "-m", "kellyapi", "demo", "--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "using the built-in sandbox" in result.stdout
    for twin in ("sync", "async"):
        saved = {path.stem: path for path in (tmp_path / "out" / twin).iterdir()}
        assert set(saved) == set(ENDPOINTS)
        assert media.png_size(saved["generate"].read_bytes()) == (512, 384)
        assert media.png_size(saved["upscale"].read_bytes()) == (1024, 768)
        assert saved["text2voice"].read_bytes()[:4] == b"RIFF"
        assert saved["voice2text"].read_text().strip() == "Hello from the Kelly AI Python SDK"
        assert '"PhotoPerfect"' in saved["sd_models"].read_text()
