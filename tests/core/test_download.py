"""The response body under the size cap, and a large base64 result decoded as it arrives."""

from __future__ import annotations

import base64
import itertools
import json
import tracemalloc
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kellyapi import errors
from kellyapi._core import download
from kellyapi._core.api_spec import GENERATE, LLM
from kellyapi._core.config import ClientConfig
from kellyapi._core.download import DECODE_ABOVE, BodyCollector
from kellyapi._core.http import Response, build_request
from kellyapi._core.response import decode_result

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
LLM_REQUEST = build_request(
    ClientConfig.create("k", None, 60, 2), LLM, {"prompt": "p", "model": None, "character": None}
)
BIG = DECODE_ABOVE + 10


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
    assert bytes(collector.response(200, {}).body) == data


@pytest.mark.parametrize("declared", [10, BIG])
def test_a_short_body_is_a_retryable_connection_error_and_a_long_one_broken_content(declared: int) -> None:
    short = BodyCollector(REQUEST, declared=declared, limit=10 * BIG)
    short.add(b"x" * (declared - 1))
    with pytest.raises(errors.ConnectionError, match=f"ended after {declared - 1} of {declared} bytes") as cut:
        short.response(200, {})
    assert not cut.value._deterministic  # a dropped connection: another attempt may get it all
    long = BodyCollector(REQUEST, declared=declared, limit=10 * BIG)
    with pytest.raises(errors.InvalidContent, match="longer than its Content-Length") as overlong:
        long.add(b"x" * (declared + 1))
    assert overlong.value._deterministic  # the server would send the same wrong length again


IMAGE = b"\x89PNG" + bytes(range(256)) * 8192  # 2 MiB: large enough to be decoded as it arrives
TEXT = base64.b64encode(IMAGE).decode()


def received(body: bytes, chunk: int, declared: bool = True, status: int = 200) -> Response:
    """`body` as a transport collects it, in chunks of `chunk` bytes."""
    collector = BodyCollector(REQUEST, len(body) if declared else None, 10 * len(body), success=status < 300)
    for start in range(0, len(body), chunk):
        collector.add(body[start : start + chunk])
    return collector.response(status, {"content-type": "application/json"})


BODIES = {
    "plain": json.dumps({"image": TEXT}).encode(),
    "other-fields-around": json.dumps({"seed": 7, "image": TEXT, "ok": True}).encode(),
    "spaces": json.dumps({"image": TEXT}, indent=2).encode(),
    "unpadded-length": json.dumps({"image": base64.b64encode(IMAGE + b"x").decode()}).encode(),
    # escaped slashes, which some servers write, are put back and take the plain JSON path
    "escaped-slashes": json.dumps({"image": TEXT}).replace("/", "\\/").encode(),
    # a nested "image" comes first: the answer's own field is the top-level one
    "nested-field-first": json.dumps({"meta": {"image": "aGk="}, "image": TEXT}).encode(),
    # the last group's spare bits set: still the same bytes, and the body is put back as sent
    "non-canonical-padding": json.dumps({"image": TEXT[:-4] + TEXT[-4:-2] + "R="}).encode(),
}


@pytest.mark.parametrize("chunk", [1021, 64 * 1024, 10 * 1024 * 1024])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("name", BODIES)
def test_a_large_base64_result_decodes_to_the_same_bytes_however_it_arrives(
    name: str, declared: bool, chunk: int
) -> None:
    body = BODIES[name]
    response = received(body, chunk, declared)
    expected = base64.b64decode(json.loads(body)["image"])
    assert decode_result(GENERATE, REQUEST, response) == expected
    assert response.content == body  # what with_raw_response's .content shows
    assert repr(response) == f"<Response 200 ({len(body)} bytes)>"  # its size, without rebuilding it
    assert len(response.body) < 1000 or name in ("escaped-slashes",)  # the text was not kept alongside


def test_an_error_answer_is_kept_whole() -> None:
    body = json.dumps({"detail": "no", "image": TEXT}).encode()
    response = received(body, 64 * 1024, status=500)
    assert response.media is None and response.body == body


def test_a_large_result_that_is_not_base64_is_still_invalid_content() -> None:
    body = json.dumps({"image": "!" * (2 * 1024 * 1024)}).encode()
    with pytest.raises(errors.InvalidContent, match="not valid base64"):
        decode_result(GENERATE, REQUEST, received(body, 64 * 1024))


@pytest.mark.parametrize(
    "body",
    [
        b'{"image": "' + base64.b64encode(IMAGE) + b'", oops',
        b'{"image": "' + base64.b64encode(IMAGE),  # ends inside the string
    ],
)
def test_a_large_body_that_is_not_json_is_still_invalid_content(body: bytes) -> None:
    with pytest.raises(errors.InvalidContent, match="not JSON"):
        decode_result(GENERATE, REQUEST, received(body, 64 * 1024, declared=False))


