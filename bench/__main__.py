"""`python -m bench [--quick] [--out FILE]`: the SDK's overhead over its transports, measured side by side.

Every figure comes from fresh worker interpreters (`bench/worker.py`) against a local server that answers
at once (`bench/server.py`), contenders interleaved round by round, and is shown as a ratio to the raw
transport measured in the same run, with the spread over rounds as the noise. On Linux the server and
the workers are pinned to different cores. CPU cost is also counted in instructions under valgrind's
callgrind, which the machine's noise does not move (skipped if valgrind is missing). The full run
writes BENCHMARKS.md; `--quick` (for CI) runs fewer rounds and calls, counts only sequential calls,
skips the original client, and only prints.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from bench import media, rate_limits

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "bench" / "worker.py"
FINDINGS = ROOT / "bench" / "findings.md"
OLD_WHEELS = ROOT / ".cache" / "old-kellyapi-wheels"
SERVER_CPU, WORKER_CPU = 1, 0


@attrs.frozen
class Plan:
    rounds: int
    latency_calls: int
    throughput_calls: int
    import_runs: int
    with_old_client: bool
    counted_rounds: int  # each round has its own hash seed: the spread shows what dict layout moves
    counted_calls: int
    counted_rows: tuple[str, ...]


FULL = Plan(
    rounds=5,
    latency_calls=1000,
    throughput_calls=2000,
    import_runs=10,
    with_old_client=True,
    counted_rounds=2,
    counted_calls=400,
    counted_rows=("1", "200 tasks", "32 threads"),
)
QUICK = Plan(
    rounds=2,
    latency_calls=300,
    throughput_calls=400,
    import_runs=3,
    with_old_client=False,
    counted_rounds=1,
    counted_calls=200,
    counted_rows=("1",),
)
# (row, concurrency, contenders): what is counted in CPU instructions; the contenders of a row run one
# after another in one valgrind process, so that its slow start is paid once per pair.
COUNTED = [
    ("1", 1, ("aiohttp", "kellyapi")),
    ("1", 1, ("urllib3", "kellyapi-sync")),
    ("1", 1, ("old-kellyapi",)),
    ("200 tasks", 200, ("aiohttp", "kellyapi")),
    ("32 threads", 32, ("urllib3", "kellyapi-sync")),
]


def _pin(cpu: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        if (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {cpu})


@contextlib.contextmanager
def server(tls: tuple[str, str] | None) -> Iterator[str]:
    """The instant server in its own process, on its own core; yields its base URL."""
    extra = ["--certfile", tls[0], "--keyfile", tls[1]] if tls else []
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.server", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: _pin(SERVER_CPU),
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(10)


def run_worker(python: str, contender: str, mode: str, url: str, *sizes: int, env: dict[str, str]) -> Any:
    """One measurement in a fresh interpreter, on the worker core."""
    done = subprocess.run(
        [python, str(WORKER), contender, mode, url, *map(str, sizes)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),  # so an old client's venv imports its own kellyapi, not this checkout
        preexec_fn=lambda: _pin(WORKER_CPU),
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{contender} {mode} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def run_media_worker(contender: str, scenario: str, url: str, image: str, timed_calls: int) -> Any:
    """One media measurement (bench/media.py) in a fresh interpreter, on the worker core."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.media", "--worker", contender, scenario, url, image, str(timed_calls)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        preexec_fn=lambda: _pin(WORKER_CPU),
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{contender} {scenario} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def count_instructions(
    python: str, contenders: Sequence[str], url: str, concurrency: int, calls: int, env: dict[str, str]
) -> list[float]:
    """CPU instructions per call of each contender, counted by callgrind between the worker's marks.

    The worker marks the start and the end of each contender's calls with getppid(), and callgrind dumps
    its counters before each mark: the even dumps hold the calls, the odd ones start-up and warm-up.
    """
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--dump-before=getppid",
                f"--callgrind-out-file={out}/counts",
                python,
                str(WORKER),
                ",".join(contenders),
                "instructions",
                url,
                str(concurrency),
                str(calls),
            ],
            capture_output=True,
            env=env,
            cwd=tempfile.gettempdir(),
            check=True,
            timeout=600,
        )
        expected = [f"counts.{index}" for index in range(1, 2 * len(contenders) + 1)]
        found = sorted((dump.name for dump in Path(out).glob("counts.*")), key=lambda name: int(name.split(".")[1]))
        if found != expected:
            raise RuntimeError(f"{contenders}: expected {len(expected)} marks, callgrind dumped {found}")
        per_call = []
        for index in range(2, len(expected) + 1, 2):
            totals = [
                line for line in Path(out, f"counts.{index}").read_text().splitlines() if line.startswith("totals:")
            ]
            if not totals:
                raise RuntimeError(f"{contenders}: callgrind wrote no totals in dump {index}")
            per_call.append(int(totals[0].split()[1]) / calls)
        return per_call


