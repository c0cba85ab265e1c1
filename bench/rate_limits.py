"""The 429s real APIs send, on real sockets against the sandbox: a token bucket (20 calls a second, bursts of 20,
`429` with `Retry-After`, 0.3 s per accepted call) met by one client, by threads, by 4, 16 and 32 processes and
through a limit that falls and rises; random load shedding; a mix of faults; a used-up quota; calls cancelled at
random points; a `Retry-After` of years.

Client processes are fresh interpreters (the sandbox runs in this one). Each row gives the time over the ideal
((calls - burst) / rate + latency) or over the same load with `adaptive_rate=False`, the share of requests the
sandbox refused, the calls that failed, and the requests a failed call cost. `python -m bench.rate_limits
[--quick]` prints the tables; `python -m bench` adds them to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs

from kellyapi import KellyAPI, SyncKellyAPI, errors
from kellyapi.sandbox import Sandbox
from kellyapi.sandbox.throttle import RateLimit

RATE = 20.0
LATENCY = 0.3
KEY = "bench-key"

# (label, client options): the default, each call on its own, a user's longer retries, a fixed throttle.
DEFAULT = "adaptive pace (default)"
CONTENDERS: tuple[tuple[str, dict[str, Any]], ...] = (
    (DEFAULT, {}),
    ("each call on its own (max_retries=2)", {"adaptive_rate": False}),
    ("each call on its own, max_retries=10", {"adaptive_rate": False, "max_retries": 10}),
    ("fixed throttle at the true 20/s", {"adaptive_rate": False, "max_rate": RATE}),
)
ON_ITS_OWN = CONTENDERS[1]
# Load shedding: 429 with Retry-After 0, or none. The mixed load: 5 % faults, 3 in 10 of them such a 429.
SHEDDING = ("429-now", "429-shed")
# A shedding load takes about a second, much of it the slowest call's backoff draws: its time is the median of
# rounds, the two contenders interleaved, each round's two drawing the same backoffs (one seed) and meeting the
# same faults in the order the requests come. Medians of three unseeded rounds read from 0.99 to 1.47 times the
# uncontrolled client's between full runs of unchanged code. The quick run keeps three.
SHEDDING_ROUNDS = 7
QUICK_SHEDDING_ROUNDS = 3
FLEET = "one key, many processes"
MIXED = ("429-now", "429-now", "429-now", "500", "503", "503-plain", "502-html", "reset", "500-plain", "short-body")

CLIENT = """
import asyncio, json, random, sys, time
from concurrent.futures import ThreadPoolExecutor
from kellyapi import KellyAPI, SyncKellyAPI, RedisLimiter, errors
url, mode, calls, options = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
random.seed(options.pop("seed", None))
redis_url = options.pop("redis", None)
limiter = RedisLimiter(redis_url, max_rate=options.pop("max_rate", None)) if redis_url else None

async def tasks():
    async with KellyAPI("bench-key", url, limiter=limiter, **options) as api:
        results = await asyncio.gather(*(api.llm(f"call {i}") for i in range(calls)), return_exceptions=True)
    if limiter is not None:
        await limiter.aclose()
    return results

