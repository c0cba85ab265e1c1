"""`CliCheck`: runs one endpoint command against the sandbox and checks it against the SDK's own call."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from kellyapi import SyncKellyAPI
from kellyapi._core.api_spec import ENDPOINTS
from kellyapi.cli import main
from kellyapi.sandbox import media
from kellyapi.testing import KellySandbox

SAMPLE_FILES = {
    "<image.png>": ("input.png", media.png(80, 48, "a sample input")),
    "<audio.wav>": ("input.wav", media.speech("sample words to transcribe")),
}


class CliCheck:
    """Runs `kellyapi ...` in-process in an empty folder, against `kelly_sandbox`."""

    def __init__(self, sandbox: KellySandbox, client: SyncKellyAPI, folder: Path, capsys: pytest.CaptureFixture[str]):
        self.sandbox, self.client, self.folder, self.capsys = sandbox, client, folder, capsys
        self.inputs = {token: folder / name for token, (name, _) in SAMPLE_FILES.items()}
        for token, (_, data) in SAMPLE_FILES.items():
            self.inputs[token].write_bytes(data)

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        """Exit code, stdout and stderr of `kellyapi ARGV --api <sandbox>`."""
        code = main([str(self.inputs.get(arg, arg)) for arg in argv] + ["--api", self.sandbox.url])
        out, err = self.capsys.readouterr()
        return code, out, err

    def help_text(self, name: str) -> str:
        """`kellyapi NAME --help`, on one line (argparse wraps it to the terminal's width)."""
        with pytest.raises(SystemExit):
            main([name, "--help"])
        return " ".join(self.capsys.readouterr().out.split())

    def json_fields_in_help(self, name: str) -> set[str]:
        """The fields `--json` is documented to print."""
        found = re.search(r"print one JSON line instead: ((?:\w+, )*\w+)", self.help_text(name))
        assert found is not None
        return set(found.group(1).split(", "))

    def check(self, argv: list[str], expected: dict[str, Any]) -> None:
        """The command sends what the SDK would for `expected`, and puts the SDK's result where documented."""
        name = argv[0]
        endpoint = ENDPOINTS[name]
        arguments = {k: self.inputs[v].read_bytes() if v in self.inputs else v for k, v in expected.items()}

        code, out, err = self.run(argv)

        assert (code, err) == (0, ""), err
        (received,) = self.sandbox.requests
        assert (received.route, received.status) == (endpoint.path, 200)
        for param in endpoint.params:
            value = arguments[param.name]
            if param.location == "path":
                assert isinstance(value, str)
                assert received.path.endswith("/" + value)
            elif param.kind == "media":
                assert base64.b64decode(received.body[param.wire_name]) == value
            else:
                assert received.body[param.wire_name] == value
        result = getattr(self.client, name)(**arguments)
        if endpoint.result_kind == "bytes":
            saved = Path(out.strip())
            assert not saved.is_absolute() and saved.parent == Path(), "saved in the current folder, path printed"
            assert (self.folder / saved).read_bytes() == result
        elif endpoint.result_kind == "str":
            assert out == result + "\n"
        else:
            assert json.loads(out) == result

        code, out, err = self.run([*argv, "--json"])

        assert (code, err) == (0, ""), err
        summary = json.loads(out)
        assert set(summary) == self.json_fields_in_help(name), "--json --help names exactly what --json prints"
        assert summary["command"] == name
        assert summary["seconds"] >= 0
        model = next((p for p in endpoint.params if p.name == "model"), None)
        if model is None:
            assert "model" not in summary, "only commands that take a model report one"
        else:
            assert summary["model"] == arguments.get("model", model.default)
        if endpoint.result_kind == "bytes":
            assert summary["bytes"] == len(result)
            assert (self.folder / summary["path"]).read_bytes() == result
            assert summary["path"] != saved.name, "an existing file is never overwritten"
        else:
            assert summary["result"] == result
