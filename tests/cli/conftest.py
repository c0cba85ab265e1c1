"""The `cli` fixture of the generated command tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from kellyapi import SyncKellyAPI
from kellyapi.testing import KellySandbox
from tests.cli.check import CliCheck


@pytest.fixture
def cli(
    kelly_sandbox: KellySandbox,
    kelly_client: SyncKellyAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> CliCheck:
    """Runs `kellyapi` commands in an empty folder against the sandbox."""
    monkeypatch.chdir(tmp_path)
    return CliCheck(kelly_sandbox, kelly_client, tmp_path, capsys)
