"""`kellyapi batch`: each prompt gets its image or a listed failure under random faults; an interrupted run resumes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kellyapi import SyncKellyAPI
from kellyapi.cli import exits, main
from kellyapi.cli.batch import read_jobs
from kellyapi.testing import KellySandbox

PROMPTS = [f"a lighthouse number {n}, in the style of painter {n % 7}" for n in range(1, 61)]


def write_prompts(folder: Path, prompts: list[str]) -> Path:
    path = folder / "prompts.txt"
    path.write_text("# posters for the fair\n\n" + "\n".join(prompts) + "\n", encoding="utf-8")
    return path


def expected_images(client: SyncKellyAPI, prompts: list[str]) -> dict[str, bytes]:
    return {prompt: client.generate(prompt, width=64, height=64) for prompt in prompts}


def saved(folder: Path, prompts_file: Path) -> dict[str, bytes]:
    """The images in `folder`, by the prompt of their line."""
    jobs = read_jobs(str(prompts_file), folder)
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
