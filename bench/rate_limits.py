"""Throughput under the API's rate limit: many calls against a sandbox that accepts 20 calls a second
(a token bucket with bursts of 20, `429` with `Retry-After` beyond it) and takes 0.3 s per accepted call.

Each scenario runs the clients in fresh processes (the sandbox runs in this one) and reports the completion
time over the ideal ((calls - burst) / rate + latency), the share of requests the sandbox refused, and
the calls that failed. `python -m bench.rate_limits [--quick]` prints the table; `python -m bench` adds it
to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from typing import Any

import attrs

from kellyapi.sandbox import Sandbox
from kellyapi.sandbox.throttle import RateLimit

RATE = 20.0
LATENCY = 0.3

# (label, client options): today's default, the old behaviour, a user's longer retries, a fixed throttle.
CONTENDERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("adaptive pace (default)", {}),
    ("each call on its own (max_retries=2)", {"adaptive_rate": False}),
    ("each call on its own, max_retries=10", {"adaptive_rate": False, "max_retries": 10}),
    ("fixed throttle at the true 20/s", {"adaptive_rate": False, "max_rate": RATE}),
)

CLIENT = """
import asyncio, json, sys, time, threading
from concurrent.futures import ThreadPoolExecutor
from kellyapi import KellyAPI, SyncKellyAPI, errors
url, mode, calls, options = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])

async def tasks():
    async with KellyAPI("bench-key", url, **options) as api:
        return await asyncio.gather(*(api.llm(f"call {i}") for i in range(calls)), return_exceptions=True)

def threads(count):
    with SyncKellyAPI("bench-key", url, **options) as api:
        def one(i):
            try:
                return api.llm(f"call {i}")
            except errors.BaseError as error:
                return error
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(one, range(calls)))

