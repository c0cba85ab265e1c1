"""kellyapi.testing from a user's side: the testing guide's example suite (docs/how-to/testing.md) in a fresh
venv with only kellyapi and pytest (its sandbox strict as the API: a non-image upload and an unknown model
are InvalidRequest), and the fixtures' isolation between tests.

The venv installs offline from .cache/user-wheels, where `.ci/run` downloads the wheels that kellyapi and
pytest need, else from the package index; with neither, the test is skipped saying so.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import needs

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / ".cache" / "user-wheels"
EXAMPLE = re.compile(r"<!-- example: (\S+) -->\n```python\n(.*?)```", re.S)


GUIDE = "docs/how-to/testing.md"


def guide_examples() -> dict[str, str]:
    """The example files of the testing guide, by name."""
    return dict(EXAMPLE.findall((ROOT / GUIDE).read_text(encoding="utf-8")))


def test_the_guide_s_example_suite_passes_with_only_kellyapi_and_pytest_installed(tmp_path: Path) -> None:
    examples = guide_examples()
    assert set(examples) == {"posters.py", "test_posters.py"}
    offline = needs.wheels_or_index(WHEELHOUSE, "pytest", "pytest and kellyapi's dependencies", tmp_path)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT), *offline],
        check=True,
        timeout=600,
        capture_output=True,
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    (wheel,) = wheels.glob("kellyapi-*.whl")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", str(wheel), "pytest", *offline],
        check=True,
        timeout=600,
        capture_output=True,
    )
    project = tmp_path / "project"
    project.mkdir()
    for name, code in examples.items():
        (project / name).write_text(code, encoding="utf-8")

    result = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "test_posters.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed" in result.stdout
    installed = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout
    assert not re.search(r"^(pytest-asyncio|anyio|vcrpy|hypothesis)==", installed, re.M | re.I)


def test_faults_and_requests_of_one_test_never_reach_the_next(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)  # this suite's example site, not the user's
    pytester.makepyfile(
        """
        from kellyapi import errors

        def test_plans_faults_and_leaves_them(kelly_sandbox, kelly_client):
            kelly_sandbox.fail("*", "503", times=50)
            kelly_sandbox.faults.randomly(1.0, seed=1)
            try:
                kelly_client.sd_models(timeout=2)
            except errors.BaseError:
                pass
            assert kelly_sandbox.requests

        def test_starts_clean(kelly_sandbox, kelly_client):
            assert kelly_sandbox.requests == []
            assert kelly_client.sd_models()
            assert [r.status for r in kelly_sandbox.requests] == [200]

        def test_one_sandbox_per_session(kelly_sandbox_server, kelly_sandbox):
            assert kelly_sandbox.sandbox is kelly_sandbox_server
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error::ResourceWarning")
    result.assert_outcomes(passed=3)


def test_models_added_by_a_test_end_with_it_and_the_ini_option_adds_them_for_all(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makeini(
        """
        [pytest]
        kelly_sandbox_models =
            image=Flux-Pro
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from kellyapi import errors

        def test_adds_a_chat_model(kelly_sandbox, kelly_client):
            kelly_sandbox.add_models(chat=["gpt-9"])
            assert "gpt-9" in kelly_client.llm("hi", model="gpt-9")

        def test_the_added_model_is_gone(kelly_client):
            with pytest.raises(errors.InvalidRequest):
                kelly_client.llm("hi", model="gpt-9")

        def test_the_ini_model_stays(kelly_client):
            assert kelly_client.generate("a cat", model="Flux-Pro", width=64, height=64)
            assert "Flux-Pro" in kelly_client.sd_models()["models"]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error::ResourceWarning")
    result.assert_outcomes(passed=3)
