"""Statuses map to typed errors and results decode, from plain values."""

from __future__ import annotations

import base64
import builtins
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kellyapi import errors
from kellyapi._core import api_spec as endpoints
from kellyapi._core.http import Request, Response
from kellyapi._core.response import decode_result, error_for_response, parse_json

REQUEST = Request("POST", "image/generate", "https://api.kellyai.pro/image/generate", {}, b"{}")


def response(status: int, body: object = None, headers: dict[str, str] | None = None) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, headers or {}, raw)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (401, errors.InvalidApiKey),
        (403, errors.InvalidApiKey),
        (400, errors.InvalidRequest),
        (404, errors.InvalidRequest),
        (405, errors.InvalidRequest),
        (413, errors.InvalidRequest),
        (422, errors.InvalidRequest),
        (429, errors.RateLimitError),
        (408, errors.TimeoutError),
        (502, errors.ConnectionError),
        (500, errors.GenericApiError),
        (503, errors.GenericApiError),
        (504, errors.GenericApiError),
        (307, errors.GenericApiError),
    ],
)
def test_status_maps_to_its_error_class(status: int, error_class: type[errors.BaseError]) -> None:
    error = error_for_response(REQUEST, response(status, {"detail": "nope"}))
    assert type(error) is error_class
    assert error.status_code == status
    assert error.detail == "nope"
    assert error.success is False
    assert error.error_message == str(error)


def test_success_is_no_error() -> None:
    assert error_for_response(REQUEST, response(200, {"image": ""})) is None


def test_every_error_derives_from_base_error() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.BaseError)
    assert issubclass(errors.TimeoutError, builtins.TimeoutError)
    assert issubclass(errors.ConnectionError, builtins.ConnectionError)


def test_rate_limit_carries_retry_after() -> None:
    error = error_for_response(REQUEST, response(429, {"detail": "slow"}, {"retry-after": "12"}))
    assert isinstance(error, errors.RateLimitError)
    assert error.retry_after == 12.0


def test_redirects_are_errors_that_say_where() -> None:
    error = error_for_response(REQUEST, response(301, b"", {"location": "https://elsewhere/"}))
    assert error is not None
    assert "unexpected redirect to https://elsewhere/" in str(error)


def test_a_non_json_error_body_is_quoted_briefly() -> None:
    error = error_for_response(REQUEST, response(502, b"<html>\n  <h1>Bad   gateway</h1>" + b"x" * 5000))
    assert error is not None
    assert "<html> <h1>Bad gateway</h1>" in str(error)
    assert len(str(error)) < 300


def test_old_style_errors_still_construct() -> None:
    error = errors.InvalidContent()
    assert str(error) == errors.InvalidContent.message
    assert error.error_message == errors.InvalidContent.message
    assert errors.InvalidApiKey("custom").error_message == "custom"


def test_decode_bytes_str_and_json() -> None:
    png = b"\x89PNG data"
    assert decode_result(endpoints.GENERATE, REQUEST, response(200, {"image": base64.b64encode(png).decode()})) == png
    assert decode_result(endpoints.LLM, REQUEST, response(200, {"message": "hi"})) == "hi"
    assert decode_result(endpoints.SD_MODELS, REQUEST, response(200, ["a", "b"])) == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>", "not JSON"),
        ({"other": 1}, "'image' is missing"),
        ({"image": 5}, "is a int, not a string"),
        ({"image": "%%%"}, "not valid base64"),
        ({"detail": "model overloaded"}, "the server said: model overloaded"),
        (["not", "an", "object"], "'image' is missing"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_bad_results_are_invalid_content(body: object, says: str) -> None:
    with pytest.raises(errors.InvalidContent) as caught:
        decode_result(endpoints.GENERATE, REQUEST, response(200, body))
    assert says in str(caught.value)


@given(
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    ),
    before=st.sampled_from(["", " ", "\n\t "]),
    after=st.sampled_from(["", " ", "\r\n"]),
)
def test_parse_json_reads_what_json_loads_reads(document: object, before: str, after: str) -> None:
    body = (before + json.dumps(document) + after).encode()
    assert parse_json(body) == json.loads(body)


@pytest.mark.parametrize("body", [b"", b"{} x", b'{"a": 1}{}', b"nul", b"\xff{}", b'{"a": "\xc3"}'])
def test_parse_json_refuses_no_document_extra_data_and_bad_utf8(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_json(body)
