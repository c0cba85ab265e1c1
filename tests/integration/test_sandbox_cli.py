"""`python -m kellyapi.sandbox --port N --api-key KEY` serves the API and refuses other keys."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from kellyapi import SyncKellyAPI, errors
from tests.sandbox_process import sandbox_process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_sandbox_command_serves_with_one_key() -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kellyapi.sandbox", "--port", str(port), "--api-key", "only-this-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the sandbox did not start"
                assert server.poll() is None, server.communicate()
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/"
        with SyncKellyAPI("only-this-key", url) as api:
            assert "chatgpt" in api.llm_models()["models"]
        with SyncKellyAPI("another-key", url) as api, pytest.raises(errors.InvalidApiKey) as caught:
            api.llm_models()
        assert caught.value.status_code == 401
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=10)
    assert f"Kelly API sandbox on http://127.0.0.1:{port}/" in out


def test_the_sandbox_command_plans_faults_and_picks_a_free_port() -> None:
    # Two resets: the first comes on a reused connection, which the client resends on a fresh one at once.
    with sandbox_process("--fault", "sd/models=503*2", "--fault", "*=reset*2") as url:
        with SyncKellyAPI("any-key", url, max_retries=0) as api:
            for _ in range(2):
                with pytest.raises(errors.GenericApiError) as caught:
                    api.sd_models()
                assert caught.value.status_code == 503
            with pytest.raises(errors.ConnectionError):
                api.llm_models()
            assert api.sd_models()["models"]


def test_the_sandbox_command_refuses_an_unknown_fault_kind() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "kellyapi.sandbox", "--fault", "sd/models=teapot"], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "unknown fault kind 'teapot'" in run.stderr
