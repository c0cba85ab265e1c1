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
    assert f"  export KELLY_API_URL=http://127.0.0.1:{port}/\n  export KELLY_API_KEY=only-this-key\n" in out
    assert "Note:" not in out, "no fault that lasts until the timeout was planned"


def test_the_default_port_is_not_django_s_and_the_start_up_lines_say_how_to_use_it() -> None:
    from kellyapi.sandbox.server import DEFAULT_PORT

    assert DEFAULT_PORT not in (8000, 8080, 5000, 3000)
    parser_help = subprocess.run(
        [sys.executable, "-m", "kellyapi.sandbox", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert f"(default: {DEFAULT_PORT})" in parser_help


def test_a_busy_port_is_one_line_without_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "kellyapi.sandbox", "--port", str(port)], capture_output=True, text=True, timeout=60
        )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr and "--port 0" in run.stderr


def test_the_sandbox_command_accepts_more_models() -> None:
    with sandbox_process("--models", "chat=gpt-9,claude-4", "--models", "voice=en-AU_Nova") as url:
        with SyncKellyAPI("any-key", url) as api:
            assert "gpt-9" in api.llm("hi", model="gpt-9")
            assert api.text2voice("g'day", model="en-AU_Nova")
            assert {"gpt-9", "claude-4"} <= set(api.llm_models()["models"])
            with pytest.raises(errors.InvalidRequest):
                api.llm("hi", model="gpt-10")
    run = subprocess.run(
        [sys.executable, "-m", "kellyapi.sandbox", "--models", "video=x"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "image, chat, voice" in run.stderr


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


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--fault", "sd/models=503", "--fault", "*=hang"], "Note: hang answers nothing, so a call it meets lasts"),
        (["--fault-rate", "0.1"], "Note: hang answers nothing and drip sends one byte every 0.1 s, so"),
    ],
)
def test_a_fault_that_lasts_until_the_timeout_says_to_shorten_it(arguments: list[str], said: str) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "kellyapi.sandbox", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(4)]
    finally:
        server.terminate()
        server.communicate(timeout=20)
    assert lines[3].startswith(said), lines
    assert "until the client's timeout (60 s by default)" in lines[3]
    assert "--timeout 5" in lines[3] and "KellyAPI(timeout=5)" in lines[3]