def test_a_large_result_is_held_once_while_it_is_decoded() -> None:
    body = BODIES["plain"]
    chunks = [body[start : start + 256 * 1024] for start in range(0, len(body), 256 * 1024)]
    tracemalloc.start()
    try:
        collector = BodyCollector(REQUEST, len(body), 10 * len(body))
        for chunk in chunks:
            collector.add(chunk)
        image = decode_result(GENERATE, REQUEST, collector.response(200, {}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert image == IMAGE
    assert peak < 1.3 * len(IMAGE)  # the image and a chunk or two; not its text as well (2.33x)


# The fast path against json.loads + b64decode, on every shape of body and every way it may be cut up.
# Both thresholds are lowered (unittest.mock.patch, undone after each example), so that small bodies,
# cut into many 1 to 12 byte chunks, take the path a large image answer takes.

SMALL_B64 = st.binary(max_size=40).map(lambda data: base64.b64encode(data).decode())
B64_VALUE = st.one_of(
    SMALL_B64,
    SMALL_B64.map(lambda text: text.rstrip("=")),  # unpadded: not base64 for b64decode
    SMALL_B64.filter(lambda text: text.endswith("=")).map(lambda text: text[:-2] + "B" + text[-1]),  # spare bits
    SMALL_B64.map(lambda text: text[:4] + "=" + text[4:]),  # padding mid-text
    st.sampled_from(["", "====", "A===", "AB=C", "aGk=\n", "!!!!"]),
)
JSON_STRING = st.one_of(
    B64_VALUE.map(json.dumps),
    B64_VALUE.map(lambda text: json.dumps(text).replace("/", "\\/")),  # escaped slashes
    B64_VALUE.map(lambda text: json.dumps(text).replace("A", "\\u0041")),  # escaped letters
)
SPACE = st.sampled_from(["", " ", "\n  "])


def _object(pairs: list[tuple[str, str]], space: str) -> str:
    return "{" + ",".join(f"{space}{json.dumps(key)}{space}:{space}{value}" for key, value in pairs) + space + "}"


VALUE = st.recursive(
    JSON_STRING | st.sampled_from(["1", "null", "true", "[]", '"image"', '"\\"image\\": \\"QUJD\\""']),
    lambda inner: (
        st.builds(
            _object, st.lists(st.tuples(st.sampled_from(["image", "meta", "x", "imag"]), inner), max_size=4), SPACE
        )
        | st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
    ),
    max_leaves=8,
)
BODY = st.one_of(
    st.builds(_object, st.lists(st.tuples(st.sampled_from(["image", "meta", "seed"]), VALUE), max_size=5), SPACE),
    VALUE,
).map(str.encode)


def plain_result(body: bytes) -> bytes | None:
    """What json.loads + b64decode make of `body`: the image, or None where the SDK must raise InvalidContent."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    value = data.get("image") if isinstance(data, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return None


def decoded(response: Response) -> bytes | None:
    try:
        return decode_result(GENERATE, REQUEST, response)
    except errors.InvalidContent:
        return None


@given(
    body=BODY,
    sizes=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=20),
    declared=st.booleans(),
)
@settings(max_examples=400, deadline=None)
def test_the_fast_path_agrees_with_json_loads_and_b64decode(body: bytes, sizes: list[int], declared: bool) -> None:
    chunks = []
    at = 0
    for size in itertools.cycle(sizes):
        if at >= len(body):
            break
        chunks.append(body[at : at + size])
        at += size
    with mock.patch.object(download, "_HEAD_LIMIT", 8), mock.patch.object(download, "DECODE_ABOVE", 0):
        collector = BodyCollector(REQUEST, len(body) if declared else None, 10 * len(body) + 10)
        for chunk in chunks:
            collector.add(chunk)
        response = collector.response(200, {"content-type": "application/json"})
        assert decoded(response) == plain_result(body)
    assert bytes(response.content) == body


@pytest.mark.parametrize(
    "body",
    [
        # a duplicate key: the last one wins, as in json.loads
        json.dumps({"image": TEXT}).encode()[:-1] + b', "image": ""}',
        b'{"image": "", "image": "' + TEXT.encode() + b'"}',
        # a same-named nested field, before or after the answer's own
        json.dumps({"meta": {"image": TEXT}, "image": ""}).encode(),
        json.dumps({"image": "", "meta": {"image": TEXT}}).encode(),
        json.dumps({"meta": [{"image": TEXT}], "image": "aGk="}).encode(),
    ],
    ids=["big-then-empty", "empty-then-big", "nested-first", "nested-after", "nested-in-a-list"],
)
@pytest.mark.parametrize("chunk", [1, 3, 64 * 1024])
def test_a_large_field_that_is_not_the_answer_s_own_gives_what_json_loads_gives(body: bytes, chunk: int) -> None:
    if chunk < 4:
        body = body.replace(TEXT.encode(), TEXT[: 96 * 1024].encode())  # 1-byte chunks of 2.7 MiB take long
    response = received(body, chunk, declared=False)
    assert decoded(response) == plain_result(body)
    assert bytes(response.content) == body


def test_memory_grows_with_what_arrives_not_with_the_declared_length() -> None:
    arrived = 2 * 1024 * 1024
    tracemalloc.start()
    try:
        for media in (True, False):  # an image call's answer, and another's
            collector = BodyCollector(REQUEST if media else LLM_REQUEST, 64 * 1024 * 1024 - 1, 64 * 1024 * 1024)
            for _ in range(arrived // (64 * 1024)):
                collector.add(b"A" * (64 * 1024))
            with pytest.raises(errors.ConnectionError):
                collector.response(200, {})
            _, peak = tracemalloc.get_traced_memory()
            assert peak < 2 * arrived
            assert tracemalloc.get_traced_memory()[0] < arrived / 4  # what it held was let go when it failed
    finally:
        tracemalloc.stop()
