"""Load under a seeded 5 % mix of every fault: one `KellyAPI` under `gather`, one `SyncKellyAPI` shared by threads.

Every call must end in the right bytes or text, or in a typed error, within its timeout; closing the client
must give back every file descriptor. CI runs the reduced size; `pytest -m load --load-size full` runs the
full one. Each test prints its figures.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import pytest

from kellyapi import KellyAPI, SyncKellyAPI, errors
from kellyapi.sandbox.media import png_size, spoken_text
from tests.sandbox_process import sandbox_process

pytestmark = pytest.mark.load

CALL_TIMEOUT = 5.0
MARGIN = 2.0  # seconds past the timeout a call may take on a loaded two-core machine
FAULTS = ("--fault-rate", "0.05", "--fault-seed", "20261126")


@attrs.frozen
class LoadSize:
    calls: int
    concurrency: int
    threads: int
    thread_calls: int


SIZES = {"full": LoadSize(2000, 200, 32, 2000), "reduced": LoadSize(300, 50, 8, 240)}


@pytest.fixture
def size(request: pytest.FixtureRequest) -> LoadSize:
    return SIZES[request.config.getoption("--load-size")]


@attrs.frozen
class Call:
    """One call of the mix and the check that its result is the right one for its arguments."""

    method: str
    arguments: dict[str, Any]
    is_right: Callable[[Any], bool]


def call_number(index: int) -> Call:
    kind = index % 3
    if kind == 0:
        prompt = f"question {index}"
        return Call("llm", {"prompt": prompt}, lambda answer: repr(prompt) in answer)
    if kind == 1:
        text = f"sentence number {index}"
        return Call("text2voice", {"text": text}, lambda audio: spoken_text(audio) == text)
    width, height = 64 + index % 50, 64 + index % 30
    return Call(
        "generate",
        {"prompt": f"image {index}", "width": width, "height": height},
        lambda image: png_size(image) == (width, height),
    )


class Tally:
    """Outcomes by class, wrong answers and the slowest call; shared by threads."""

    def __init__(self) -> None:
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.wrong: list[int] = []
        self.slowest = 0.0
        self._lock = threading.Lock()

    def add(self, index: int, call: Call, result: object, error: errors.BaseError | None, seconds: float) -> None:
        with self._lock:
            self.slowest = max(self.slowest, seconds)
            if error is not None:
                self.outcomes[type(error).__name__] += 1
            elif call.is_right(result):
                self.outcomes["ok"] += 1
            else:
                self.wrong.append(index)

    def report(self, title: str, fds_before: int, fds_after: int, wall: float) -> str:
        errors_seen = ", ".join(f"{name} {count}" for name, count in sorted(self.outcomes.items()) if name != "ok")
        return (
            f"\n{title}: {sum(self.outcomes.values()) + len(self.wrong)} calls in {wall:.1f} s,"
            f" {self.outcomes['ok']} right, {len(self.wrong)} wrong, errors: {errors_seen or 'none'};"
            f" slowest call {self.slowest:.2f} s (timeout {CALL_TIMEOUT:g} s); open fds {fds_before} -> {fds_after}"
        )


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def assert_sound(tally: Tally, calls: int, fds_before: int, fds_after: int) -> None:
    assert tally.wrong == []
    assert sum(tally.outcomes.values()) == calls
    assert tally.outcomes["ok"] >= 0.9 * calls, "retries should carry most calls through a 5 % fault rate"
    assert tally.slowest <= CALL_TIMEOUT + MARGIN
    assert fds_after == fds_before


async def gather_calls(url: str, size: LoadSize, tally: Tally) -> None:
    limit = asyncio.Semaphore(size.concurrency)
    async with KellyAPI("load-key", url, timeout=CALL_TIMEOUT) as api:

        async def one(index: int) -> None:
            call = call_number(index)
            async with limit:
                started = time.monotonic()
                result: object = None
                error: errors.BaseError | None = None
                try:
                    result = await getattr(api, call.method)(**call.arguments)
                except errors.BaseError as exc:
                    error = exc
                tally.add(index, call, result, error, time.monotonic() - started)

        await asyncio.gather(*(one(index) for index in range(size.calls)))


def test_one_async_client_gathers_thousands_of_calls_through_faults(
    size: LoadSize, capsys: pytest.CaptureFixture[str]
) -> None:
    tally = Tally()
    with sandbox_process(*FAULTS) as url:
        fds_before = open_fds()
        started = time.monotonic()
        asyncio.run(gather_calls(url, size, tally))
        wall = time.monotonic() - started
        fds_after = open_fds()
    with capsys.disabled():
        print(tally.report(f"KellyAPI, {size.concurrency} concurrent", fds_before, fds_after, wall))
    assert_sound(tally, size.calls, fds_before, fds_after)


def test_one_sync_client_shared_by_threads_through_faults(size: LoadSize, capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally()
    with sandbox_process(*FAULTS) as url:
        fds_before = open_fds()
        started = time.monotonic()
        with SyncKellyAPI("load-key", url, timeout=CALL_TIMEOUT) as api:

            def one(index: int) -> None:
                call = call_number(index)
                begun = time.monotonic()
                result: object = None
                error: errors.BaseError | None = None
                try:
                    result = getattr(api, call.method)(**call.arguments)
                except errors.BaseError as exc:
                    error = exc
                tally.add(index, call, result, error, time.monotonic() - begun)

            with ThreadPoolExecutor(size.threads) as pool:
                list(pool.map(one, range(size.thread_calls)))
        wall = time.monotonic() - started
        fds_after = open_fds()
    with capsys.disabled():
        print(tally.report(f"SyncKellyAPI, {size.threads} threads", fds_before, fds_after, wall))
    assert_sound(tally, size.thread_calls, fds_before, fds_after)
