"""The options every API command shares (where the API is, how long to wait) and the client they make."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator

import attrs

from kellyapi import KellyAPI
from kellyapi._core.config import API_KEY_ENV, BASE_URL_ENV, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from kellyapi._core.log import log_to_stderr
from kellyapi.cli.exits import CommandError


@attrs.frozen
class Target:
    """Where the calls go: the key and URL to use, None meaning the client's own default (the environment)."""

    api_key: str | None
    api: str | None
    local: bool = False  # the command's own sandbox: no proxy from the environment could reach it


def connection_options() -> argparse.ArgumentParser:
    """A parent parser with --api, --sandbox, --timeout and --max-retries."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("connection (the key is read from $" + API_KEY_ENV + ")")
    group.add_argument("--api", metavar="URL", help=f"the API's base URL (default: ${BASE_URL_ENV} or the Kelly API)")
    group.add_argument("--sandbox", action="store_true", help="call a local sandbox started for this command")
    timeout_help = f"seconds per call, retries included (default: {DEFAULT_TIMEOUT:g})"
    group.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S", help=timeout_help)
    retries_help = f"retries after a transient failure (default: {DEFAULT_MAX_RETRIES})"
    group.add_argument(
        "--max-retries", type=_at_least_zero, default=DEFAULT_MAX_RETRIES, metavar="N", help=retries_help
    )
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow a plain http:// --api on another machine (the key then crosses the network unencrypted)",
    )
    group.add_argument("-v", "--verbose", action="store_true", help="log each HTTP attempt to stderr (never the key)")
    return parser


def _at_least_zero(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {number}")
    return number


@contextlib.contextmanager
def target(args: argparse.Namespace) -> Iterator[Target]:
    """Where to send the calls; with --sandbox, a sandbox that runs until the block ends."""
    if not args.sandbox:
        yield Target(None, args.api)
        return
    if args.api is not None:
        raise CommandError("--sandbox and --api exclude each other")
    from kellyapi.sandbox import Sandbox  # the server side loads only for --sandbox

    with Sandbox() as sandbox:
        yield Target(sandbox.api_key, sandbox.url, local=True)


def client(args: argparse.Namespace, where: Target) -> KellyAPI:
    """A KellyAPI for `where`, with the command's --timeout and --max-retries (and the proxy environment)."""
    if args.verbose:
        log_to_stderr(logging.DEBUG)
    return KellyAPI(
        where.api_key,
        where.api,
        timeout=args.timeout,
        max_retries=args.max_retries,
        trust_env=not where.local,
        allow_insecure_http=args.allow_insecure_http,
    )
