"""The spec is valid OpenAPI, the generated files match it, and a spec change reaches both twins."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

from codegen import __main__ as codegen_main
from codegen import spec as codegen_spec
from codegen import unasync_step
from kellyapi import KellyAPI, SyncKellyAPI
from kellyapi._core.api_spec import ENDPOINTS

ROOT = Path(__file__).resolve().parents[2]
OLD_CLIENT_METHODS = {
    "sd_models",
    "sdxl_models",
    "llm_models",
    "voice_models",
    "generate",
    "img2img",
    "img2text",
    "llm",
    "upscale",
    "removebg",
    "text2voice",
    "voice2text",
    "text2write",
    "code2image",
}


def test_the_spec_is_valid_openapi_3_1() -> None:
    document = yaml.safe_load(codegen_spec.SPEC_PATH.read_text())
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_old_method_is_generated_on_both_twins() -> None:
    assert set(ENDPOINTS) == OLD_CLIENT_METHODS
    for name in OLD_CLIENT_METHODS:
        assert callable(getattr(KellyAPI, name))
        assert callable(getattr(SyncKellyAPI, name))


def test_generated_files_match_the_spec() -> None:
    result = subprocess.run([sys.executable, "-m", "codegen", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_check_names_a_drifted_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "repo"
    for part in ("codegen", "kellyapi", "tests"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    readme = (ROOT / "README.md").read_text()
    (copy / "README.md").write_text(readme.replace('model="PhotoPerfect"', 'model="DreamShaper"', 1))
    sync_api = copy / "kellyapi/_sync/api.py"
    sync_api.write_text(sync_api.read_text() + "# edited by hand\n")
    (copy / "kellyapi/_sync/stray.py").write_text("")
    result = subprocess.run([sys.executable, "-m", "codegen", "--check"], cwd=copy, capture_output=True, text=True)
    assert result.returncode == 1
    assert "kellyapi/_sync/api.py: differs from what the spec makes" in result.stderr
    assert "README.md: differs from what the spec makes" in result.stderr, "the methods table is the spec's"
    assert "kellyapi/_sync/stray.py: has no async source" in result.stderr


def test_an_unused_unasync_replacement_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(unasync_step.REPLACEMENTS, "NeverWritten", "Anything")
    _, unused = codegen_main.expected_files()
    assert unused == ["NeverWritten"]


def test_a_spec_change_reaches_both_twins_the_cli_and_the_sandbox_through_one_table(tmp_path: Path) -> None:
    changed = (
        codegen_spec.SPEC_PATH.read_text()
        .replace(
            "      summary: Upscale an image to twice its width and height.",
            "      summary: Upscale an image to four times its width and height.",
        )
        .replace("  /image/upscale:", "  /image/upscale4x:")
    )
    spec_path = tmp_path / "kelly.openapi.yaml"
    spec_path.write_text(changed)
    files, _ = codegen_main.expected_files(spec_path)
    for generated in ("kellyapi/_async/api.py", "kellyapi/_sync/api.py"):
        assert "Upscale an image to four times its width and height." in files[generated]
    assert 'path="image/upscale4x"' in files["kellyapi/_core/api_spec.py"]
    assert not any("upscale4x" in text for name, text in files.items() if name != "kellyapi/_core/api_spec.py"), (
        "the route exists once: the client, the CLI and the sandbox all read the table"
    )
    assert "async def upscale(" in files["kellyapi/_async/api.py"]
    assert "    def upscale(" in files["kellyapi/_sync/api.py"]
    assert "async def" not in files["kellyapi/_sync/api.py"]
    assert "await " not in files["kellyapi/_sync/api.py"]


@pytest.mark.parametrize("client", [KellyAPI, SyncKellyAPI])
def test_help_documents_every_parameter_its_default_the_result_and_the_errors(
    client: type[KellyAPI] | type[SyncKellyAPI],
) -> None:
    import inspect
    import pydoc

    from kellyapi import DEFAULT_NEGATIVE_PROMPT

    page = pydoc.render_doc(client.generate, renderer=pydoc.plaintext)  # type: ignore[attr-defined]  # pydoc's own, untyped in typeshed
    assert "negative_prompt: 'str' = DEFAULT_NEGATIVE_PROMPT" in page
    assert DEFAULT_NEGATIVE_PROMPT not in page and len(page) < 2500, "the long default is shown by its name"
    assert inspect.signature(client.generate).parameters["negative_prompt"].default == DEFAULT_NEGATIVE_PROMPT
    for name, endpoint in ENDPOINTS.items():
        doc = inspect.getdoc(getattr(client, name)) or ""
        assert doc.startswith(endpoint.summary)
        for param in endpoint.params:
            assert f"{param.name}: {param.description}" in doc, (name, param.name)
            if not param.required:
                assert f"Default: {param.default!r}." in doc.replace('"', "'") or "DEFAULT_" in doc
        assert "Returns:" in doc and "Raises:" in doc and "InvalidRequest" in doc
        raw_doc = inspect.getdoc(getattr(client(api_key="k").with_raw_response, name)) or ""
        assert "`.parse()` gives what" in raw_doc