def threads(count):
    with SyncKellyAPI("bench-key", url, limiter=limiter, **options) as api:
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
print(json.dumps({
    "seconds": seconds,
    "failed": sum(isinstance(r, BaseException) for r in results),
    "rate_limited": sum(isinstance(r, errors.RateLimitError) for r in results),
}))
"""


@attrs.frozen
class Outcome:
    """One scenario run by one contender."""

    family: str
    scenario: str
    contender: str
    seconds: float
    reference: float  # the ideal time, or the time of the same load with adaptive_rate=False
    requests: int
    refused: int
    failed: int
    calls: int
    rate_limited: int = 0  # failed calls that ended in RateLimitError

    @property
    def ratio(self) -> float:
        """Completion time over the reference."""
        return self.seconds / self.reference

    @property
    def refused_share(self) -> float:
        """The share of all requests the API refused with a 429."""
        return self.refused / self.requests if self.requests else 0.0

    @property
    def requests_per_failure(self) -> float | None:
        """Requests sent for each failed call (None when none failed)."""
        return self.requests / self.failed if self.failed else None


def _startup_seconds() -> float:
    """How long starting a client process takes before its first call (importing kellyapi)."""
    if not _STARTUP:
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import kellyapi, kellyapi._sync"], check=True)
        _STARTUP.append(time.monotonic() - started)
    return _STARTUP[0]


_STARTUP: list[float] = []


def _clients(url: str, modes: list[str], calls: int, options: dict[str, Any]) -> dict[str, float]:
    commands = [[sys.executable, "-c", CLIENT, url, mode, str(calls), json.dumps(options)] for mode in modes]
    started = time.monotonic()
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for command in commands]
    outputs = [json.loads(process.communicate(timeout=900)[0]) for process in running]
    return {
        "seconds": time.monotonic() - started - _startup_seconds(),
        "failed": sum(output["failed"] for output in outputs),
        "rate_limited": sum(output["rate_limited"] for output in outputs),
    }


def _drop_and_rise(sandbox: Sandbox, schedule: tuple[tuple[float, float], ...], stop: threading.Event) -> None:
    started = time.monotonic()
    for at, rate in schedule:
        if stop.wait(max(0.0, at - (time.monotonic() - started))):
            return
        sandbox.state.throttle.limit = RateLimit(rate)


def run_load(
    family: str,
    scenario: str,
    contender: tuple[str, dict[str, Any]],
    *,
    modes: list[str],
    calls: int,
    reference: float | None = None,
    rate_limit: float | None = RATE,
    latency: float = LATENCY,
    schedule: tuple[tuple[float, float], ...] = (),
    faults: tuple[float, tuple[str, ...]] | None = None,
) -> Outcome:
    """Run one client process per mode, `calls` calls each, against a fresh sandbox."""
    total = calls * len(modes)
    with Sandbox(rate_limit=rate_limit, latency=latency) as sandbox:
        if faults is not None:
            sandbox.faults.randomly(faults[0], seed=20261201, kinds=faults[1])
        stop = threading.Event()
        changer = threading.Thread(target=_drop_and_rise, args=(sandbox, schedule, stop), daemon=True)
        changer.start()
        result = _clients(sandbox.url, modes, calls, contender[1])
        stop.set()
        changer.join()
        statuses = [request.status for request in sandbox.state.requests]
    if reference is None:
        reference = (total - RATE) / RATE + latency
    return Outcome(
        family,
        scenario,
        contender[0],
        result["seconds"],
        reference,
        len(statuses),
        statuses.count(429),
        int(result["failed"]),
        total,
        int(result["rate_limited"]),
    )


# -- a used-up quota, cancellations, a Retry-After of years: one client in this process ----------------------


@attrs.frozen
class Check:
    """A measured figure of a scenario, with its target."""

    family: str
    what: str
    value: float
    goal: str
    met: bool
    unit: str = ""


def _quota_checks(retry_after: bool) -> list[Check]:
    label = "Retry-After 1" if retry_after else "no Retry-After"
    checks = []
    with Sandbox() as sandbox:
        sandbox.faults.add("chat/{model}", "429" if retry_after else "429-shed", times=100_000)

        async def run() -> None:
            async with KellyAPI(KEY, sandbox.url) as api:
                started = time.monotonic()
                with contextlib.suppress(errors.RateLimitError):
                    await api.llm("one")
                seconds = time.monotonic() - started
                one = len(sandbox.state.requests)
                checks.append(Check("quota", f"one call, {label}: requests", one, "≤ 3", one <= 3))
                checks.append(Check("quota", f"one call, {label}: seconds to fail", seconds, "≤ 5", seconds <= 5, "s"))
                await asyncio.gather(*(api.llm("ten") for _ in range(10)), return_exceptions=True)
                ten = len(sandbox.state.requests) - one
                checks.append(Check("quota", f"10 gathered calls, {label}: requests", ten, "≤ 30", ten <= 30))
                before = len(sandbox.state.requests)
                calls = []
                for _ in range(100):
                    calls.append(asyncio.ensure_future(api.llm("more")))
                    await asyncio.sleep(0.1)
                await asyncio.gather(*calls, return_exceptions=True)
                more = len(sandbox.state.requests) - before
                checks.append(Check("quota", f"100 calls over 10 s after, {label}: requests", more, "≤ 20", more <= 20))

        asyncio.run(run())
    return checks


def _cancellation_checks() -> list[Check]:
    checks = []
    chance = random.Random(20261201)
    with Sandbox(latency=0.5) as sandbox:

        async def twenty(api: KellyAPI) -> float:
            started = time.monotonic()
            results = await asyncio.gather(*(api.llm(f"after {i}", timeout=10) for i in range(20)))
            assert all(isinstance(result, str) for result in results)
            return time.monotonic() - started

        async def run() -> None:
            async with KellyAPI(KEY, sandbox.url) as api:
                for _ in range(4):
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(api.llm("cancelled"), 0.1)
                seconds = await twenty(api)
                checks.append(
                    Check("cancellation", "20 calls after 4 cancelled: seconds", seconds, "≤ 2", seconds <= 2, "s")
                )
            async with KellyAPI(KEY, sandbox.url) as api:
                tasks = [asyncio.ensure_future(api.llm(f"call {i}")) for i in range(30)]
                for task in tasks:
                    asyncio.get_running_loop().call_later(chance.uniform(0, 0.6), task.cancel)
                await asyncio.gather(*tasks, return_exceptions=True)
                seconds = await twenty(api)
                checks.append(
                    Check(
                        "cancellation",
                        "20 calls after 30 cancelled at random: seconds",
                        seconds,
                        "≤ 2",
                        seconds <= 2,
                        "s",
                    )
                )
            sandbox.state.throttle.latency = {"*": 0.05}
            sandbox.faults.add("chat/{model}", "429", times=1)
            async with KellyAPI(KEY, sandbox.url) as api:
                tasks = [asyncio.ensure_future(api.llm(f"call {i}")) for i in range(10)]
                await asyncio.sleep(0.3)  # the 429's pause is on: the calls wait for it
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                seconds = await twenty(api)
                checks.append(
                    Check(
                        "cancellation",
                        "20 calls after calls cancelled in a 429 pause: seconds",
                        seconds,
                        "≤ 5",
                        seconds <= 5,
                        "s",
                    )
                )

        asyncio.run(run())
    return checks


def _huge_retry_after_checks() -> list[Check]:
    checks = []
    with Sandbox() as sandbox:
        sandbox.faults.add("chat/{model}", status=429, retry_after="99999999999999999999")
        with SyncKellyAPI(KEY, sandbox.url) as api:
            started = time.monotonic()
            with contextlib.suppress(errors.RateLimitError):
                api.llm("refused")
            failed_in = time.monotonic() - started
            started = time.monotonic()
            api.sd_models()
            next_in = time.monotonic() - started
    checks.append(
        Check("Retry-After of years", "the refused call fails in", failed_in, "at once (≤ 1 s)", failed_in <= 1, "s")
    )
    checks.append(Check("Retry-After of years", "the next healthy call takes", next_in, "≤ 1 s", next_in <= 1, "s"))
    return checks


OVERLOAD_WORKERS = 100  # calls at once, each the next as soon as the last ends: 5 s of the bucket's turns...
OVERLOAD_TIMEOUT = 2.0  # ...for calls that give up after 2 s: most must fail
OVERLOAD_SECONDS = 10.0


def _overload_checks() -> list[Check]:
    """More calls than the API accepts, for longer than their timeout: the line for a turn outlasts the calls
    in it, and most must fail. What counts is where the API's turns go: to calls that get their answers, or to
    calls about to expire, whose answers come too late (the API's work thrown away)."""
    with Sandbox(rate_limit=RATE, latency=LATENCY) as sandbox:

        async def run() -> tuple[int, float]:
            answered = 0
            async with KellyAPI(KEY, sandbox.url, timeout=OVERLOAD_TIMEOUT) as api:
                started = time.monotonic()

                async def worker() -> None:
                    nonlocal answered
                    while time.monotonic() - started < OVERLOAD_SECONDS:
                        try:
                            await api.llm("overload")
                            answered += 1
                        except errors.BaseError:
                            await asyncio.sleep(0)  # (a call refused at once: the next one, as a user's loop)

                await asyncio.gather(*(worker() for _ in range(OVERLOAD_WORKERS)))
                return answered, time.monotonic() - started

        answered, seconds = asyncio.run(run())
        accepted = sum(request.status == 200 for request in sandbox.state.requests)
    scenario = f"{OVERLOAD_WORKERS} tasks, timeout {OVERLOAD_TIMEOUT:g} s, {OVERLOAD_SECONDS:g} s"
    lost = (accepted - answered) / accepted if accepted else 0.0
    rate = answered / seconds / RATE
    return [
        Check("overload", f"{scenario}: accepted answers thrown away", 100 * lost, "≤ 5 %", lost <= 0.05, "%"),
        Check("overload", f"{scenario}: calls answered a second / limit", round(rate, 2), "≥ 0.75", rate >= 0.75),
    ]


def run_checks(quick: bool) -> list[Check]:
    """The quota, cancellation, overload and huge Retry-After scenarios."""
    checks = _quota_checks(retry_after=False)
    if not quick:
        checks += _quota_checks(retry_after=True)
    checks += _cancellation_checks() + _overload_checks() + _huge_retry_after_checks()
    return checks


# -- the loads ----------------------------------------------------------------------------------------------


def _shedding(quick: bool) -> list[Outcome]:
    outcomes = []
    loads = [
        ("2,000 gathered calls, one KellyAPI", ["tasks"], 2000),
        ("800 calls, 32 threads, one SyncKellyAPI", ["threads:32"], 800),
    ]
    for scenario, modes, calls in loads[:1] if quick else loads:
        count = QUICK_SHEDDING_ROUNDS if quick else SHEDDING_ROUNDS
        rounds: dict[str, list[Outcome]] = {DEFAULT: [], ON_ITS_OWN[0]: []}
        for seed in range(count):
            for name, options in (ON_ITS_OWN, CONTENDERS[0]):
                rounds[name].append(
                    run_load(
                        "shedding 1.5 %",
                        scenario,
                        (name, {**options, "seed": seed}),  # the same backoff draws on both sides
                        modes=modes,
                        calls=calls,
                        reference=1.0,
                        rate_limit=None,
                        latency=0.0,
                        faults=(0.015, SHEDDING),
                    )
                )
        theirs, ours = rounds[ON_ITS_OWN[0]], rounds[DEFAULT]
        median_theirs = sorted(theirs, key=lambda outcome: outcome.seconds)[count // 2]
        median_ours = sorted(ours, key=lambda outcome: outcome.seconds)[count // 2]
        outcomes += [
            attrs.evolve(median_ours, reference=median_theirs.seconds),
            attrs.evolve(median_theirs, reference=median_theirs.seconds),
        ]
    if not quick:
        for contender in (CONTENDERS[0], ON_ITS_OWN):
            outcomes.append(
                run_load(
                    "mixed faults 5 %",
                    "2,800 gathered calls, one KellyAPI",
                    contender,
                    modes=["tasks"],
                    calls=2800,
                    reference=1.0,
                    rate_limit=None,
                    latency=0.0,
                    faults=(0.05, MIXED),
                )
            )
    return outcomes


def _buckets(quick: bool) -> list[Outcome]:
    if quick:
        return [
            run_load("token bucket 20/s", "60 gathered calls, one KellyAPI", CONTENDERS[0], modes=["tasks"], calls=60)
        ]
    outcomes = []
    for contender in CONTENDERS:
        outcomes.append(
            run_load("token bucket 20/s", "200 gathered calls, one KellyAPI", contender, modes=["tasks"], calls=200)
        )
        outcomes.append(
            run_load("token bucket 20/s", "32 threads, one SyncKellyAPI", contender, modes=["threads:32"], calls=200)
        )
        outcomes.append(
            run_load("token bucket 20/s", "4 processes, a KellyAPI each", contender, modes=["tasks"] * 4, calls=50)
        )
    for processes in (16, 32):
        modes = ["tasks", "threads:8"] * (processes // 2)  # half async, half sync
        for contender in (CONTENDERS[0], ON_ITS_OWN, CONTENDERS[3]):
            outcomes.append(
                run_load(
                    "token bucket 20/s",
                    f"{processes} processes, half async, half sync",
                    contender,
                    modes=modes,
                    calls=25,
                )
            )
    # 20/s for 4 s, then 5/s for 6 s, then 20/s again: 20 + 80 + 30 accepted by 10 s, the other 170 in 8.5 s.
    schedule = ((4.0, 5.0), (10.0, RATE))
    for contender in (CONTENDERS[0], CONTENDERS[3]):
        outcomes.append(
            run_load(
                "token bucket 20/s",
                "limit 20/s, then 5/s, then 20/s",
                contender,
                modes=["tasks"],
                calls=300,
                schedule=schedule,
                reference=10.0 + 170 / RATE + LATENCY,
            )
        )
    return outcomes


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    """A redis-server of the bench's own on a loopback port (None without Debian's redis-server)."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                    break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait(10)


def _fleets(quick: bool) -> list[Outcome]:
    """4, 16 and 32 processes on one key (half async, half sync): each on its own, and through Redis with the
    limit unknown and with max_rate set to it."""
    outcomes: list[Outcome] = []
    with redis_server() as redis_url:
        if redis_url is None:
            print("  fleets: skipped, redis-server is not installed (Debian package redis-server)", file=sys.stderr)
            return outcomes
        for processes in (4,) if quick else (4, 16, 32):
            calls = 50 if processes == 4 else 25
            modes = ["tasks", "threads:8"] * (processes // 2)
            for label, options in (
                ("each process on its own", {}),
                ("through Redis, the limit unknown", {"redis": redis_url}),
                ("through Redis, max_rate=20", {"redis": redis_url, "max_rate": RATE}),
            ):
                outcomes.append(
                    run_load(
                        FLEET,
                        f"{processes} processes, half async, half sync",
                        (label, options),
                        modes=modes,
                        calls=calls,
                    )
                )
    return outcomes


def run(quick: bool) -> tuple[list[Outcome], list[Check]]:
    """Every family (with --quick: reduced runs, and the checks)."""
    return _buckets(quick) + _fleets(quick) + _shedding(quick), run_checks(quick)


def verdicts(outcomes: list[Outcome], checks: list[Check]) -> list[str]:
    """The targets for the default client, each with whether the run met it (Markdown rows)."""
    rows = []

    def row(label: str, value: str, goal: str, met: bool) -> None:
        rows.append(f"| {label} | {value} | {goal} | {'yes' if met else '**no**'} |")

    for outcome in (outcome for outcome in outcomes if outcome.family == FLEET and "Redis" in outcome.contender):
        where = f"{outcome.family}: {outcome.scenario}, {outcome.contender}"
        succeeded = 1 - outcome.failed / outcome.calls
        fixed = "max_rate" in outcome.contender
        if outcome.scenario.startswith("32 "):
            row(f"{where}: time / ideal", f"{outcome.ratio:.2f}", "≤ 1.25", outcome.ratio <= 1.25)
        share, goal = outcome.refused_share, (0.02 if fixed else 0.10)
        row(f"{where}: requests refused", f"{share:.1%}", f"≤ {goal:.0%}", share <= goal)
        row(
            f"{where}: calls succeeded",
            f"{succeeded:.1%}",
            "100%" if fixed else "≥ 99%",
            succeeded >= (1.0 if fixed else 0.99),
        )
    for outcome in (outcome for outcome in outcomes if outcome.contender == DEFAULT):
        where = f"{outcome.family}: {outcome.scenario}"
        if outcome.calls < 200:
            continue  # --quick's reduced run: shown in the table, not judged
        if outcome.family.startswith("shedding"):
            row(f"{where}: calls failed", str(outcome.failed), "0", outcome.failed == 0)
            row(f"{where}: time / adaptive_rate=False", f"{outcome.ratio:.2f}", "≤ 1.2", outcome.ratio <= 1.2)
        elif outcome.family.startswith("mixed"):
            good = outcome.calls - outcome.rate_limited
            row(f"{where}: calls not ended by a RateLimitError", str(good), "≥ 2,770", good >= 2770)
        elif "processes, half" in outcome.scenario:
            succeeded = 1 - outcome.failed / outcome.calls
            row(f"{where}: time / ideal", f"{outcome.ratio:.2f}", "≤ 1.3", outcome.ratio <= 1.3)
            row(f"{where}: requests refused", f"{outcome.refused_share:.1%}", "≤ 50%", outcome.refused_share <= 0.5)
            row(f"{where}: calls succeeded", f"{succeeded:.1%}", "≥ 95%", succeeded >= 0.95)
        else:
            row(f"{where}: calls failed", str(outcome.failed), "0", outcome.failed == 0)
            time_goal = 1.3 if "4 processes" in outcome.scenario else 1.15 if "limit" not in outcome.scenario else None
            if time_goal is not None:
                row(f"{where}: time / ideal", f"{outcome.ratio:.2f}", f"≤ {time_goal}", outcome.ratio <= time_goal)
            row(f"{where}: requests refused", f"{outcome.refused_share:.1%}", "≤ 10%", outcome.refused_share <= 0.10)
    for check in checks:
        value = f"{check.value:.2f} {check.unit}".strip() if check.unit else f"{check.value:g}"
        row(f"{check.family}: {check.what}", value, check.goal, check.met)
    return rows


def render(outcomes: list[Outcome]) -> str:
    """The outcomes as a Markdown table."""
    lines = [
        f"Token bucket: {RATE:g} calls a second, bursts of {RATE:g}, then 429 with Retry-After; {LATENCY:g} s per"
        " accepted call. Shedding: no limit, a random share of calls answered 429 with Retry-After 0 or none.",
        "",
        "| family | scenario | client | calls | time | time / reference | requests refused | failed calls |"
        " requests per failed call |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        per_failure = outcome.requests_per_failure
        lines.append(
            f"| {outcome.family} | {outcome.scenario} | {outcome.contender} | {outcome.calls} | {outcome.seconds:.1f} s"
            f" | {outcome.ratio:.2f} | {outcome.refused}/{outcome.requests} ({outcome.refused_share:.0%})"
            f" | {outcome.failed} | {'' if per_failure is None else f'{per_failure:.1f}'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the rate-limit families and print their tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.rate_limits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced runs")
    args = parser.parse_args(argv)
    outcomes, checks = run(args.quick)
    print("| target | value | goal | met |\n|---|---|---|---|\n" + "\n".join(verdicts(outcomes, checks)) + "\n")
    print(render(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
