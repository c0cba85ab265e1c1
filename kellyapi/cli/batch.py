"""`kellyapi batch`: one image per line of a prompts file, through one KellyAPI with bounded concurrency.

Each image is named after its prompt and a fingerprint of the prompt and every option that shapes the
result (model, size, negative prompt), so a second run skips exactly the images that exist: an
interrupted batch resumes where it stopped, a changed option makes new images, and an inserted line
makes one. A failed prompt is listed in the summary and does not stop the others; an error that would
fail every prompt (a refused key, an unreachable API, an option the API refuses) stops the batch.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from kellyapi import KellyAPI, errors
from kellyapi._core.api_spec import GENERATE
from kellyapi.cli import connection, files
from kellyapi.cli.endpoint import add_arguments
from kellyapi.cli.exits import FAILED, INTERRUPTED, OK, CommandError, error_name, for_error
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
    stopped_by: errors.BaseError | None = None  # an error every prompt would get: the batch stopped early


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
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be made and how many calls it takes; call nothing"
    )
    add_arguments(parser, OPTIONS)
    parser.set_defaults(handler=run)


def _fingerprint(prompt: str, options: dict[str, Any]) -> str:
    shaping = {param.name: options.get(param.name, param.default) for param in OPTIONS}
    key = json.dumps({"prompt": prompt, **shaping}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _prompt_lines(source: str) -> list[str]:
    data = files.read_media(source)
    where = "standard input" if source == files.STDIO else source
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandError(f"{where} is not UTF-8 text (byte {exc.start}): batch takes one prompt per line") from None
    if "\x00" in text:
        raise CommandError(f"{where} is not a text file (it holds NUL bytes): batch takes one prompt per line")
    return text.splitlines()


def read_jobs(source: str, folder: Path, options: dict[str, Any]) -> list[Job]:
    """The prompts of `source`, each with its image's path: `a-lighthouse-at-dawn-3f9a1c2b70.png`.

    The name holds a fingerprint of the prompt and the options that shape the image, so an existing
    file is the very image this run would make; a prompt given twice with the same options is made once.
    """
    suffix = files.suffix_for(GENERATE.result_media_type)
    jobs: dict[Path, Job] = {}
    for number, line in enumerate(_prompt_lines(source), start=1):
        prompt = line.strip()
        if prompt and not prompt.startswith("#"):
            stem = f"{files.slug(prompt) or 'prompt'}-{_fingerprint(prompt, options)}"
            path = folder / f"{stem}{suffix}"
            jobs.setdefault(path, Job(number, prompt, path))
    return list(jobs.values())


def fails_every_prompt(error: errors.BaseError) -> bool:
    """Whether the same error awaits every other prompt: a refused key, no API there, an option refused."""
    if isinstance(error, errors.InvalidApiKey):
        return True
    if isinstance(error, errors.ConnectionError):
        # Connecting failed (refused, no such host, a proxy or certificate refused): not one prompt's bad luck.
        return error._deterministic or isinstance(error.__cause__, aiohttp.ClientConnectorError)
    if isinstance(error, errors.InvalidRequest):
        if error.status_code in (404, 405):  # no such route: --api points elsewhere
            return True
        problems = error.detail if isinstance(error.detail, list) else []
        fields = [problem.get("loc", [])[-1:] for problem in problems if isinstance(problem, dict)]
        return any(field and field != ["prompt"] for field in fields)  # the options, which every call shares
    return False


async def _generate_all(
    api: KellyAPI, jobs: list[Job], options: dict[str, Any], concurrency: int, outcome: Outcome
) -> None:
    bar = ProgressBar(len(jobs))
    pending: Iterator[Job] = iter(jobs)

    async def worker() -> None:
        for job in pending:  # one shared iterator: each job goes to exactly one worker
            if outcome.stopped_by is not None:
                return
            try:
                image = await api.generate(job.prompt, **options)
                # A write may wait on a disk: in a thread, so the other calls' sockets keep being served.
                await asyncio.to_thread(files.write_atomically, job.path, image)
                outcome.generated += 1
            except errors.BaseError as exc:
                outcome.failures.append(Failure(job, exc))
                if fails_every_prompt(exc) and outcome.stopped_by is None:
                    outcome.stopped_by = exc  # the calls already under way end; no other starts
            except CommandError as exc:
                outcome.failures.append(Failure(job, exc))
            bar.update(outcome.generated + len(outcome.failures), len(outcome.failures), api.paced_rate)

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(jobs)))))
    finally:
        bar.close()


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options = {param.name: getattr(args, param.name) for param in OPTIONS}
    return {name: value for name, value in options.items() if value is not None}


async def _run(args: argparse.Namespace, jobs: list[Job], outcome: Outcome) -> None:
    with connection.target(args) as where:
        async with connection.client(args, where) as api:
            try:
                await _generate_all(api, jobs, _options(args), args.concurrency, outcome)
            except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this task; report what was done
                outcome.interrupted = True
                uncancel = getattr(asyncio.current_task(), "uncancel", None)  # Python 3.11+
                if uncancel is not None:
                    uncancel()


def _counted(count: int, thing: str) -> str:
    return f"{count} {thing}" if count == 1 else f"{count} {thing}s"


def _report(outcome: Outcome, folder: Path, as_json: bool) -> None:
    if as_json:
        failures = [
            {"line": f.job.line, "prompt": f.job.prompt, "error": error_name(f.error), "message": str(f.error)}
            for f in outcome.failures
        ]
        summary = {
            **attrs.asdict(outcome, filter=lambda a, _: a.name not in ("failures", "stopped_by")),
            "failures": failures,
            "stopped_by": None if outcome.stopped_by is None else error_name(outcome.stopped_by),
        }
        print(json.dumps({**summary, "output": str(folder)}, ensure_ascii=False))
        return
    done = f"{outcome.generated} generated, {outcome.skipped} already there, {len(outcome.failures)} failed"
    print(f"{outcome.total} prompts: {done} ({outcome.seconds:.1f} s); images in {folder}")
    for failure in sorted(outcome.failures, key=lambda f: f.job.line):
        print(f"  line {failure.job.line}: {error_name(failure.error)}: {failure.error}")
    left = outcome.total - outcome.skipped - outcome.generated  # the failed prompts and those never tried
    if outcome.stopped_by is not None:
        calls = outcome.generated + len(outcome.failures)
        print(
            f"stopped after {_counted(calls, 'call')}: every prompt would fail with {error_name(outcome.stopped_by)};"
            f" fix that and run the same command again to make the {_counted(left, 'prompt')} without an image"
        )
    if outcome.interrupted:
        print(f"interrupted: {_counted(left, 'prompt')} without an image; run the same command again to finish them")


def _dry_run(jobs: list[Job], todo: list[Job], args: argparse.Namespace) -> int:
    for job in todo:
        print(f"would make {job.path}  (line {job.line}: {job.prompt})")
    attempts = len(todo) * (args.max_retries + 1)
    print(
        f"{len(jobs)} prompts: {len(todo)} to make, {len(jobs) - len(todo)} already there;"
        f" {len(todo)} calls (at most {attempts} HTTP attempts with --max-retries {args.max_retries})"
    )
    return OK


def run(args: argparse.Namespace) -> int:
    """Generate the images of a prompts file; exit 0 if every prompt has one, 1 if some failed, 130 if interrupted."""
    if args.concurrency < 1:
        raise CommandError(f"--concurrency must be at least 1, got {args.concurrency}")
    folder = Path(args.output)
    jobs = read_jobs(args.prompts, folder, _options(args))
    todo = [job for job in jobs if not job.path.exists()]
    if args.dry_run:
        return _dry_run(jobs, todo, args)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create {folder}: {exc.strerror or exc}", FAILED) from None
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
    if outcome.stopped_by is not None:
        return for_error(outcome.stopped_by)
    return FAILED if outcome.failures else OK
