"""The `kellyapi` command's exit codes: one per kind of failure, so a script can tell them apart."""

from __future__ import annotations

from kellyapi import errors

OK = 0
FAILED = 1  # batch: some prompts failed (the rest are saved); or a local file could not be written
USAGE = 2  # bad arguments or an unreadable input file (argparse's own code), or InvalidRequest
INVALID_API_KEY = 3
RATE_LIMITED = 4
TIMED_OUT = 5
CONNECTION_FAILED = 6
API_ERROR = 7  # any other failure of the API: GenericApiError (5xx), InvalidContent
INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

# Most specific first: errors.TimeoutError and errors.ConnectionError also derive from OSError.
_BY_ERROR: tuple[tuple[type[errors.BaseError], int], ...] = (
    (errors.InvalidRequest, USAGE),
    (errors.InvalidApiKey, INVALID_API_KEY),
    (errors.RateLimitError, RATE_LIMITED),
    (errors.TimeoutError, TIMED_OUT),
    (errors.ConnectionError, CONNECTION_FAILED),
    (errors.BaseError, API_ERROR),
)


def for_error(error: errors.BaseError) -> int:
    """The exit code for an SDK error."""
    return next(code for kind, code in _BY_ERROR if isinstance(error, kind))


def error_name(error: BaseException) -> str:
    """The name shown for an error: a caller's mistake is an InvalidRequest, whatever builtin it also is."""
    return "InvalidRequest" if isinstance(error, errors.InvalidRequest) else type(error).__name__


class CommandError(Exception):
    """A failure of the command itself (not of the API), with its exit code: a missing input file, say."""

    def __init__(self, message: str, exit_code: int = USAGE) -> None:
        """`message` is shown as one line after `kellyapi: `."""
        super().__init__(message)
        self.exit_code = exit_code
