"""The request one call sends and the response it gets: plain values that both transports speak."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs

from kellyapi import errors
from kellyapi._core.arguments import encode_arguments
from kellyapi._core.config import ClientConfig
from kellyapi._core.endpoint import Endpoint
from kellyapi._core.redaction import redact_headers, redact_text, redact_value, safe_cause, shorten
from kellyapi._core.upload import StreamedBody

if TYPE_CHECKING:
    from kellyapi._core.download import ExtractedMedia

ValueT = TypeVar("ValueT")

FormPart = tuple[str, "bytes | str", "str | None", "str | None"]
"""One part of a multipart upload: its name, its value, and for a file its file name and content type."""


# Request and Response are built on every call and never changed after; they are not attrs-frozen only
# because a frozen class sets each field through object.__setattr__, which doubles the cost of making one.


@attrs.define(repr=False)
class Request:
    """An HTTP request, ready for a transport; its repr leaves out the headers, which hold the key."""

    method: str
    route: str
    url: str
    headers: Mapping[str, str]
    body: bytes | StreamedBody | None  # a StreamedBody is encoded while it is sent, afresh for each attempt
    form: tuple[FormPart, ...] | None = None  # a multipart upload, which each transport encodes its own way
    media_field: str | None = None  # the answer's base64 field that the method returns decoded

    def __repr__(self) -> str:
        if self.form is not None:
            return f"<Request {self.method} {self.url} (multipart, {len(self.form)} parts)>"
        size = 0 if self.body is None else len(self.body)
        return f"<Request {self.method} {self.url} ({size} bytes)>"

    @property
    def secret(self) -> str:
        """The API key this request carries ("" when none), for redaction."""
        return self.headers.get("Authorization", "").partition(" ")[2]

    def redact(self, value: ValueT) -> ValueT:
        """`value` (text or parsed JSON) with the API key blanked out, for a server that echoes it back."""
        secret = self.secret
        if not secret:
            return value
        if isinstance(value, str):
            return cast(ValueT, redact_text(value, secret))
        return cast(ValueT, redact_value(value, secret))

    def redact_headers(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        """An answer's headers for an error: as they are, or a copy with the key blanked where one echoed it."""
        return redact_headers(headers, self.secret)

    def cause(self, exc: BaseException) -> BaseException:
        """What to chain an error to (`raise ... from`): `exc`, or a redacted stand-in if it shows the key."""
        return safe_cause(exc, self.secret)

    def describe(self) -> str:
        """`METHOD route`, for messages and logs."""
        return f"{self.method} {self.route}"

    def timed_out(self, timeout: float) -> errors.TimeoutError:
        """The error for an attempt that got no complete answer in time; the same from both transports."""
        return errors.TimeoutError(f"{self.describe()}: no complete answer within {timeout:.3g} s")

    def too_large(self, limit: int) -> errors.InvalidContent:
        """The error for a response body over the client's `max_response_bytes`; reading stops there."""
        return errors.InvalidContent(
            f"{self.describe()}: the response is larger than max_response_bytes ({limit:,} bytes)"
        )

    def _quote(self, cause: BaseException) -> str:
        return f"{self.describe()}: " + shorten(self.redact(f"{type(cause).__name__}: {cause}"))

    def failed(
        self, cause: BaseException, *, stale_connection: bool = False, deterministic: bool = False
    ) -> errors.ConnectionError:
        """The error for an attempt whose connection failed; the same from both transports.

        stale_connection: it failed on a reused pooled connection before any byte of an answer came, so
            the server never read it; deterministic: the same request would fail the same way (TLS
            verification), so it is not retried.
        """
        error = errors.ConnectionError(self._quote(cause))
        error._stale_connection = stale_connection
        error._deterministic = deterministic
        return error

    def broken(self, cause: BaseException) -> errors.InvalidContent:
        """The error for an answer that breaks HTTP itself (bad status line, huge headers, wrong length,
        undecodable encoding): the server would answer the same way again, so it is not retried."""
        error = errors.InvalidContent(self._quote(cause))
        error._deterministic = True
        return error


@attrs.define(repr=False)
class Response:
    """An HTTP response as a transport read it; `headers` is the transport's case-insensitive mapping."""

    status: int
    headers: Mapping[str, str]
    body: bytes | bytearray  # with `media`, the rest of the body: the media field's text taken out
    attempts: int = 1  # the client's attempt that got this answer
    media: ExtractedMedia | None = None  # a large answer's media, decoded as it arrived

    def __repr__(self) -> str:
        size = len(self.body) if self.media is None else len(self.body) + self.media.text_length
        return f"<Response {self.status} ({size} bytes)>"

    @property
    def content(self) -> bytes | bytearray:
        """The body as it came (with the media's text put back, if it was decoded as it arrived)."""
        return self.body if self.media is None else self.media.put_back(self.body)


def build_request(config: ClientConfig, endpoint: Endpoint[Any], values: Mapping[str, object]) -> Request:
    """Validate the arguments and build the request; raises before anything is sent."""
    route, body = encode_arguments(endpoint, values)
    if not config.has_api_key:
        raise errors.InvalidApiKey("No API key: pass api_key=... or set the KELLY_API_KEY environment variable")
    if endpoint.method == "GET":
        return Request(endpoint.method, route, config.base_url + route, config.headers, None)
    headers = config.json_headers
    if isinstance(body, StreamedBody):  # its length is declared up front: no chunked encoding
        headers = {**headers, "Content-Length": str(body.length)}
    return Request(endpoint.method, route, config.base_url + route, headers, body, None, endpoint.media_field)
