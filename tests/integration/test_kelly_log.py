"""KELLY_LOG=debug (or info) sends the kellyapi logger to stderr with no code change, key redacted."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kellyapi.testing import KellySandbox

CALLS = """
import asyncio, os
from kellyapi import KellyAPI, SyncKellyAPI
key, url = os.environ["KEY"], os.environ["URL"]
with SyncKellyAPI(key, url) as api:
    api.llm("from the blocking client")
async def main():
    async with KellyAPI(key, url) as api:
        await api.llm("from the async client")
asyncio.run(main())
"""


def run_calls(sandbox: KellySandbox, level: str | None) -> str:
    env = {**os.environ, "KEY": "sk-log-0123456789abcdef", "URL": sandbox.url}
    env.pop("KELLY_LOG", None)
    if level is not None:
        env["KELLY_LOG"] = level
    done = subprocess.run([sys.executable, "-c", CALLS], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.mark.parametrize("level", ["debug", "DEBUG"])
def test_kelly_log_debug_logs_every_attempt_of_both_clients_to_stderr(kelly_sandbox: KellySandbox, level: str) -> None:
    kelly_sandbox.fail("llm", status=503)
    err = run_calls(kelly_sandbox, level)
    attempts = [line for line in err.splitlines() if "kellyapi DEBUG POST chat/chatgpt -> " in line]
    assert len(attempts) == 3  # a 503 and its retry, then the async client's call
    assert "kellyapi INFO POST chat/chatgpt: GenericApiError; retrying in" in err
    assert "0123456789abcdef" not in err


def test_kelly_log_info_logs_only_retries(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.fail("llm", status=503)
    err = run_calls(kelly_sandbox, "info")
    assert "retrying in" in err and " -> " not in err


@pytest.mark.parametrize("level", [None, "", "verbose"])
def test_without_kelly_log_nothing_is_printed(kelly_sandbox: KellySandbox, level: str | None) -> None:
    assert run_calls(kelly_sandbox, level) == ""
