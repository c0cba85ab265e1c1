"""`RawResponse`: an answer as it came, for callers who need its status, headers or timing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic

from kellyapi import errors
from kellyapi._core.endpoint import Endpoint, ResultT
from kellyapi._core.http import Request, Response
from kellyapi._core.response import decode_result

_UNPARSED: Any = object()


class RawResponse(Generic[ResultT]):
    """The successful answer of one call: `status_code`, `headers` (case-insensitive), `elapsed`, `attempts`.

    `parse()` gives what the method returns without `with_raw_response`, and raises what it would raise.
    """

    __slots__ = ("_endpoint", "_request", "_response", "_result", "elapsed", "headers")

    def __init__(self, endpoint: Endpoint[ResultT], request: Request, response: Response, elapsed: float) -> None:
        """Wrap the answer `response` to `request`, which took `elapsed` seconds in all."""
        self._endpoint = endpoint
        self._request = request
        self._response = response
        self._result: ResultT = _UNPARSED
        self.elapsed = elapsed  # seconds from the first attempt to the answer, retries and waits included
        self.headers: Mapping[str, str] = request.redact_headers(response.headers)

    @property
    def status_code(self) -> int:
        """The HTTP status of the answer."""
        return self._response.status

    @property
    def attempts(self) -> int:
        """HTTP attempts the call made, retries and resends included."""
        return self._response.attempts

    @property
    def content(self) -> bytes:
        """The body as it came."""
        return bytes(self._response.content)

    def parse(self) -> ResultT:
        """The method's usual result (decoded once); its typed error if the answer is not what the API promises."""
        if self._result is _UNPARSED:
            try:
                self._result = decode_result(self._endpoint, self._request, self._response)
            except errors.BaseError as error:
                error.attempts = self._response.attempts
                raise
        return self._result

    def __repr__(self) -> str:
        return f"<RawResponse {self._request.describe()} {self.status_code} in {self.elapsed:.3f} s>"
