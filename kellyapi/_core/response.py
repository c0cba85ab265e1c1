"""Turn a response into the method's result, or into the typed error its status means."""

from __future__ import annotations

import base64
import binascii
import json
from typing import cast

from kellyapi import errors
from kellyapi._core.download import MARKER
from kellyapi._core.endpoint import Endpoint, ResultT
from kellyapi._core.http import Request, Response
from kellyapi._core.policy.retry import parse_retry_after
from kellyapi._core.redaction import describe_detail, server_text, shorten

_INVALID_REQUEST_STATUSES = frozenset({400, 404, 405, 413, 422})
_DECODER = json.JSONDecoder()


def parse_json(body: bytes | bytearray) -> object:
    """The JSON document in a UTF-8 body; ValueError (or RecursionError) if there is none, as from json.loads.

    json.loads sniffs the encoding of bytes and runs two whitespace regexes around the document, in
    Python, on every call; for the compact UTF-8 JSON the API sends that is most of the cost of parsing a
    short answer. Anything but a bare document (leading or trailing whitespace, or no JSON) goes on to
    json.loads, which accepts it or says what is wrong.
    """
    text = body.decode("utf-8")
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def _error_class(status: int) -> type[errors.BaseError]:
    if status in (401, 403):
        return errors.InvalidApiKey
    if status == 429:
        return errors.RateLimitError
    if status == 408:
        return errors.TimeoutError
    if status == 502:
        return errors.ConnectionError
    if status in _INVALID_REQUEST_STATUSES or 400 <= status < 500:
        return errors.InvalidRequest
    return errors.GenericApiError


def error_for_response(request: Request, response: Response) -> errors.BaseError | None:
    """The error a non-2xx response stands for, or None when it succeeded."""
    status = response.status
    if 200 <= status < 300:
        return None
    detail: object = None
    try:
        parsed = parse_json(response.body)
    except (ValueError, RecursionError):
        said = server_text(response.body)
    else:
        detail = parsed.get("detail") if isinstance(parsed, dict) else None
        said = describe_detail(detail) if detail is not None else server_text(response.body)
    if 300 <= status < 400:
        said = f"unexpected redirect to {response.headers.get('location', '?')}"
    message = f"{request.describe()} failed with HTTP {status}"
    said = shorten(request.redact(said))  # redacted before it is cut, so no piece of a key survives the cut
    if said:
        message += f": {said}"
    return _error_class(status)(
        message,
        status_code=status,
        detail=request.redact(detail),
        retry_after=parse_retry_after(response.headers),
        headers=request.redact_headers(response.headers),
    )


def decode_json(request: Request, response: Response) -> object:
    """The parsed JSON of a 2xx response (None for an empty body); InvalidContent if it is not JSON."""
    if not response.body and response.status == 204:
        return None
    try:
        return parse_json(response.body)
    except (ValueError, RecursionError):
        content_type = shorten(request.redact(response.headers.get("content-type", "no content type")), 80)
        said = shorten(request.redact(server_text(response.body)))
        message = f"{request.describe()} answered {content_type}, not JSON: {said!r}"
        raise errors.InvalidContent(
            message, status_code=response.status, headers=request.redact_headers(response.headers)
        ) from None


def _is_the_answer(marked: bytes, field: str) -> bool:
    """Whether the body, with MARKER where the decoded text was, is a JSON object whose `field` (the last
    one of that name, as json.loads keeps) is the marker: then the text was the answer's own field."""
    try:
        data = parse_json(marked)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get(field) == MARKER


def decode_result(endpoint: Endpoint[ResultT], request: Request, response: Response) -> ResultT:
    """The value the SDK method returns, from a 2xx response; InvalidContent if it is not there."""
    if response.media is not None:
        media = response.media
        if media.field == endpoint.media_field and _is_the_answer(media.marked(response.body), media.field):
            return cast(ResultT, media.data)
        # The text was not the answer's field (nested, or given again later), or the rest is not JSON:
        # judge the body as it came, as json.loads and b64decode would.
        response = Response(response.status, response.headers, response.content, response.attempts)
    data = decode_json(request, response)
    if endpoint.result_kind == "json":
        return cast(ResultT, data)
    field = cast(str, endpoint.result_field)
    value = data.get(field) if isinstance(data, dict) else None
    if not isinstance(value, str):
        detail = data.get("detail") if isinstance(data, dict) else None
        problem = "is missing" if value is None else f"is a {type(value).__name__}, not a string"
        message = f"{request.describe()}: the response field {field!r} {problem}"
        if detail is not None:
            message += f"; the server said: {shorten(request.redact(describe_detail(detail)))}"
        raise errors.InvalidContent(
            message,
            status_code=response.status,
            detail=request.redact(detail),
            headers=request.redact_headers(response.headers),
        )
    if endpoint.result_kind == "str":
        return cast(ResultT, value)
    try:
        return cast(ResultT, base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        raise errors.InvalidContent(
            f"{request.describe()}: the response field {field!r} is not valid base64",
            status_code=response.status,
            headers=request.redact_headers(response.headers),
        ) from None
