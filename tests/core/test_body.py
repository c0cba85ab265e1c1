"""The response body under the size cap, and the in-place decoding of large base64 results."""

from __future__ import annotations

import base64
import json

import pytest

from kellyapi import errors
from kellyapi._core.api_spec import GENERATE
from kellyapi._core.config import ClientConfig
from kellyapi._core.http import Response, build_request
from kellyapi._core.response import decode_result
from kellyapi._transport.body import PREALLOCATE_ABOVE, BodyCollector

REQUEST = build_request(
    ClientConfig.create("k", None, 60, 2),
    GENERATE,
    {
        "prompt": "p",
        "negative_prompt": None,
        "model": None,
        "width": 64,
        "height": 64,
    },
)
BIG = PREALLOCATE_ABOVE + 10


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    with pytest.raises(errors.InvalidContent, match="larger than max_response_bytes"):
        BodyCollector(REQUEST, declared=101, limit=100)


def test_an_undeclared_body_is_cut_off_at_the_cap() -> None:
    collector = BodyCollector(REQUEST, declared=None, limit=100)
    collector.add(b"x" * 60)
    with pytest.raises(errors.InvalidContent):
        collector.add(b"x" * 41)


@pytest.mark.parametrize("declared", [10, BIG])
def test_a_declared_body_fills_exactly_and_says_when_it_is_complete(declared: int) -> None:
    collector = BodyCollector(REQUEST, declared=declared, limit=10 * BIG)
    data = bytes(range(256)) * (declared // 256) + b"z" * (declared % 256)
    collector.add(data[:3])
    assert not collector.complete
    collector.add(data[3:])
    assert collector.complete
    assert bytes(collector.body()) == data


@pytest.mark.parametrize("declared", [10, BIG])
def test_a_short_body_is_a_retryable_connection_error_and_a_long_one_broken_content(declared: int) -> None:
    short = BodyCollector(REQUEST, declared=declared, limit=10 * BIG)
    short.add(b"x" * (declared - 1))
    with pytest.raises(errors.ConnectionError, match=f"ended after {declared - 1} of {declared} bytes") as cut:
        short.body()
    assert not cut.value._deterministic  # a dropped connection: another attempt may get it all
    long = BodyCollector(REQUEST, declared=declared, limit=10 * BIG)
    with pytest.raises(errors.InvalidContent, match="longer than its Content-Length") as overlong:
        long.add(b"x" * (declared + 1))
    assert overlong.value._deterministic  # the server would send the same wrong length again


IMAGE = b"\x89PNG" + bytes(range(256)) * 8192  # 2 MiB: large enough for the in-place path


def answer(body: bytes | bytearray) -> Response:
    return Response(200, {"content-type": "application/json"}, body)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"image": base64.b64encode(IMAGE).decode()}).encode(),
        bytearray(json.dumps({"seed": 7, "image": base64.b64encode(IMAGE).decode(), "ok": True}).encode()),
        # escaped slashes, which some servers write, take the plain JSON path
        json.dumps({"image": base64.b64encode(IMAGE).decode()}).replace("/", "\\/").encode(),
        # a nested "image" comes first: the in-place path must not take it
        json.dumps({"meta": {"image": "aGk="}, "image": base64.b64encode(IMAGE).decode()}).encode(),
    ],
    ids=["plain", "bytearray-with-other-fields", "escaped-slashes", "nested-field-first"],
)
def test_a_large_base64_result_decodes_to_the_same_bytes_on_every_path(body: bytes) -> None:
    assert decode_result(GENERATE, REQUEST, answer(body)) == IMAGE


def test_a_large_result_that_is_not_base64_is_still_invalid_content() -> None:
    body = json.dumps({"image": "!" * (2 * 1024 * 1024)}).encode()
    with pytest.raises(errors.InvalidContent, match="not valid base64"):
        decode_result(GENERATE, REQUEST, answer(body))


def test_a_large_body_that_is_not_json_is_still_invalid_content() -> None:
    body = b'{"image": "' + base64.b64encode(IMAGE) + b'", oops'
    with pytest.raises(errors.InvalidContent, match="not JSON"):
        decode_result(GENERATE, REQUEST, answer(body))
