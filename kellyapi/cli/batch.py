"""`kellyapi batch`: one image per line of a prompts file, through one KellyAPI with bounded concurrency.

Outputs are named after the line number and the prompt, so a second run skips the images that exist:
an interrupted batch resumes where it stopped. A failed prompt is listed in the summary and does not
stop the others.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from kellyapi import KellyAPI, errors
from kellyapi._core.api_spec import GENERATE
from kellyapi.cli import connection, files
from kellyapi.cli.endpoint import add_arguments
from kellyapi.cli.exits import FAILED, INTERRUPTED, OK, CommandError, error_name
from kellyapi.cli.progress import ProgressBar

OPTIONS = tuple(param for param in GENERATE.params if not param.required)


@attrs.frozen
class Job:
    """One prompt of the file and the image it makes."""

    line: int
    prompt: str
    path: Path


@attrs.frozen
class Failure:
    """A prompt that got no image, and why."""

    job: Job
    error: errors.BaseError | CommandError


@attrs.define
class Outcome:
    """What a batch run did."""

    total: int
    skipped: int
    generated: int = 0
    failures: list[Failure] = attrs.Factory(list)
    interrupted: bool = False
    seconds: float = 0.0


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add `kellyapi batch PROMPTS -o FOLDER [--concurrency N]` with the options of `generate`."""
    parser = commands.add_parser(
        "batch",
        help="Generate one image per line of a file; resumable.",
        description=__doc__.split("\n\n")[0] + " Lines that are empty or start with # are skipped.",
        parents=parents,
    )
    parser.add_argument("prompts", metavar="PROMPTS", help="a text file with one prompt per line, or - for stdin")
    parser.add_argument("-o", "--output", metavar="FOLDER", default=".", help="where the images go (default: here)")
    parser.add_argument("--concurrency", type=int, default=8, metavar="N", help="calls at once (default: 8)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_arguments(parser, OPTIONS)
    parser.set_defaults(handler=run)


def read_jobs(source: str, folder: Path) -> list[Job]:
    """The prompts of `source` with their output paths: `0007-a-lighthouse-at-dawn.png` for line 7."""
    text = files.read_media(source).decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    width = max(4, len(str(len(lines))))
    suffix = files.suffix_for(GENERATE.result_media_type)
    jobs = []
    for number, line in enumerate(lines, start=1):
        prompt = line.strip()
        if prompt and not prompt.startswith("#"):
            stem = f"{number:0{width}d}-{files.slug(prompt)}".rstrip("-")
            jobs.append(Job(number, prompt, folder / f"{stem}{suffix}"))
    return jobs


async def _generate_all(
    api: KellyAPI, jobs: list[Job], options: dict[str, Any], concurrency: int, outcome: Outcome
) -> None:
    bar = ProgressBar(len(jobs))
    pending: Iterator[Job] = iter(jobs)

    async def worker() -> None:
        for job in pending:  # one shared iterator: each job goes to exactly one worker
            try:
                image = await api.generate(job.prompt, **options)
                files.write_atomically(job.path, image)
                outcome.generated += 1
            except (errors.BaseError, CommandError) as exc:
                outcome.failures.append(Failure(job, exc))
            bar.update(outcome.generated + len(outcome.failures), len(outcome.failures))

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(jobs)))))
    finally:
        bar.close()


async def _run(args: argparse.Namespace, jobs: list[Job], outcome: Outcome) -> None:
    options = {argument.name: getattr(args, argument.name) for argument in OPTIONS}
    options = {name: value for name, value in options.items() if value is not None}
    with connection.target(args) as where:
        async with connection.client(args, where) as api:
            try:
                await _generate_all(api, jobs, options, args.concurrency, outcome)
            except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this task; report what was done
                outcome.interrupted = True
                uncancel = getattr(asyncio.current_task(), "uncancel", None)  # Python 3.11+
                if uncancel is not None:
                    uncancel()


def _report(outcome: Outcome, folder: Path, as_json: bool) -> None:
    if as_json:
        failures = [
            {"line": f.job.line, "prompt": f.job.prompt, "error": error_name(f.error), "message": str(f.error)}
            for f in outcome.failures
        ]
        summary = {**attrs.asdict(outcome, filter=lambda a, _: a.name != "failures"), "failures": failures}
        print(json.dumps({**summary, "output": str(folder)}, ensure_ascii=False))
        return
    done = f"{outcome.generated} generated, {outcome.skipped} already there, {len(outcome.failures)} failed"
    print(f"{outcome.total} prompts: {done} ({outcome.seconds:.1f} s); images in {folder}")
    for failure in sorted(outcome.failures, key=lambda f: f.job.line):
        print(f"  line {failure.job.line}: {error_name(failure.error)}: {failure.error}")
    left = outcome.total - outcome.skipped - outcome.generated
    if outcome.interrupted:
        print(f"interrupted: {left} prompts without an image; run the same command again to finish them")


def run(args: argparse.Namespace) -> int:
    """Generate the images of a prompts file; exit 0 if every prompt has one, 1 if some failed, 130 if interrupted."""
    if args.concurrency < 1:
        raise CommandError(f"--concurrency must be at least 1, got {args.concurrency}")
    folder = Path(args.output)
    jobs = read_jobs(args.prompts, folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create {folder}: {exc.strerror or exc}", FAILED) from None
    todo = [job for job in jobs if not job.path.exists()]
    outcome = Outcome(total=len(jobs), skipped=len(jobs) - len(todo))
    started = time.monotonic()
    try:
        asyncio.run(_run(args, todo, outcome))
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the loop started
        outcome.interrupted = True
    outcome.seconds = round(time.monotonic() - started, 3)
    _report(outcome, folder, args.json)
    sys.stdout.flush()
    if outcome.interrupted:
        return INTERRUPTED
    return FAILED if outcome.failures else OK
