"""`python -m kellyapi.sandbox`: serve the sandbox until interrupted."""

from __future__ import annotations

import argparse
import sys

from aiohttp import web

from kellyapi.sandbox.server import SandboxState, create_app


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m kellyapi.sandbox", description="A local Kelly API.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    parser.add_argument("--api-key", help="the only key to accept (default: any non-empty key)")
    args = parser.parse_args(argv)
    key = "the key you gave" if args.api_key else "any non-empty key"
    print(f"Kelly API sandbox on http://{args.host}:{args.port}/ accepting {key}; Ctrl-C stops it.", flush=True)
    web.run_app(create_app(SandboxState(args.api_key)), host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
