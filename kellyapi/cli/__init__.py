"""The `kellyapi` command: one subcommand per endpoint (generated from the spec), `batch` and `demo`.

Every failure ends in one line on stderr and an exit code from `kellyapi.cli.exits`, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kellyapi import errors
from kellyapi._core.api_spec import ENDPOINTS
from kellyapi._core.config import BASE_URL_ENV, DEFAULT_BASE_URL
from kellyapi._version import __version__
from kellyapi.cli import batch, connection, endpoint, exits
from kellyapi.cli.demo import DEMO_CALLS, demo

__all__ = ["DEMO_CALLS", "EPILOG", "build_parser", "main"]

EPILOG = f"""exit codes:
  {exits.OK}    done
  {exits.FAILED}    batch: some prompts failed (the others are saved); or an output could not be written
  {exits.USAGE}    bad arguments, an unreadable input file, or InvalidRequest
  {exits.INVALID_API_KEY}    InvalidApiKey: no key (set KELLY_API_KEY, or use --sandbox) or a refused one
  {exits.RATE_LIMITED}    RateLimitError: still rate-limited after the retries
  {exits.TIMED_OUT}    TimeoutError: no complete answer within --timeout
  {exits.CONNECTION_FAILED}    ConnectionError: the API could not be reached
  {exits.API_ERROR}    another API failure (GenericApiError, InvalidContent)
  {exits.INTERRUPTED}  interrupted (Ctrl-C); a batch resumes when run again
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="kellyapi",
        description="The Kelly AI API from the command line. The key is read from $KELLY_API_KEY.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kellyapi {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = [connection.connection_options()]
    for command in ENDPOINTS.values():
        endpoint.add_parser(commands, command, shared)
    batch.add_parser(commands, shared)
    demo_parser = commands.add_parser(
        "demo", help="Call every endpoint through both clients and save the results.", parents=shared
    )
    demo_parser.add_argument("--out", type=Path, default=Path("kelly-demo"), help="folder for the results")
    demo_parser.add_argument("--yes", action="store_true", help="make the real (paid) calls without asking")
    demo_parser.set_defaults(handler=demo)
    return parser


# The SDK speaks of its arguments; the command's user knows its options and environment.
_CLI_TERMS = (
    (
        "No API key: pass api_key=... or set the KELLY_API_KEY environment variable",
        "no API key: set KELLY_API_KEY, or add --sandbox to try the built-in sandbox",
    ),
    ("pass allow_insecure_http=True", "add --allow-insecure-http"),
    ("timeout must", "--timeout must"),
    ("max_retries must", "--max-retries must"),
    ("api must", "--api must"),
    ("api '", "--api '"),
)


def in_cli_terms(error: errors.BaseError, args: argparse.Namespace) -> str:
    """The error's message as the command's user needs it: options for arguments, and where to look next."""
    message = str(error)
    for sdk, cli in _CLI_TERMS:
        message = message.replace(sdk, cli)
    api = getattr(args, "api", None) or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    if error.status_code == 404:
        message += f" (no such route at {api}; check --api or {BASE_URL_ENV})"
    elif isinstance(error, errors.ConnectionError) and error.status_code is None:
        message += f" (check --api or {BASE_URL_ENV}: {api})"
    return message


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kellyapi` command; returns its exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except errors.BaseError as exc:
        print(f"kellyapi: {exits.error_name(exc)}: {in_cli_terms(exc, args)}", file=sys.stderr)
        return exits.for_error(exc)
    except exits.CommandError as exc:
        print(f"kellyapi: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kellyapi: interrupted", file=sys.stderr)
        return exits.INTERRUPTED
    except BrokenPipeError:  # `kellyapi sd_models | head -1`: the reader left, which is not an error
        sys.stderr.close()
        return exits.OK
    return code
