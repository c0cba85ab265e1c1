"""The SDK's one logger: method, route, status, attempt and duration; never a header, a body or the key."""

from __future__ import annotations

import logging
import os

from kellyapi import errors
from kellyapi._core.http import Request, Response

logger = logging.getLogger("kellyapi")
LOG_ENV = "KELLY_LOG"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}


_STDERR: list[logging.Handler] = []  # the one stderr handler, once KELLY_LOG or the CLI's -v asked for it


def log_to_stderr(level: int) -> logging.Handler:
    """Send the kellyapi logger to stderr at `level` (one handler, however often asked)."""
    if not _STDERR:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        _STDERR.append(handler)
    logger.setLevel(level)
    return _STDERR[0]


def log_from_environment(environ: dict[str, str] | os._Environ[str] = os.environ) -> logging.Handler | None:
    """With KELLY_LOG=debug or info, send the kellyapi logger to stderr at that level; the handler, or None."""
    level = _LEVELS.get(environ.get(LOG_ENV, "").strip().lower())
    return None if level is None else log_to_stderr(level)


log_from_environment()  # at import: switched on with no code change


def log_attempt(
    request: Request, response: Response | None, error: errors.BaseError | None, attempt: int, seconds: float
) -> None:
    """Log one HTTP attempt at DEBUG level (callers check `logger.isEnabledFor(DEBUG)` first, once per attempt)."""
    outcome = str(response.status) if response is not None else type(error).__name__
    logger.debug("%s -> %s (attempt %d, %.3f s)", request.describe(), outcome, attempt, seconds)


def log_retry(request: Request, error: errors.BaseError, delay: float) -> None:
    """Log, at INFO level, that a failed attempt will be retried."""
    logger.info("%s: %s; retrying in %.2f s", request.describe(), type(error).__name__, delay)
