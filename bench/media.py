"""Memory and time of a call that moves a 30 MiB image: uploaded from a Path or from bytes, or downloaded.

Both twins, each beside a plain caller on its raw transport (aiohttp, urllib3) who builds the same JSON
body with `base64.b64encode` + `json.dumps` and reads the answer with `json.loads` + `base64.b64decode`.
Each contender runs in a fresh interpreter against `bench/server.py`: after a small warm-up call, the
first large call gives the RSS growth, a few more its time per MiB (median), and one under tracemalloc
its peak of Python allocations. Both memory figures are shown as a multiple of the image's size (the
caller's own bytes, made before the call, do not count). `python -m bench.media [--quick]` prints the
table; `python -m bench` adds it to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs

MIB = 1024 * 1024
IMAGE_MIB = 30
KEY = "bench-key"
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", "Accept": "application/json"}
SCENARIOS = ("upload from a Path", "upload from bytes", "download")
PAIRS = (("kellyapi", "aiohttp"), ("kellyapi-sync", "urllib3"))  # (the SDK, its plain caller)
# The peak a call may hold, as a multiple of the image: chunks only when the file is on disk; the
# caller's bytes once; the decoded image once.
MEMORY_TARGETS = {"upload from a Path": 0.2, "upload from bytes": 1.5, "download": 1.5}


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _measure_sync(call: Callable[[], bytes], timed_calls: int) -> dict[str, Any]:
    rss_before = _rss()
    call()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    timed = []
    for _ in range(timed_calls):
        started = time.perf_counter()
        call()
        timed.append(time.perf_counter() - started)
    tracemalloc.start()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rss_growth": rss_growth, "seconds_per_mib": statistics.median(timed) / IMAGE_MIB, "traced_peak": peak}


async def _measure_async(call: Callable[[], Awaitable[bytes]], timed_calls: int) -> dict[str, Any]:
    rss_before = _rss()
    await call()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    timed = []
    for _ in range(timed_calls):
        started = time.perf_counter()
        await call()
        timed.append(time.perf_counter() - started)
    tracemalloc.start()
    await call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rss_growth": rss_growth, "seconds_per_mib": statistics.median(timed) / IMAGE_MIB, "traced_peak": peak}


def _plain_body(media: bytes | Path) -> bytes:
    """The upscale body as a plain caller builds it."""
    data = media.read_bytes() if isinstance(media, Path) else media
    return json.dumps({"image_data": base64.b64encode(data).decode("ascii"), "responseType": "base64data"}).encode()


def _plain_result(answer: bytes) -> bytes:
    return base64.b64decode(json.loads(answer)["image"])


GENERATE_BODY = json.dumps({"prompt": "big", "width": 64, "height": 64, "responseType": "base64data"}).encode()


def worker(contender: str, scenario: str, url: str, image_file: str, timed_calls: int) -> dict[str, Any]:
    """One contender's figures for one scenario, in this interpreter."""
    path = Path(image_file)
    media: bytes | Path = path.read_bytes() if scenario == "upload from bytes" else path
    upload = scenario != "download"
    if contender == "kellyapi":
        from kellyapi import KellyAPI

        async def sdk() -> dict[str, Any]:
            async with KellyAPI(KEY, url) as api:
                await api.llm("warm up")
                if upload:
                    return await _measure_async(lambda: api.upscale(media), timed_calls)
                return await _measure_async(lambda: api.generate("big", width=64, height=64), timed_calls)

        return asyncio.run(sdk())
    if contender == "aiohttp":
        import aiohttp

        async def raw() -> dict[str, Any]:
            async with aiohttp.ClientSession() as session:

                async def call() -> bytes:
                    route, body = ("image/upscale", _plain_body(media)) if upload else ("image/generate", GENERATE_BODY)
                    async with session.post(url + route, data=body, headers=HEADERS) as response:
                        return _plain_result(await response.read())

                async with session.post(url + "chat/chatgpt", data=b'{"prompt":"warm up"}', headers=HEADERS):
                    pass
                return await _measure_async(call, timed_calls)

        return asyncio.run(raw())
    if contender == "kellyapi-sync":
        from kellyapi import SyncKellyAPI

        with SyncKellyAPI(KEY, url) as api:
            api.llm("warm up")
            if upload:
                return _measure_sync(lambda: api.upscale(media), timed_calls)
            return _measure_sync(lambda: api.generate("big", width=64, height=64), timed_calls)
    import urllib3

    pool = urllib3.PoolManager()
    pool.request("POST", url + "chat/chatgpt", body=b'{"prompt":"warm up"}', headers=HEADERS)

    def call() -> bytes:
        route, body = ("image/upscale", _plain_body(media)) if upload else ("image/generate", GENERATE_BODY)
        return _plain_result(pool.request("POST", url + route, body=body, headers=HEADERS).data)

    return _measure_sync(call, timed_calls)


