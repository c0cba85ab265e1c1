"""`kellyapi demo` runs every endpoint through both clients with no API key, and saves what it got."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kellyapi._core.api_spec import ENDPOINTS
from kellyapi.cli import DEMO_CALLS, exits, main
from kellyapi.sandbox import media
from kellyapi.testing import KellySandbox


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


def run_demo(
    argv: list[str], tmp_path: Path, key: str | None = "sk-demo-key", stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KELLY_API_KEY", "KELLY_API_URL")}
    if key:
        env["KELLY_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "kellyapi", "demo", "--out", str(tmp_path / "out"), *argv],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_with_a_key_makes_no_real_call_without_yes(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    done = run_demo(["--api", kelly_sandbox.url], tmp_path)
    assert done.returncode == exits.USAGE
    assert done.stderr == (
        f"kellyapi: the demo makes {2 * len(DEMO_CALLS)} real calls to {kelly_sandbox.url} with your key"
        " ($KELLY_API_KEY); add --yes to make them, or --sandbox to try the built-in sandbox\n"
    )
    assert kelly_sandbox.requests == []


def test_demo_with_yes_and_the_connection_options_makes_its_calls(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    done = run_demo(["--api", kelly_sandbox.url, "--yes", "--timeout", "30", "--max-retries", "0"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(kelly_sandbox.requests) == 2 * len(DEMO_CALLS)


def test_demo_sandbox_is_used_even_with_a_key(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    done = run_demo(["--sandbox"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert kelly_sandbox.requests == []
    assert media.png_size((tmp_path / "out" / "sync" / "generate.png").read_bytes()) == (512, 384)


@pytest.mark.parametrize(("answer", "calls"), [("n\n", 0), ("y\n", 2 * len(DEMO_CALLS))])
def test_demo_asks_on_a_terminal(
    kelly_sandbox: KellySandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answer: str,
    calls: int,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("KELLY_API_KEY", "sk-demo-key")
    monkeypatch.setattr(sys, "stdin", Terminal(answer))
    code = main(["demo", "--api", kelly_sandbox.url, "--out", str(tmp_path / "out")])
    assert code == (exits.OK if calls else exits.FAILED)
    assert f"makes {2 * len(DEMO_CALLS)} real calls to {kelly_sandbox.url}" in capsys.readouterr().err
    assert len(kelly_sandbox.requests) == calls