def old_client_python(workdir: Path) -> str:
    """A venv holding the original kellyapi 0.0.2.5 (its package name is ours); offline if its wheels are cached."""
    venv = workdir / "old-kellyapi"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [python, "-m", "pip", "install", "-q", "kellyapi==0.0.2.5"]
    if OLD_WHEELS.is_dir():
        install += ["--no-index", "--find-links", str(OLD_WHEELS)]
    subprocess.run(install, check=True, capture_output=True)
    return python


def tls_files(workdir: Path) -> tuple[tuple[str, str], str]:
    """A throwaway CA (trusted by the workers through SSL_CERT_FILE) and a certificate for 127.0.0.1."""
    import trustme

    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    chain, key, ca = workdir / "chain.pem", workdir / "key.pem", workdir / "ca.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(chain))
    certificate.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(ca))
    return (str(chain), str(key)), str(ca)


@attrs.define
class Figure:
    """One contender's value in each round."""

    rounds: list[float] = attrs.field(factory=list)

    @property
    def value(self) -> float:
        return statistics.median(self.rounds)

    @property
    def noise(self) -> float:
        """The spread of the rounds around their median, as a fraction of it."""
        return (max(self.rounds) - min(self.rounds)) / 2 / self.value if len(self.rounds) > 1 else 0.0


def _p99(samples: Sequence[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.99) - 1]


