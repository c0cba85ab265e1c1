"""`kellyapi batch`: each prompt gets its image or a listed failure under random faults; an interrupted run resumes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from kellyapi import SyncKellyAPI
from kellyapi.cli import exits, files, main
from kellyapi.cli.batch import read_jobs
from kellyapi.testing import KellySandbox

PROMPTS = [f"a lighthouse number {n}, in the style of painter {n % 7}" for n in range(1, 61)]


def write_prompts(folder: Path, prompts: list[str]) -> Path:
    path = folder / "prompts.txt"
    path.write_text("# posters for the fair\n\n" + "\n".join(prompts) + "\n", encoding="utf-8")
    return path


def expected_images(client: SyncKellyAPI, prompts: list[str]) -> dict[str, bytes]:
    return {prompt: client.generate(prompt, width=64, height=64) for prompt in prompts}


SIZE = {"width": 64, "height": 64}


def saved(folder: Path, prompts_file: Path, options: Mapping[str, object] = SIZE) -> dict[str, bytes]:
    """The images in `folder`, by the prompt of their line."""
    jobs = read_jobs(str(prompts_file), folder, dict(options))
    return {job.prompt: job.path.read_bytes() for job in jobs if job.path.exists()}


def test_a_10_percent_fault_plan_ends_in_a_true_summary_and_a_rerun_completes_it(
    kelly_sandbox: KellySandbox, kelly_client: SyncKellyAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts_file, out = write_prompts(tmp_path, PROMPTS), tmp_path / "out"
    images = expected_images(kelly_client, PROMPTS)
    kelly_sandbox.reset()
    kelly_sandbox.faults.randomly(0.10, seed=11)
    argv = ["batch", str(prompts_file), "-o", str(out), "--concurrency", "8", "--width", "64", "--height", "64"]

    code = main([*argv, "--timeout", "2", "--api", kelly_sandbox.url])

    report = capsys.readouterr().out
    first = saved(out, prompts_file)
    failed_lines = {int(m.group(1)) for m in re.finditer(r"^  line (\d+): (\w+): ", report, re.M)}
    assert failed_lines, "the seed must make some prompts fail for this test to mean anything"
    assert code == exits.FAILED
    assert report.startswith(f"60 prompts: {len(first)} generated, 0 already there, {len(failed_lines)} failed (")
    assert len(first) + len(failed_lines) == 60
    assert {PROMPTS[line - 3] for line in failed_lines} == set(PROMPTS) - set(first)  # after 2 header lines
    assert all(first[prompt] == images[prompt] for prompt in first), "each file holds its own prompt's image"
    assert not list(out.glob(".*.part"))

    kelly_sandbox.reset()
    code = main([*argv, "--api", kelly_sandbox.url, "--json"])

    summary = json.loads(capsys.readouterr().out)
    assert code == exits.OK
    assert (summary["total"], summary["skipped"], summary["generated"]) == (60, len(first), len(failed_lines))
    assert summary["failures"] == [] and summary["interrupted"] is False
    assert len(kelly_sandbox.requests) == len(failed_lines), "a rerun asks only for the missing images"
    assert saved(out, prompts_file) == images


def test_an_interrupted_batch_leaves_only_whole_images_and_resumes(
    kelly_sandbox: KellySandbox, kelly_client: SyncKellyAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = PROMPTS[:20]
    prompts_file, out = write_prompts(tmp_path, prompts), tmp_path / "out"
    images = expected_images(kelly_client, prompts)
    kelly_sandbox.fail("generate", "drip", drip_interval=0.003, times=100)  # about 1 s a call
    argv = ["batch", str(prompts_file), "-o", str(out), "--concurrency", "2", "--width", "64", "--height", "64"]
    script = Path(sys.executable).with_name("kellyapi")
    batch = subprocess.Popen([str(script), *argv, "--api", kelly_sandbox.url], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(list(out.glob("*.png"))) < 3:
        assert time.monotonic() < deadline and batch.poll() is None, "the batch should still be running"
        time.sleep(0.05)

    batch.send_signal(signal.SIGINT)
    report, _ = batch.communicate(timeout=30)

    assert batch.returncode == exits.INTERRUPTED
    first = saved(out, prompts_file)
    assert 3 <= len(first) < 20
    assert all(first[prompt] == images[prompt] for prompt in first)
    assert not list(out.glob(".*.part"))
    assert f"20 prompts: {len(first)} generated, 0 already there, 0 failed" in report
    assert f"interrupted: {20 - len(first)} prompts without an image; run the same command again" in report

    kelly_sandbox.reset()
    code = main([*argv, "--api", kelly_sandbox.url])

    assert code == exits.OK
    assert capsys.readouterr().out.startswith(f"20 prompts: {20 - len(first)} generated, {len(first)} already there")
    assert saved(out, prompts_file) == images


def batch_summary(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_resume_is_keyed_on_the_prompt_and_the_options_that_shape_the_image(
    kelly_sandbox: KellySandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = PROMPTS[:6]
    prompts_file, out = write_prompts(tmp_path, prompts), tmp_path / "out"
    argv = ["batch", str(prompts_file), "-o", str(out), "--width", "64", "--height", "64", "--api", kelly_sandbox.url]
    assert batch_summary(argv, capsys)[1]["generated"] == 6

    kelly_sandbox.reset()
    code, summary = batch_summary([*argv[:4], "--width", "96", *argv[6:]], capsys)
    assert (code, summary["generated"], summary["skipped"]) == (0, 6, 0), "a changed --width makes new images"
    assert len(list(out.glob("*.png"))) == 12

    prompts_file.write_text("a new first line\n" + prompts_file.read_text(encoding="utf-8"), encoding="utf-8")
    kelly_sandbox.reset()
    code, summary = batch_summary(argv, capsys)
    assert (code, summary["generated"], summary["skipped"]) == (0, 1, 6), "an inserted line redoes nothing else"
    assert [r.body["prompt"] for r in kelly_sandbox.requests] == ["a new first line"]
    assert saved(out, prompts_file)["a new first line"].startswith(b"\x89PNG")

    prompts_file.write_text(prompts_file.read_text(encoding="utf-8") + prompts[0] + "\n", encoding="utf-8")
    kelly_sandbox.reset()
    assert batch_summary(argv, capsys)[1]["total"] == 7, "a prompt given twice is made once"
    assert kelly_sandbox.requests == []


@pytest.mark.parametrize(
    ("setup", "extra", "error", "exit_code"),
    [
        ("refuse-key", [], "InvalidApiKey", exits.INVALID_API_KEY),
        ("none", ["--width", "8"], "InvalidRequest", exits.USAGE),
        ("none", ["--model", "NoSuchModel"], "InvalidRequest", exits.USAGE),
    ],
)
def test_an_error_every_prompt_would_get_stops_the_batch_within_concurrency_plus_one_calls(
    kelly_sandbox: KellySandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    extra: list[str],
    error: str,
    exit_code: int,
) -> None:
    if setup == "refuse-key":
        kelly_sandbox.fail("generate", status=401, detail="Invalid API key", times=100)
    prompts_file, out = write_prompts(tmp_path, PROMPTS[:20]), tmp_path / "out"
    argv = ["batch", str(prompts_file), "-o", str(out), "--concurrency", "3", *extra, "--api", kelly_sandbox.url]

    code, summary = batch_summary(argv, capsys)

    assert code == exit_code
    assert summary["stopped_by"] == error
    assert 1 <= len(kelly_sandbox.requests) <= 3 + 1
    assert summary["generated"] == 0 and len(summary["failures"]) == len(kelly_sandbox.requests)


def test_an_unreachable_api_stops_the_batch(
    closed_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KELLY_API_KEY", "a-key")
    prompts_file = write_prompts(tmp_path, PROMPTS[:20])
    argv = ["batch", str(prompts_file), "-o", str(tmp_path / "out"), "--concurrency", "2", "--max-retries", "0"]
    code = main([*argv, "--api", f"http://127.0.0.1:{closed_port}/"])
    report = capsys.readouterr().out
    assert code == exits.CONNECTION_FAILED
    failed = re.findall(r"^  line \d+: ConnectionError", report, re.M)
    assert 1 <= len(failed) <= 2 + 1
    assert "stopped after" in report and "every prompt would fail with ConnectionError" in report
    assert "run the same command again to make the 20 prompts without an image" in report


def test_a_batch_stopped_at_its_only_prompt_says_that_prompt_is_left(
    kelly_sandbox: KellySandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kelly_sandbox.fail("generate", status=401, detail="Invalid API key")
    prompts_file = write_prompts(tmp_path, PROMPTS[:1])
    code = main(["batch", str(prompts_file), "-o", str(tmp_path / "out"), "--api", kelly_sandbox.url])
    report = capsys.readouterr().out
    assert code == exits.INVALID_API_KEY
    assert report.endswith(
        "stopped after 1 call: every prompt would fail with InvalidApiKey;"
        " fix that and run the same command again to make the 1 prompt without an image\n"
    )


def test_a_prompts_file_that_is_not_utf8_text_is_refused_in_one_line(
    kelly_sandbox: KellySandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.samples import PNG

    for name, data in (("photo.png", PNG), ("latin1.txt", "caf\xe9 au lait\n".encode("latin-1"))):
        (tmp_path / name).write_bytes(data)
        code = main(["batch", str(tmp_path / name), "-o", str(tmp_path / "out"), "--api", kelly_sandbox.url])
        err = capsys.readouterr().err
        assert code == exits.USAGE
        assert err.count("\n") == 1 and "is not UTF-8 text" in err and "one prompt per line" in err, err
    assert kelly_sandbox.requests == []
    assert not (tmp_path / "out").exists()


def test_a_dry_run_prints_what_would_be_made_and_calls_nothing(
    kelly_sandbox: KellySandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts_file, out = write_prompts(tmp_path, PROMPTS[:5]), tmp_path / "out"
    argv = ["batch", str(prompts_file), "-o", str(out), "--width", "64", "--height", "64", "--api", kelly_sandbox.url]
    assert main([*argv, "--concurrency", "1"]) == exits.OK
    capsys.readouterr()
    prompts_file.write_text(prompts_file.read_text(encoding="utf-8") + "one more\ntwo more\n", encoding="utf-8")
    kelly_sandbox.reset()
    monkeypatch.delenv("KELLY_API_KEY")

    code = main([*argv, "--dry-run"])

    out_text = capsys.readouterr().out
    assert code == exits.OK
    assert kelly_sandbox.requests == []
    assert len(re.findall(r"^would make .*\.png  \(line \d+: (one|two) more\)$", out_text, re.M)) == 2
    assert (
        out_text.splitlines()[-1]
        == "7 prompts: 2 to make, 5 already there; 2 calls (at most 6 HTTP attempts with --max-retries 2)"
    )


def test_a_batch_under_the_api_s_rate_limit_makes_every_image(
    kelly_sandbox: KellySandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kelly_sandbox.limit_rate(10, latency=0.05)
    prompts_file, out = write_prompts(tmp_path, PROMPTS[:30]), tmp_path / "out"
    argv = ["batch", str(prompts_file), "-o", str(out), "--concurrency", "16", "--width", "64", "--height", "64"]

    code, summary = batch_summary([*argv, "--api", kelly_sandbox.url], capsys)

    assert code == exits.OK
    assert (summary["generated"], summary["failures"]) == (30, [])
    statuses = [request.status for request in kelly_sandbox.requests]
    assert statuses.count(200) == 30 and statuses.count(429) < 30


def test_images_are_written_off_the_event_loop(
    kelly_sandbox: KellySandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    writers: list[str] = []
    write = files.write_atomically

    def noting_the_thread(path: Path, data: bytes) -> None:
        writers.append(threading.current_thread().name)
        write(path, data)

    monkeypatch.setattr(files, "write_atomically", noting_the_thread)
    prompts_file = write_prompts(tmp_path, PROMPTS[:3])
    argv = ["batch", str(prompts_file), "-o", str(tmp_path / "out"), "--width", "64", "--height", "64"]
    assert main([*argv, "--api", kelly_sandbox.url]) == exits.OK
    assert len(writers) == 3
    assert threading.main_thread().name not in writers  # asyncio.run's loop runs on the main thread
