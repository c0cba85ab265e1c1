"""`python -m kellyapi.sandbox`: serve the sandbox until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from kellyapi.sandbox.faults import KINDS, RANDOM_KINDS
from kellyapi.sandbox.server import Sandbox


def _kinds(text: str) -> tuple[str, ...]:
    chosen = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    unknown = [kind for kind in chosen if kind not in KINDS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown fault kinds {unknown}; the kinds are: {', '.join(KINDS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m kellyapi.sandbox",
        description="A local Kelly API.",
        epilog=f"Fault kinds: {', '.join(KINDS)}.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    parser.add_argument("--api-key", help="the only key to accept (default: any non-empty key)")
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
    args = parser.parse_args(argv)
    try:
        sandbox = Sandbox(
            args.api_key,
            host=args.host,
            port=args.port,
            faults=args.fault,
            fault_rate=args.fault_rate,
            fault_seed=args.fault_seed,
            fault_kinds=args.fault_kinds,
        )
    except ValueError as exc:
        parser.error(str(exc))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with sandbox:
        key = "the key you gave" if args.api_key else "any non-empty key"
        print(f"Kelly API sandbox on {sandbox.url} accepting {key}; Ctrl-C stops it.", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