started = time.monotonic()
results = asyncio.run(tasks()) if mode == "tasks" else threads(int(mode.split(":")[1]))
seconds = time.monotonic() - started
print(json.dumps({"seconds": seconds, "failed": sum(isinstance(r, BaseException) for r in results)}))
"""


@attrs.frozen
class Outcome:
    """One scenario run by one contender."""

    scenario: str
    contender: str
    seconds: float
    ideal: float
    requests: int
    refused: int
    failed: int
    calls: int

    @property
    def ratio(self) -> float:
        """Completion time over the ideal."""
        return self.seconds / self.ideal

    @property
    def refused_share(self) -> float:
        """The share of all requests the API refused with a 429."""
        return self.refused / self.requests if self.requests else 0.0


def _clients(url: str, mode: str, calls: int, options: dict[str, Any], processes: int) -> tuple[float, int]:
    commands = [[sys.executable, "-c", CLIENT, url, mode, str(calls), json.dumps(options)]] * processes
    started = time.monotonic()
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for command in commands]
    outputs = [json.loads(process.communicate(timeout=600)[0]) for process in running]
    return time.monotonic() - started, sum(output["failed"] for output in outputs)


def _drop_and_rise(sandbox: Sandbox, schedule: tuple[tuple[float, float], ...], stop: threading.Event) -> None:
    started = time.monotonic()
    for at, rate in schedule:
        if stop.wait(max(0.0, at - (time.monotonic() - started))):
            return
        sandbox.state.throttle.limit = RateLimit(rate)


def run_scenario(
    scenario: str,
    contender: str,
    options: dict[str, Any],
    *,
    mode: str,
    calls: int,
    processes: int = 1,
    schedule: tuple[tuple[float, float], ...] = (),
    ideal: float | None = None,
) -> Outcome:
    """Run `processes` client processes of `calls` calls each against a fresh rate-limited sandbox."""
    total = calls * processes
    with Sandbox(rate_limit=RATE, latency=LATENCY) as sandbox:
        stop = threading.Event()
        changer = threading.Thread(target=_drop_and_rise, args=(sandbox, schedule, stop), daemon=True)
        changer.start()
        # Time to start the interpreters is not the client's: subtract a bare interpreter's start-up.
        seconds, failed = _clients(sandbox.url, mode, calls, options, processes)
        stop.set()
        changer.join()
        statuses = [request.status for request in sandbox.state.requests]
    seconds -= _startup_seconds()
    return Outcome(
        scenario,
        contender,
        seconds,
        ideal if ideal is not None else (total - RATE) / RATE + LATENCY,
        len(statuses),
        statuses.count(429),
        failed,
        total,
    )


_STARTUP: list[float] = []


def _startup_seconds() -> float:
    """How long starting a client process takes before its first call (importing kellyapi)."""
    if not _STARTUP:
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import kellyapi, kellyapi._sync"], check=True)
        _STARTUP.append(time.monotonic() - started)
    return _STARTUP[0]


def run(quick: bool) -> list[Outcome]:
    """Every scenario and contender (with --quick: one reduced scenario, the default client only)."""
    if quick:
        return [run_scenario("60 gathered calls, one KellyAPI", CONTENDERS[0][0], {}, mode="tasks", calls=60)]
    outcomes = []
    for label, options in CONTENDERS:
        outcomes.append(run_scenario("200 gathered calls, one KellyAPI", label, options, mode="tasks", calls=200))
        outcomes.append(run_scenario("32 threads, one SyncKellyAPI", label, options, mode="threads:32", calls=200))
        outcomes.append(
            run_scenario("4 processes, a KellyAPI each", label, options, mode="tasks", calls=50, processes=4)
        )
    # 20/s for 4 s, then 5/s for 6 s, then 20/s again: 20 + 80 + 30 accepted by 10 s, the other 170 in 8.5 s.
    schedule = ((4.0, 5.0), (10.0, RATE))
    for label, options in (CONTENDERS[0], CONTENDERS[3]):
        outcomes.append(
            run_scenario(
                "limit 20/s, then 5/s, then 20/s",
                label,
                options,
                mode="tasks",
                calls=300,
                schedule=schedule,
                ideal=10.0 + 170 / RATE + LATENCY,
            )
        )
    return outcomes


ONE_CLIENT = ("200 gathered calls, one KellyAPI", "32 threads, one SyncKellyAPI")
PROCESSES = "4 processes, a KellyAPI each"


def verdicts(outcomes: list[Outcome]) -> list[str]:
    """The issue's targets for the default client, each with whether the run met it (Markdown rows)."""
    ours = [outcome for outcome in outcomes if outcome.contender == CONTENDERS[0][0]]
    rows = []

    def row(label: str, value: str, goal: str, met: bool) -> None:
        rows.append(f"| {label} | {value} | {goal} | {'yes' if met else '**no**'} |")

    failed = sum(outcome.failed for outcome in ours)
    row("rate limit: calls failed, default client, every scenario", str(failed), "0", failed == 0)
    # The time and refusal targets are set for 200 calls; --quick's reduced run is shown in the table but
    # not judged: there the cold start's round trips and the first pause weigh several times more.
    judged = [outcome for outcome in ours if outcome.calls >= 200]
    for outcome in judged:
        goal = 1.3 if outcome.scenario == PROCESSES else 1.15 if outcome.scenario in ONE_CLIENT else None
        if goal is not None:
            row(
                f"rate limit: time / ideal, {outcome.scenario}",
                f"{outcome.ratio:.2f}",
                f"≤ {goal}",
                outcome.ratio <= goal,
            )
    for outcome in judged:
        share = outcome.refused_share
        row(f"rate limit: requests refused, {outcome.scenario}", f"{share:.1%}", "≤ 10%", share <= 0.10)
    return rows


def render(outcomes: list[Outcome]) -> str:
    """The outcomes as a Markdown table."""
    lines = [
        f"Rate limit {RATE:g}/s (bursts of {RATE:g}, then 429 with Retry-After), {LATENCY:g} s per accepted call:",
        "",
        "| scenario | client | calls | time | time / ideal | requests refused | failed calls |",
        "|---|---|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        lines.append(
            f"| {outcome.scenario} | {outcome.contender} | {outcome.calls} | {outcome.seconds:.1f} s"
            f" | {outcome.ratio:.2f} | {outcome.refused}/{outcome.requests} ({outcome.refused_share:.0%})"
            f" | {outcome.failed} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the rate-limit scenarios and print their table."""
    parser = argparse.ArgumentParser(prog="python -m bench.rate_limits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one reduced scenario")
    args = parser.parse_args(argv)
    outcomes = run(args.quick)
    print("| target | value | goal | met |\n|---|---|---|---|\n" + "\n".join(verdicts(outcomes)) + "\n")
    print(render(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
