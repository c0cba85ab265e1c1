"""The exceptions of kellyapi: every one derives from `BaseError`.

The names and the `success`/`error_message` attributes are those of the original 0.0.2.x client;
`InvalidApiKey` now derives from `BaseError` too, so `except BaseError` catches everything the SDK raises.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping


class BaseError(Exception):
    """Anything that went wrong in a Kelly API call: `except BaseError` catches everything the SDK raises.

    `str(error)` says what happened, e.g. `POST image/upscale failed with HTTP 422: image_data: Field
    required`. No message, `repr()`, `args`, traceback or log line holds the API key, and the error keeps
    its cause (`error.__cause__`: the aiohttp or urllib3 exception, so a TLS or DNS failure says what it was).

    Attributes:
        status_code: the HTTP status of the answer; None when no answer came.
        detail: the server's `detail` (FastAPI's field errors for a 422), when it sent one.
        retry_after: the seconds the server asked to wait (`Retry-After`), when it said.
        headers: the answer's headers, case-insensitive (a request id, say); None when no answer came.
        attempts: the HTTP attempts the call made, retries included; 0 for an error raised before sending.
        success: always False, as in the original 0.0.2.x client.
        error_message: the message, as in the original client.
    """

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
    """No key configured (raised before sending), or the API refused the key (HTTP 401/403)."""

    message = "Invalid API key"


class InvalidRequest(BaseError):
    """The request was refused: before sending, for an argument (see `InvalidArgumentType` and
    `InvalidArgumentValue`) or a route that would leave the API; or by the API, with HTTP 400, 404, 405, 413,
    422 or another 4xx (`detail` names the refused fields)."""

    message = "Invalid request"


class InvalidArgumentType(InvalidRequest, builtins.TypeError):
    """An argument of the wrong type, refused before sending; also a `TypeError`, so either habit catches it."""


class InvalidArgumentValue(InvalidRequest, builtins.ValueError):
    """An argument of the right type but an unusable value (bad base64, a lone surrogate, a negative timeout),
    refused before sending; also a `ValueError`, so either habit catches it."""


class RateLimitError(BaseError):
    """Too many requests (HTTP 429), still, once the retries or the call's timeout ran out; `retry_after`
    holds the seconds the server asked to wait, if it said."""

    message = "Rate limited"


class TimeoutError(BaseError, builtins.TimeoutError):
    """No complete answer within the timeout, retries and waits included, or HTTP 408; also the builtin
    `TimeoutError`."""

    message = "The Kelly API did not answer in time"


class ConnectionError(BaseError, builtins.ConnectionError):
    """The connection failed or dropped, a certificate failed verification, a proxy refused, or a gateway
    failed (HTTP 502); also the builtin `ConnectionError`."""

    message = "Could not communicate with the Kelly API"


class InvalidContent(BaseError):
    """An answer that is not the promised result: a success whose body is not JSON, lacks the result field
    or holds bad base64; a body over `max_response_bytes`; an answer that breaks HTTP (a garbage status
    line, huge headers, a body longer than its length, an encoding that cannot be decoded)."""

    message = "The Kelly API answered with invalid content"


class GenericApiError(BaseError):
    """Any other failure status (5xx other than 502), and redirects, which are never followed (so the key
    never leaves the host)."""

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
