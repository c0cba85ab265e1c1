"""The `kellyapi` command's contract: exit codes per error class, one-line messages, stdin and stdout, progress."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kellyapi.cli import EPILOG, exits, main
from kellyapi.cli.progress import ProgressBar
from kellyapi.sandbox import media
from kellyapi.testing import KellySandbox
from tests.conftest import ForwardProxy


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, starts: str) -> None:
    assert err.startswith(starts), err
    assert err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("fault", "code", "starts"),
    [
        ({"status": 401, "detail": "Invalid API key"}, exits.INVALID_API_KEY, "kellyapi: InvalidApiKey: "),
        ({"status": 429, "retry_after": 0, "times": 5}, exits.RATE_LIMITED, "kellyapi: RateLimitError: "),
        (
            {"kind": "500", "times": 5},
            exits.API_ERROR,
            "kellyapi: GenericApiError: POST chat/chatgpt failed with HTTP 500",
        ),
        ({"kind": "invalid-json"}, exits.API_ERROR, "kellyapi: InvalidContent: POST chat/"),
        ({"kind": "hang"}, exits.TIMED_OUT, "kellyapi: TimeoutError: POST chat/"),
    ],
    ids=["401", "429", "500", "invalid-json", "hang"],
)
def test_each_error_class_has_its_exit_code_and_one_line(
    kelly_sandbox: KellySandbox, capsys: pytest.CaptureFixture[str], fault: dict[str, object], code: int, starts: str
) -> None:
    kelly_sandbox.fail("llm", **fault)  # type: ignore[arg-type]

    got = run(["llm", "hello", "--api", kelly_sandbox.url, "--max-retries", "1", "--timeout", "2"], capsys)

    assert got[0] == code
    assert got[1] == ""
    assert_one_line(got[2], starts)


def test_an_unreachable_api_is_a_connection_error(
    closed_port: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KELLY_API_KEY", "a-key")
    code, _, err = run(["sd_models", "--api", f"http://127.0.0.1:{closed_port}/", "--max-retries", "0"], capsys)
    assert code == exits.CONNECTION_FAILED
    assert_one_line(err, "kellyapi: ConnectionError: GET sd/models: ")


def test_an_argument_the_api_refuses_is_a_usage_error_naming_the_field(
    kelly_sandbox: KellySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["generate", "x", "--width", "8", "--api", kelly_sandbox.url], capsys)
    assert code == exits.USAGE
    assert_one_line(err, "kellyapi: InvalidRequest: POST image/generate failed with HTTP 422: width: Input should be")
    assert [r.status for r in kelly_sandbox.requests] == [422], "no limit is guessed: the API decides"


def test_bad_input_is_a_usage_error_before_any_request(
    kelly_sandbox: KellySandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:

    code, _, err = run(["upscale", str(tmp_path / "missing.png"), "--api", kelly_sandbox.url], capsys)
    assert code == exits.USAGE
    assert_one_line(err, f"kellyapi: cannot read {tmp_path / 'missing.png'}: No such file or directory")

    code, _, err = run(["llm", "x", "--sandbox", "--api", kelly_sandbox.url], capsys)
    assert code == exits.USAGE
    assert_one_line(err, "kellyapi: --sandbox and --api exclude each other")

    with pytest.raises(SystemExit) as parsed:
        main(["generate", "x", "--width", "wide"])
    assert parsed.value.code == exits.USAGE
    assert kelly_sandbox.requests == []


def test_no_key_is_invalid_api_key(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KELLY_API_KEY", raising=False)
    code, _, err = run(["sd_models"], capsys)
    assert code == exits.INVALID_API_KEY
    assert_one_line(err, "kellyapi: InvalidApiKey: no API key: set KELLY_API_KEY, or add --sandbox")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--api", "http://10.0.0.5/"], "add --allow-insecure-http"),
        (["--timeout", "0"], "kellyapi: InvalidRequest: --timeout must be more than 0"),
    ],
)
def test_option_errors_name_the_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], says: str
) -> None:
    monkeypatch.setenv("KELLY_API_KEY", "a-key")
    code, _, err = run(["sd_models", *argv], capsys)
    assert code == exits.USAGE
    assert says in err and "allow_insecure_http=" not in err and err.count("\n") == 1


def test_a_negative_max_retries_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sd_models", "--max-retries", "-1"])
    assert exited.value.code == exits.USAGE
    assert "argument --max-retries: must be 0 or more, got -1" in capsys.readouterr().err


def test_a_404_and_a_refused_connection_say_where_to_look(
    kelly_sandbox: KellySandbox, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    kelly_sandbox.fail("sd_models", status=404, detail="Not Found")
    code, _, err = run(["sd_models", "--api", kelly_sandbox.url], capsys)
    assert code == exits.USAGE
    assert_one_line(err, "kellyapi: InvalidRequest: GET sd/models failed with HTTP 404: Not Found")
    assert f"no such route at {kelly_sandbox.url}; check --api or KELLY_API_URL" in err
    url = f"http://127.0.0.1:{closed_port}/"
    code, _, err = run(["sd_models", "--api", url, "--max-retries", "0"], capsys)
    assert code == exits.CONNECTION_FAILED
    assert err.rstrip().endswith(f"(check --api or KELLY_API_URL: {url})")


def test_verbose_logs_each_attempt_to_stderr_without_the_key(
    kelly_sandbox: KellySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    kelly_sandbox.fail("llm", status=503)
    done = command("llm", "hi", "--api", kelly_sandbox.url, "-v", env={"KELLY_API_KEY": "sk-verbose-0123456789"})
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert err.count("kellyapi DEBUG POST chat/chatgpt -> ") == 2
    assert "GenericApiError; retrying in" in err
    assert "0123456789" not in err


def command(*argv: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The installed `kellyapi` script, as a shell runs it."""
    script = Path(sys.executable).with_name("kellyapi")
    return subprocess.run(
        [str(script), *argv], input=stdin, capture_output=True, timeout=60, env={**os.environ, **(env or {})}
    )


