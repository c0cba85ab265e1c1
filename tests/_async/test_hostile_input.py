"""No argument value, of any type or size, makes a method raise anything but a `kellyapi.errors` error,
and every request that does go out has the wire format the spec gives; only the spec's assumptions
(ranges, lengths, media formats, model names), which the client leaves to the server, may refuse it."""

from __future__ import annotations

import base64
import inspect
import json
import re
import urllib.parse
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kellyapi import KellyAPI, errors
from kellyapi._core.api_spec import ENDPOINTS
from kellyapi._core.http import Response
from kellyapi._core.upload import StreamedBody
from kellyapi.sandbox.models import ModelLists
from kellyapi.sandbox.validation import validate
from tests._async.helpers import recording_requests
from tests.samples import PNG

ANSWER = Response(
    200,
    {"content-type": "application/json"},
    json.dumps(
        {"image": "aGk=", "content": "hi", "message": "hi", "voice": "aGk=", "result": "hi", "models": []}
    ).encode(),
)

HUGE = st.integers(min_value=0, max_value=3_000_000).map(lambda n: "x" * n)
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.characters(codec=None), max_size=50),
    HUGE,
    st.binary(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.sampled_from(
        [
            base64.b64encode(PNG).decode(),
            PNG,
            "aGVsbG8=",
            b"\x89PNG",
            "chatgpt",
            "../..",
            "a/b?c#d",
            "\r\nX-Evil: 1",
            1024,
            64,
        ]
    ),
)
TIMEOUTS = st.one_of(st.none(), st.floats(min_value=0.001, max_value=100), ANY_VALUE)
# What the sandbox may refuse and the client must send anyway: assumptions nobody published.
ASSUMPTIONS = {"greater_than_equal", "less_than_equal", "string_too_short"}
ASSUMED_VALUE_ERRORS = re.compile(r"Value error, (not a PNG|not WAV|unknown \w+ model)")


def wire_problems(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The problems that break the wire format (a type, a constant, the encoding), not an assumption."""
    return [
        problem
        for problem in problems
        if problem["type"] not in ASSUMPTIONS and not ASSUMED_VALUE_ERRORS.match(problem["msg"])
    ]


def path_values(template: str, route: str) -> dict[str, str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    match = re.fullmatch(pattern, route)
    assert match is not None, f"{route!r} does not fit {template!r}"
    return {name: urllib.parse.unquote(value) for name, value in match.groupdict().items()}


def parameters(method: str) -> dict[str, bool]:
    """The method's arguments but `timeout`, each with whether it is required."""
    signature = inspect.signature(getattr(KellyAPI, method))
    return {
        name: parameter.default is inspect.Parameter.empty
        for name, parameter in signature.parameters.items()
        if name not in ("self", "timeout")
    }


@pytest.mark.parametrize("method", sorted(ENDPOINTS))
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_any_arguments_give_a_typed_error_or_a_request_the_spec_accepts(method: str, data: st.DataObject) -> None:
    arguments: dict[str, Any] = {}
    for name in parameters(method):
        if data.draw(st.booleans(), label=f"pass {name}"):
            arguments[name] = data.draw(ANY_VALUE, label=name)
    timeout = data.draw(TIMEOUTS, label="timeout")
    async with KellyAPI("property-key", "https://api.test/") as api:
        transport = recording_requests(api, ANSWER)
        try:
            await getattr(api, method)(**arguments, timeout=timeout)
        except errors.BaseError:
            pass
        except TypeError as exc:
            left_out = [name for name, required in parameters(method).items() if required and name not in arguments]
            assert left_out, exc  # only Python's own complaint about a required argument left out
    for request in transport.sent:
        endpoint = ENDPOINTS[method]
        assert request.url == "https://api.test/" + request.route
        assert not re.search(r"[\s#?]", request.url)
        assert all("\r" not in value and "\n" not in value for value in request.headers.values())
        sent = request.body.assemble() if isinstance(request.body, StreamedBody) else request.body
        body = None if sent is None else json.loads(sent)
        problems = validate(endpoint, path_values(endpoint.path, request.route), body, ModelLists())
        assert wire_problems(problems) == []


async def test_a_missing_or_unknown_argument_is_python_s_own_type_error_and_nothing_is_sent() -> None:
    # As the docs say: Python's TypeError at the call, as for any function (and for type checkers), not an
    # InvalidRequest, which is for arguments given with a wrong type or value.
    async with KellyAPI("property-key", "https://api.test/") as api:
        transport = recording_requests(api, ANSWER)
        with pytest.raises(TypeError, match="image_data") as missing:
            await api.img2text("What is in this picture?")  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="modle") as unknown:
            await api.llm("hi", modle="chatgpt")  # type: ignore[call-arg]
        with pytest.raises(errors.InvalidArgumentType) as wrong_type:
            await api.img2text("What is in this picture?", None)  # type: ignore[arg-type]
    assert not isinstance(missing.value, errors.BaseError)
    assert not isinstance(unknown.value, errors.BaseError)
    assert isinstance(wrong_type.value, TypeError) and isinstance(wrong_type.value, errors.InvalidRequest)
    assert transport.sent == []