class Bench:
    """Runs the plan and keeps every figure by (section, row, contender)."""

    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.figures: dict[tuple[str, str, str], Figure] = {}
        self.rate_outcomes: list[rate_limits.Outcome] = []
        self.rate_checks: list[rate_limits.Check] = []
        self.media_outcomes: list[media.Outcome] = []
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.old_python: str | None = None

    def record(self, section: str, row: str, contender: str, value: float) -> None:
        self.figures.setdefault((section, row, contender), Figure()).rounds.append(value)

    def python_for(self, contender: str, env: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The interpreter and environment a contender runs in: the original client has its own venv."""
        if contender != "old-kellyapi":
            return sys.executable, env
        assert self.old_python is not None
        return self.old_python, {**env, "PYTHONPATH": ""}

    def latency(self) -> None:
        (certificate, ca) = tls_files(self.workdir)
        tls_env = {**self.env, "SSL_CERT_FILE": ca}
        contenders = ["kellyapi", "aiohttp", "kellyapi-sync", "urllib3"]
        if self.old_python:
            contenders.append("old-kellyapi")
        for scheme, tls, env in (("http", None, self.env), ("https", certificate, tls_env)):
            with server(tls) as url:
                for _ in range(self.plan.rounds):
                    for contender in contenders:
                        python, contender_env = self.python_for(contender, env)
                        got = run_worker(python, contender, "latency", url, self.plan.latency_calls, env=contender_env)
                        self.record(f"latency-{scheme}", "median", contender, statistics.median(got["samples"]))
                        self.record(f"latency-{scheme}", "p99", contender, _p99(got["samples"]))
                        self.record(f"latency-{scheme}", "cpu", contender, got["cpu"])

    def throughput(self) -> None:
        with server(None) as url:
            for _ in range(self.plan.rounds):
                for concurrency in (1, 10, 100, 200):
                    for contender in ("kellyapi", "aiohttp"):
                        got = run_worker(
                            sys.executable,
                            contender,
                            "throughput",
                            url,
                            concurrency,
                            self.plan.throughput_calls,
                            env=self.env,
                        )
                        self.record("throughput-async", str(concurrency), contender, got["rate"])
                for threads in (1, 8, 32):
                    for contender in ("kellyapi-sync", "urllib3"):
                        got = run_worker(
                            sys.executable,
                            contender,
                            "throughput",
                            url,
                            threads,
                            self.plan.throughput_calls,
                            env=self.env,
                        )
                        self.record("throughput-sync", str(threads), contender, got["rate"])

    def instructions(self) -> None:
        """Instructions per call for every counted contender, two valgrind runs at a time (one per core)."""
        if shutil.which("valgrind") is None:
            print("  instructions: skipped, valgrind is not installed", file=sys.stderr)
            return
        jobs = [
            (seed, row, concurrency, contenders if seed % 2 else contenders[::-1])  # alternate who goes first
            for seed in range(1, self.plan.counted_rounds + 1)
            for row, concurrency, contenders in COUNTED
            if row in self.plan.counted_rows and (contenders != ("old-kellyapi",) or self.old_python)
        ]

        def count(job: tuple[int, str, int, tuple[str, ...]]) -> list[float]:
            seed, _, concurrency, contenders = job
            python, env = self.python_for(contenders[0], self.env)
            env = {**env, "PYTHONHASHSEED": str(seed)}
            return count_instructions(python, contenders, url, concurrency, self.plan.counted_calls, env)

        with server(None) as url, ThreadPoolExecutor(2) as pool:
            for (_, row, _, contenders), values in zip(jobs, pool.map(count, jobs), strict=True):
                for contender, value in zip(contenders, values, strict=True):
                    self.record("instructions", row, contender, value)
                    # A client that is CPU-bound (as under many tasks or threads) serves calls at this rate.
                    self.record("calls-per-instruction", row, contender, 1e6 / value)

    def imports(self) -> None:
        code = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"
        for _ in range(self.plan.import_runs):
            for module in ("kellyapi", "aiohttp"):
                done = subprocess.run(
                    [sys.executable, "-c", code.format(module)],
                    capture_output=True,
                    text=True,
                    env=self.env,
                    check=True,
                    cwd=tempfile.gettempdir(),
                )
                self.record("import", "import", module, float(done.stdout))

    def media(self) -> None:
        quick = self.plan is QUICK
        with server(None) as url:
            self.media_outcomes = media.run(url, 1 if quick else 3, 1 if quick else 3, run_media_worker)

    def rate_limits(self) -> None:
        self.rate_outcomes, self.rate_checks = rate_limits.run(quick=self.plan is QUICK)

    def run(self) -> None:
        if self.plan.with_old_client:
            self.old_python = old_client_python(self.workdir)
        for step in (self.latency, self.throughput, self.instructions, self.imports, self.media, self.rate_limits):
            started = time.monotonic()
            step()
            print(f"  {step.__name__}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)

    def ratio(self, section: str, row: str, ours: str, baseline: str) -> tuple[float, float]:
        """ours / baseline, and the noise of that ratio (the two spreads added)."""
        mine, theirs = self.figures[(section, row, ours)], self.figures[(section, row, baseline)]
        return mine.value / theirs.value, mine.noise + theirs.noise


# (label, section, row, ours, baseline, target, higher_is_better)
TARGETS: list[tuple[str, str, str, str, str, float, bool]] = [
    ("KellyAPI / aiohttp, per call, wall", "latency-http", "median", "kellyapi", "aiohttp", 1.05, False),
    ("KellyAPI / aiohttp, per call, CPU", "latency-http", "cpu", "kellyapi", "aiohttp", 1.05, False),
    ("SyncKellyAPI / urllib3, per call, wall", "latency-http", "median", "kellyapi-sync", "urllib3", 1.05, False),
    ("SyncKellyAPI / urllib3, per call, CPU", "latency-http", "cpu", "kellyapi-sync", "urllib3", 1.05, False),
    ("KellyAPI / aiohttp, per call over TLS, wall", "latency-https", "median", "kellyapi", "aiohttp", 1.05, False),
    (
        "SyncKellyAPI / urllib3, per call over TLS, wall",
        "latency-https",
        "median",
        "kellyapi-sync",
        "urllib3",
        1.05,
        False,
    ),
    ("KellyAPI / aiohttp, per call, CPU instructions", "instructions", "1", "kellyapi", "aiohttp", 1.05, False),
    (
        "SyncKellyAPI / urllib3, per call, CPU instructions",
        "instructions",
        "1",
        "kellyapi-sync",
        "urllib3",
        1.05,
        False,
    ),
    ("KellyAPI / old client, HTTP", "latency-http", "median", "kellyapi", "old-kellyapi", 0.5, False),
    ("KellyAPI / old client, TLS", "latency-https", "median", "kellyapi", "old-kellyapi", 0.2, False),
    ("KellyAPI / aiohttp, calls/s at 200 tasks", "throughput-async", "200", "kellyapi", "aiohttp", 0.95, True),
    ("SyncKellyAPI / urllib3, calls/s at 32 threads", "throughput-sync", "32", "kellyapi-sync", "urllib3", 0.9, True),
    (
        "KellyAPI / aiohttp, calls per CPU instruction at 200 tasks",
        "calls-per-instruction",
        "200 tasks",
        "kellyapi",
        "aiohttp",
        0.95,
        True,
    ),
    (
        "SyncKellyAPI / urllib3, calls per CPU instruction at 32 threads",
        "calls-per-instruction",
        "32 threads",
        "kellyapi-sync",
        "urllib3",
        0.9,
        True,
    ),
    ("import kellyapi / import aiohttp", "import", "import", "kellyapi", "aiohttp", 1.2, False),
]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def render(bench: Bench) -> str:
    """The results as Markdown: targets first, then every measured figure."""
    lines = ["| target | ratio | noise (±) | goal | met |", "|---|---|---|---|---|"]
    for label, section, row, ours, baseline, goal, higher in TARGETS:
        if (section, row, baseline) not in bench.figures:
            continue
        ratio, noise = bench.ratio(section, row, ours, baseline)
        met = ratio >= goal if higher else ratio <= goal
        within = not met and (ratio + noise >= goal if higher else ratio - noise <= goal)
        verdict = "yes" if met else ("within noise" if within else "**no**")
        lines.append(f"| {label} | {ratio:.3f} | {noise:.3f} | {'≥' if higher else '≤'} {goal} | {verdict} |")
    lines += ["| " + " | ".join(row) + " |" for row in media.verdicts(bench.media_outcomes)]
    for verdict_row in rate_limits.verdicts(bench.rate_outcomes, bench.rate_checks):
        target, value, rate_goal, met_text = verdict_row.strip("|").split(" | ")
        lines.append(f"| {target.strip()} | {value} | | {rate_goal} | {met_text.strip()} |")
    lines += ["", "Per call (median of rounds; ± the spread over rounds):", ""]
    lines += ["| contender | scheme | median | p99 | CPU per call |", "|---|---|---|---|---|"]
    for scheme in ("http", "https"):
        for contender in ("kellyapi", "aiohttp", "kellyapi-sync", "urllib3", "old-kellyapi"):
            key = (f"latency-{scheme}", "median", contender)
            if key in bench.figures:
                median = bench.figures[key]
                p99 = bench.figures[(f"latency-{scheme}", "p99", contender)]
                cpu = bench.figures[(f"latency-{scheme}", "cpu", contender)]
                lines.append(
                    f"| {contender} | {scheme} | {_ms(median.value)} ± {median.noise:.0%} | {_ms(p99.value)}"
                    f" | {_ms(cpu.value)} ± {cpu.noise:.0%} |"
                )
    lines += ["", "Throughput, calls/s (median of rounds):", ""]
    lines += ["| clients | concurrency | SDK | raw | ratio |", "|---|---|---|---|---|"]
    for section, ours, raw, levels in (
        ("throughput-async", "kellyapi", "aiohttp", ("1", "10", "100", "200")),
        ("throughput-sync", "kellyapi-sync", "urllib3", ("1", "8", "32")),
    ):
        for level in levels:
            if (section, level, ours) in bench.figures:
                mine, theirs = bench.figures[(section, level, ours)], bench.figures[(section, level, raw)]
                lines.append(
                    f"| {ours} vs {raw} | {level} | {mine.value:,.0f} ± {mine.noise:.0%} |"
                    f" {theirs.value:,.0f} ± {theirs.noise:.0%} | {mine.value / theirs.value:.3f} |"
                )
    counted = [key for key in bench.figures if key[0] == "instructions"]
    if counted:
        lines += ["", "CPU instructions per call (callgrind; ± the spread over rounds):", ""]
        lines += ["| contender | concurrency | instructions | ratio to raw |", "|---|---|---|---|"]
        raw_of = {"kellyapi": "aiohttp", "kellyapi-sync": "urllib3", "old-kellyapi": "aiohttp"}
        for row, contender in (
            (row, contender)
            for row in ("1", "200 tasks", "32 threads")
            for contender in ("kellyapi", "aiohttp", "kellyapi-sync", "urllib3", "old-kellyapi")
            if ("instructions", row, contender) in counted
        ):
            figure = bench.figures[("instructions", row, contender)]
            raw_figure = bench.figures.get(("instructions", row, raw_of.get(contender, contender)))
            to_raw = f"{figure.value / raw_figure.value:.3f}" if raw_figure is not None and contender in raw_of else ""
            lines.append(f"| {contender} | {row} | {figure.value:,.0f} ± {figure.noise:.2%} | {to_raw} |")
    lines += ["", media.render(bench.media_outcomes).rstrip("\n")]
    lines += ["", rate_limits.render(bench.rate_outcomes).rstrip("\n")]
    imports = [bench.figures.get(("import", "import", module)) for module in ("kellyapi", "aiohttp")]
    if all(imports):
        lines += [
            "",
            f"Import: kellyapi {_ms(imports[0].value)}, aiohttp {_ms(imports[1].value)}"  # type: ignore[union-attr]
            " (median of fresh interpreters).",
        ]
    return "\n".join(lines) + "\n"


def machine() -> str:
    """What the figures were measured on."""
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    version = importlib.metadata.version
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; Python {platform.python_version()},"
        f" aiohttp {version('aiohttp')}, urllib3 {version('urllib3')}; {time.strftime('%Y-%m-%d')}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the table, and write BENCHMARKS.md unless --quick."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls, no original client, print only")
    parser.add_argument("--out", type=Path, help="write the report here (default: BENCHMARKS.md, not with --quick)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir:
        bench = Bench(plan, Path(workdir))
        bench.run()
    table = render(bench)
    print(table)
    print(f"{'quick' if args.quick else 'full'} run: {time.monotonic() - started:.0f} s on {machine()}")
    out = args.out or (None if args.quick else ROOT / "BENCHMARKS.md")
    if out is not None:
        findings = FINDINGS.read_text() if FINDINGS.exists() else ""
        out.write_text(
            "# Benchmarks\n\n`python -m bench` measured, on " + machine() + ":\n\n" + table + "\n" + findings
        )
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
