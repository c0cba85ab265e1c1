"""`python -m kellyapi.sandbox`: serve the sandbox until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from kellyapi._core.config import API_KEY_ENV, BASE_URL_ENV, DEFAULT_TIMEOUT
from kellyapi.sandbox.faults import DRIP_INTERVAL, KINDS, RANDOM_KINDS
from kellyapi.sandbox.models import parse_models
from kellyapi.sandbox.server import DEFAULT_PORT, Sandbox
from kellyapi.sandbox.throttle import parse_latency, parse_rate


def _kinds(text: str) -> tuple[str, ...]:
    chosen = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    unknown = [kind for kind in chosen if kind not in KINDS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown fault kinds {unknown}; the kinds are: {', '.join(KINDS)}")
    return chosen


# The kinds that keep a call waiting until the client's timeout, which is a minute by default.
_SLOW_KINDS = {
    "hang": "answers nothing",
    "drip": f"sends one byte every {DRIP_INTERVAL:g} s",
}


def slow_fault_note(args: argparse.Namespace) -> str | None:
    """A line for when the planned or random faults include one that lasts until the client gives up."""
    kinds = [rule.partition("=")[2].partition("*")[0] for rule in args.fault]
    if args.fault_rate > 0:
        kinds += args.fault_kinds
    slow = [kind for kind in _SLOW_KINDS if kind in kinds]
    if not slow:
        return None
    what = " and ".join(f"{kind} {_SLOW_KINDS[kind]}" for kind in slow)
    return (
        f"Note: {what}, so a call it meets lasts until the client's timeout ({DEFAULT_TIMEOUT:g} s by default):"
        " give the client a shorter one, e.g. `kellyapi ... --timeout 5` or `KellyAPI(timeout=5)`."
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of `python -m kellyapi.sandbox`."""
    parser = argparse.ArgumentParser(
        prog="python -m kellyapi.sandbox",
        description="A local Kelly API.",
        epilog=f"Fault kinds: {', '.join(KINDS)}.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on, 0 for a free one (default: {DEFAULT_PORT})"
    )
    parser.add_argument("--api-key", help="the only key to accept (default: any non-empty key)")
    parser.add_argument(
        "--models",
        action="append",
        default=[],
        metavar="KIND=NAME[,NAME...]",
        help="also accept these model names (kinds: image, chat, voice), e.g. chat=gpt-9; repeatable",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="ROUTE=KIND[*TIMES]",
        help="misbehave on the next TIMES calls of ROUTE (a spec path or *), e.g. image/generate=503*2; repeatable",
    )
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, metavar="P", help="give a random fault to a share P (0..1) of calls"
    )
    parser.add_argument("--fault-seed", type=int, default=0, help="seed of the random faults (default: 0)")
    parser.add_argument(
        "--fault-kinds",
        type=_kinds,
        default=RANDOM_KINDS,
        metavar="KIND,...",
        help="what the random faults are drawn from (default: every kind but huge)",
    )
    parser.add_argument(
        "--rate-limit",
        metavar="N/s",
        help="accept N calls a second (bursts of N), all callers together; beyond it 429 with Retry-After",
    )
    parser.add_argument(
        "--latency",
        action="append",
        default=[],
        metavar="[ROUTE=]S",
        help="seconds each accepted call takes, for every route or one; repeatable",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve until SIGINT or SIGTERM."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        models = parse_models(args.models)
        rate_limit = None if args.rate_limit is None else parse_rate(args.rate_limit)
        latency = parse_latency(args.latency)
        sandbox = Sandbox(
            args.api_key,
            host=args.host,
            port=args.port,
            faults=args.fault,
            fault_rate=args.fault_rate,
            fault_seed=args.fault_seed,
            fault_kinds=args.fault_kinds,
            models=models,
            rate_limit=rate_limit,
            latency=latency,
        )
    except ValueError as exc:
        parser.error(str(exc))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        sandbox.start()
    except OSError as exc:
        parser.exit(
            1,
            f"{parser.prog}: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
            " (is another sandbox running? --port 0 picks a free port)\n",
        )
    with sandbox:
        key = "the key you gave" if args.api_key else "any non-empty key"
        print(f"Kelly API sandbox on {sandbox.url} accepting {key}; Ctrl-C stops it. To use it:", flush=True)
        print(f"  export {BASE_URL_ENV}={sandbox.url}", flush=True)
        print(f"  export {API_KEY_ENV}={sandbox.api_key}", flush=True)
        note = slow_fault_note(args)
        if note:
            print(note, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
