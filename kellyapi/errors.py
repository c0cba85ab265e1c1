"""The exceptions of kellyapi: every one derives from `BaseError`.

The names and the `success`/`error_message` attributes are those of the original 0.0.2.x client;
`InvalidApiKey` now derives from `BaseError` too, so `except BaseError` catches everything the SDK raises.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping


class BaseError(Exception):
    """Anything that went wrong in a Kelly API call."""

    message = "The Kelly API call failed"
    # Set by the transports for the retry policy (kellyapi._core.policy.retry):
    _stale_connection = False  # failed on a reused pooled connection before any byte of an answer arrived
    _deterministic = False  # the same request would fail the same way again: never retried

    def __init__(
        self,
        error: str | None = None,
        *,
        status_code: int | None = None,
        detail: object = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        attempts: int = 0,
    ) -> None:
        self.success = False
        self.error_message = error or self.message
        self.status_code = status_code
        self.detail = detail
        self.retry_after = retry_after
        self.headers = headers  # the answer's headers (case-insensitive); None when no answer came
        self.attempts = attempts  # HTTP attempts the call made, retries and resends included; 0 if none was sent
        super().__init__(self.error_message)

    def __str__(self) -> str:
        return self.error_message


class InvalidApiKey(BaseError):
    """The API key is missing, malformed, or refused by the server (HTTP 401/403)."""

    message = "Invalid API key"


class InvalidRequest(BaseError):
    """The arguments were refused, by the SDK before sending or by the server (HTTP 400/404/405/413/422)."""

    message = "Invalid request"


class InvalidArgumentType(InvalidRequest, builtins.TypeError):
    """An argument of the wrong type, refused before sending; also a `TypeError`, so either habit catches it."""


class InvalidArgumentValue(InvalidRequest, builtins.ValueError):
    """An argument of the right type but an unusable value (bad base64, a lone surrogate, a negative timeout),
    refused before sending; also a `ValueError`, so either habit catches it."""


class RateLimitError(BaseError):
    """Too many requests (HTTP 429); `retry_after` holds the seconds the server asked to wait, if it said."""

    message = "Rate limited"


class TimeoutError(BaseError, builtins.TimeoutError):
    """No complete answer within the timeout (also an instance of the builtin `TimeoutError`)."""

    message = "The Kelly API did not answer in time"


class ConnectionError(BaseError, builtins.ConnectionError):
    """The server could not be reached, dropped the connection, or a gateway failed (HTTP 502)."""

    message = "Could not communicate with the Kelly API"


class InvalidContent(BaseError):
    """The server answered with something that is not the expected result (not JSON, field missing, bad base64)."""

    message = "The Kelly API answered with invalid content"


class GenericApiError(BaseError):
    """Any other failure status of the server (5xx other than 502, unexpected redirects)."""

    message = "The Kelly API call failed"


__all__ = [
    "BaseError",
    "ConnectionError",
    "GenericApiError",
    "InvalidApiKey",
    "InvalidArgumentType",
    "InvalidArgumentValue",
    "InvalidContent",
    "InvalidRequest",
    "RateLimitError",
    "TimeoutError",
]