def test_the_script_reads_media_from_stdin_and_writes_media_to_stdout(kelly_sandbox: KellySandbox) -> None:
    image = media.png(70, 50, "from stdin")

    upscaled = command("upscale", "-", "-o", "-", "--api", kelly_sandbox.url, stdin=image)

    assert upscaled.returncode == 0, upscaled.stderr
    assert upscaled.stderr == b""
    assert media.png_size(upscaled.stdout) == (140, 100)


def test_the_script_s_embedded_sandbox_needs_no_key(tmp_path: Path) -> None:
    done = command("text2voice", "good morning", "--sandbox", "-o", str(tmp_path / "hi.wav"), env={"KELLY_API_KEY": ""})
    assert done.returncode == 0, done.stderr
    assert media.spoken_text((tmp_path / "hi.wav").read_bytes()) == "good morning"
    assert done.stdout.decode().strip() == str(tmp_path / "hi.wav")


def test_the_script_fails_with_a_line_and_a_code_not_a_traceback(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/"
    done = command("llm", "hi", "--api", url, "--max-retries", "0", env={"KELLY_API_KEY": "a-key"})
    assert done.returncode == exits.CONNECTION_FAILED
    assert done.stderr.decode().startswith("kellyapi: ConnectionError: ")
    assert b"Traceback" not in done.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_slow_call_shows_a_spinner_on_a_terminal_and_clears_it(
    kelly_sandbox: KellySandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    kelly_sandbox.fail("sd_models", status=503, retry_after=1.5)

    code = main(["sd_models", "--api", kelly_sandbox.url])

    assert code == exits.OK
    drawn = terminal.getvalue()
    assert "sd_models 1 s" in drawn
    assert drawn.endswith("\r\x1b[K")
    assert '"PhotoPerfect"' in capsys.readouterr().out


def test_a_quick_call_shows_nothing_even_on_a_terminal(
    kelly_sandbox: KellySandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["sd_models", "--api", kelly_sandbox.url]) == exits.OK
    assert terminal.getvalue() == ""


def test_the_help_lists_every_exit_code() -> None:
    # The documentation's command-line reference is this help, made from the parsers when the site is built.
    codes = {value for name, value in vars(exits).items() if name.isupper() and isinstance(value, int)}
    assert {int(code) for code in re.findall(r"^  (\d+) ", EPILOG, re.M)} == codes


def test_the_batch_progress_bar_shows_count_rate_eta_and_failures_only_on_a_terminal() -> None:
    terminal = Terminal()
    bar = ProgressBar(10, terminal)

    bar.update(5, 1)

    assert re.fullmatch(r"\r\x1b\[K\[#{12}-{12}\]  5/10  [\d.]+/s  ETA \d+ s  1 failed", terminal.getvalue())
    bar.update(10, 1, paced=19.04)  # the last item is always drawn, however soon after the previous one
    last = terminal.getvalue().rsplit("\r", 1)[1]
    assert re.fullmatch(r"\x1b\[K\[#{24}\] 10/10  [\d.]+/s  paced 19/s  1 failed", last), "the pace learned from 429s"
    bar.close()
    assert terminal.getvalue().endswith("\r\x1b[K")

    pipe = io.StringIO()
    ProgressBar(10, pipe).update(5, 1)
    assert pipe.getvalue() == ""


def test_the_script_goes_through_the_proxy_of_the_environment(
    kelly_sandbox: KellySandbox, forward_proxy: ForwardProxy
) -> None:
    # kelly_sandbox lists loopback in both spellings of NO_PROXY: this test means to go through the proxy
    no_proxy = {"NO_PROXY": "", "no_proxy": ""}
    done = command("llm", "proxied", "--api", kelly_sandbox.url, env={"HTTP_PROXY": forward_proxy.url, **no_proxy})
    assert done.returncode == 0, done.stderr
    assert forward_proxy.forwarded("/chat/chatgpt")


def test_the_script_s_own_sandbox_is_reached_directly_whatever_the_proxy(closed_port: int) -> None:
    proxy = f"http://127.0.0.1:{closed_port}"  # a proxy that is not there
    done = command("llm", "direct", "--sandbox", env={"HTTP_PROXY": proxy, "KELLY_API_KEY": ""})
    assert done.returncode == 0, done.stderr


def test_text_arguments_read_standard_input_and_files(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    script = "def hello():\n    return 'héllo'\n"
    piped = command(
        "code2image", "-", "-o", str(tmp_path / "piped.png"), "--api", kelly_sandbox.url, stdin=script.encode()
    )
    assert piped.returncode == 0, piped.stderr
    (tmp_path / "prompt.txt").write_text("a question from a file\n", encoding="utf-8")  # as `echo` writes it
    asked = command("llm", f"@{tmp_path / 'prompt.txt'}", "--api", kelly_sandbox.url)
    assert asked.returncode == 0, asked.stderr
    literal = command("llm", "@@handle", "--api", kelly_sandbox.url)
    assert literal.returncode == 0, literal.stderr
    (tmp_path / "windows.txt").write_bytes(b"two lines\r\nfrom Windows\r\n")
    windows = command("llm", f"@{tmp_path / 'windows.txt'}", "--api", kelly_sandbox.url)
    assert windows.returncode == 0, windows.stderr
    sent = [request.body for request in kelly_sandbox.requests]
    assert sent[0]["code"] == script.removesuffix("\n"), "the final newline ends the last line; it is not code"
    assert sent[1]["prompt"] == "a question from a file"
    assert sent[2]["prompt"] == "@handle"
    assert sent[3]["prompt"] == "two lines\r\nfrom Windows"


@pytest.mark.parametrize("argv", [["llm", "@/no/such/prompt.txt"], ["img2text", "-", "-"]])
def test_an_unreadable_text_or_two_stdin_readers_fail_before_any_call(
    kelly_sandbox: KellySandbox, argv: list[str]
) -> None:
    done = command(*argv, "--api", kelly_sandbox.url, env={"KELLY_API_KEY": "a-key"})
    assert done.returncode == exits.USAGE
    assert done.stderr.decode().count("\n") == 1
    assert kelly_sandbox.requests == []


def test_a_text_file_that_is_not_utf8_is_refused_in_one_line(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    done = command("llm", f"@{tmp_path / 'latin1.txt'}", "--api", kelly_sandbox.url)
    assert done.returncode == exits.USAGE
    assert done.stderr.decode() == f"kellyapi: {tmp_path / 'latin1.txt'} is not UTF-8 text\n"


def test_each_command_s_help_describes_its_arguments_from_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    from kellyapi._core.api_spec import ENDPOINTS

    for name, endpoint in ENDPOINTS.items():
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert endpoint.summary in text
        for param in endpoint.params:
            described = f"An {param.media} file" if param.kind == "media" else param.description
            assert described and described in text, (name, param.name)
    with pytest.raises(SystemExit):
        main(["llm", "--help"])
    llm_help = " ".join(capsys.readouterr().out.split())
    assert "PROMPT What to ask or tell the model." in llm_help and "What to make" not in llm_help
    assert "--json print one JSON line instead: command, model, result, seconds" in llm_help


def test_the_progress_bar_s_rate_is_that_of_the_last_seconds() -> None:
    bar = ProgressBar(1000, Terminal())
    start = bar._started
    assert bar.current_rate(start + 10, 100) == pytest.approx(10)
    assert bar.current_rate(start + 20, 100) == pytest.approx(0), "nothing done in the last 5 s: 0/s, not the average"
    assert bar.current_rate(start + 21, 150) == pytest.approx(50 / 11, rel=0.2)