@attrs.frozen
class Outcome:
    """One contender's figures for one scenario in one round."""

    scenario: str
    contender: str
    traced: float  # peak tracemalloc ÷ image size
    rss: float  # RSS growth ÷ image size
    seconds_per_mib: float


def image_file(folder: Path) -> Path:
    """A 30 MiB file that starts as a PNG."""
    path = folder / "image.png"
    with path.open("wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n")
        out.write(os.urandom(IMAGE_MIB * MIB - 8))
    return path


def run(url: str, rounds: int, timed_calls: int, run_worker: Callable[..., Any]) -> list[Outcome]:
    """Every scenario and contender, `rounds` times, each in a worker started by `run_worker`."""
    outcomes = []
    with tempfile.TemporaryDirectory() as folder:
        image = image_file(Path(folder))
        for _ in range(rounds):
            for scenario in SCENARIOS:
                for pair in PAIRS:
                    for contender in pair:
                        got = run_worker(contender, scenario, url, str(image), timed_calls)
                        size = IMAGE_MIB * MIB
                        outcomes.append(
                            Outcome(
                                scenario,
                                contender,
                                got["traced_peak"] / size,
                                got["rss_growth"] / size,
                                got["seconds_per_mib"],
                            )
                        )
    return outcomes


def _median(outcomes: list[Outcome], scenario: str, contender: str, figure: str) -> tuple[float, float]:
    """The median of a figure over rounds, and its spread (max - min) ÷ median."""
    values = [getattr(o, figure) for o in outcomes if o.scenario == scenario and o.contender == contender]
    middle = statistics.median(values)
    return middle, (max(values) - min(values)) / middle if middle else 0.0


def verdicts(outcomes: list[Outcome]) -> list[tuple[str, str, str, str, str]]:
    """The targets for the SDK's contenders: (label, value, noise, goal, met)."""
    rows = []
    for scenario in SCENARIOS:
        for ours, _ in PAIRS:
            traced, _spread = _median(outcomes, scenario, ours, "traced")
            goal = MEMORY_TARGETS[scenario]
            rows.append(
                (
                    f"{ours}: peak memory, {scenario} of 30 MiB, x image (tracemalloc)",
                    f"{traced:.2f}",
                    "",
                    f"≤ {goal}",
                    "yes" if traced <= goal else "**no**",
                )
            )
    for scenario in SCENARIOS:
        for ours, raw in PAIRS:
            mine, mine_spread = _median(outcomes, scenario, ours, "seconds_per_mib")
            theirs, their_spread = _median(outcomes, scenario, raw, "seconds_per_mib")
            ratio, noise = mine / theirs, (mine_spread + their_spread) * mine / theirs
            met = "yes" if ratio <= 1.0 else "within noise" if ratio - noise <= 1.0 else "**no**"
            rows.append((f"{ours} / {raw}: time per MiB, {scenario}", f"{ratio:.3f}", f"{noise:.3f}", "≤ 1.0", met))
    return rows


def render(outcomes: list[Outcome]) -> str:
    """Every contender's figures as a Markdown table."""
    lines = [
        f"Media of {IMAGE_MIB} MiB (median of rounds; memory as a multiple of the image's size):",
        "",
        "| scenario | contender | peak (tracemalloc) | RSS growth | time per MiB |",
        "|---|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        for pair in PAIRS:
            for contender in pair:
                traced, _ = _median(outcomes, scenario, contender, "traced")
                rss, _ = _median(outcomes, scenario, contender, "rss")
                seconds, spread = _median(outcomes, scenario, contender, "seconds_per_mib")
                time_per_mib = f"{seconds * 1000:.2f} ms ± {spread:.0%}"
                lines.append(f"| {scenario} | {contender} | {traced:.2f}x | {rss:.2f}x | {time_per_mib} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`--worker ...` measures one contender; otherwise run every scenario against a fresh server and print."""
    parser = argparse.ArgumentParser(prog="python -m bench.media", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, one timed call")
    parser.add_argument("--worker", nargs=5, metavar=("CONTENDER", "SCENARIO", "URL", "FILE", "CALLS"))
    args = parser.parse_args(argv)
    if args.worker:
        contender, scenario, url, file, calls = args.worker
        print(json.dumps(worker(contender, scenario, url, file, int(calls))))
        return 0
    from bench.__main__ import run_media_worker, server

    with server(None) as url:
        outcomes = run(url, 1 if args.quick else 3, 1 if args.quick else 3, run_media_worker)
    print("| target | value | noise (±) | goal | met |\n|---|---|---|---|---|")
    print("\n".join("| " + " | ".join(row) + " |" for row in verdicts(outcomes)) + "\n")
    print(render(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
