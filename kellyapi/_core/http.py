"""The request one call sends and the response it gets: plain values that both transports speak."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

import attrs

from kellyapi import errors
from kellyapi._core.arguments import encode_arguments
from kellyapi._core.config import ClientConfig
from kellyapi._core.endpoint import Endpoint

REDACTED = "<redacted>"
ValueT = TypeVar("ValueT")


def _without(secret: str, value: object) -> object:
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, list):
        return [_without(secret, item) for item in value]
    if isinstance(value, dict):
        return {_without(secret, name): _without(secret, item) for name, item in value.items()}
    return value


# Request and Response are built on every call and never changed after; they are not attrs-frozen only
# because a frozen class sets each field through object.__setattr__, which doubles the cost of making one.


@attrs.define(repr=False)
class Request:
    """An HTTP request, ready for a transport; its repr leaves out the headers, which hold the key."""

    method: str
    route: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None

    def __repr__(self) -> str:
        size = 0 if self.body is None else len(self.body)
        return f"<Request {self.method} {self.url} ({size} bytes)>"

    def redact(self, value: ValueT) -> ValueT:
        """`value` (text or parsed JSON) with the API key blanked out, for a server that echoes it back."""
        key = self.headers.get("Authorization", "").partition(" ")[2]
        return value if not key else cast(ValueT, _without(key, value))

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

    def failed(self, cause: Exception) -> errors.ConnectionError:
        """The error for an attempt whose connection failed; the same from both transports."""
        return errors.ConnectionError(f"{self.describe()}: {type(cause).__name__}: {cause}")


@attrs.define(repr=False)
class Response:
    """An HTTP response as a transport read it; `headers` is the transport's case-insensitive mapping."""

    status: int
    headers: Mapping[str, str]
    body: bytes | bytearray

    def __repr__(self) -> str:
        return f"<Response {self.status} ({len(self.body)} bytes)>"


def build_request(config: ClientConfig, endpoint: Endpoint[Any], values: Mapping[str, object]) -> Request:
    """Validate the arguments and build the request; raises before anything is sent."""
    route, body = encode_arguments(endpoint, values)
    if not config.has_api_key:
        raise errors.InvalidApiKey("No API key: pass api_key=... or set the KELLY_API_KEY environment variable")
    if endpoint.method == "GET":
        return Request(endpoint.method, route, config.base_url + route, config.headers, None)
    return Request(endpoint.method, route, config.base_url + route, config.json_headers, body)
