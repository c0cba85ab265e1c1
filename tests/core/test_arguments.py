"""Arguments are checked and encoded before anything is sent; the request both twins send is built here."""

from __future__ import annotations

import base64
import enum
import io
import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kellyapi import errors
from kellyapi._core import api_spec as endpoints
from kellyapi._core.config import ClientConfig
from kellyapi._core.http import Request, build_request

CONFIG = ClientConfig.create("secret-key", None, 60, 2)
DEFAULTS = {"negative_prompt": None, "model": None, "width": None, "height": None}


def sent_body(request: Request) -> bytes:
    """The body of a request that carries no large media: its bytes (a StreamedBody is written while sent)."""
    assert isinstance(request.body, bytes)
    return request.body


def generate_args(**overrides: object) -> dict[str, object]:
    return {"prompt": "a cat", **DEFAULTS, **overrides}


def test_generate_sends_the_original_clients_body() -> None:
    values = {
        "prompt": "a cat",
        "negative_prompt": endpoints.DEFAULT_NEGATIVE_PROMPT,
        "model": "PhotoPerfect",
        "width": 1024,
        "height": 1024,
    }
    request = build_request(CONFIG, endpoints.GENERATE, values)
    assert request.method == "POST"
    assert request.url == "https://api.kellyai.pro/image/generate"
    assert json.loads(sent_body(request)) == {**values, "responseType": "base64data"}
    assert json.loads(sent_body(request))["negative_prompt"].startswith("canvas frame, cartoon, 3d")
    assert request.headers["Authorization"] == "Bearer secret-key"
    assert request.headers["Content-Type"] == "application/json"


def test_none_for_an_optional_argument_means_its_default() -> None:
    body = json.loads(sent_body(build_request(CONFIG, endpoints.GENERATE, generate_args())))
    assert body["model"] == "PhotoPerfect"
    assert body["width"] == 1024
    assert body["negative_prompt"].startswith("canvas frame, cartoon")


def test_llm_puts_the_model_in_the_route_and_text_is_sent_as_code() -> None:
    request = build_request(CONFIG, endpoints.LLM, {"prompt": "hi", "model": "chatgpt", "character": "KelyAI"})
    assert request.route == "chat/chatgpt"
    assert json.loads(sent_body(request)) == {"prompt": "hi", "character": "KelyAI"}
    request = build_request(CONFIG, endpoints.CODE2IMAGE, {"text": "x = 1"})
    assert json.loads(sent_body(request)) == {"code": "x = 1", "responseType": "base64data"}


@given(
    prompt=st.text(st.characters(exclude_categories=["Cs"]), min_size=1),
    negative_prompt=st.text(st.characters(exclude_categories=["Cs"]), min_size=1),
    width=st.integers(64, 4096),
)
def test_the_body_is_the_bytes_compact_json_gives(prompt: str, negative_prompt: str, width: int) -> None:
    # The SDK writes its flat JSON bodies itself; they must be what json.dumps would have sent.
    values = {"prompt": prompt, "negative_prompt": negative_prompt, "model": "m", "width": width, "height": 64}
    request = build_request(CONFIG, endpoints.GENERATE, values)
    assert request.body == json.dumps({**values, "responseType": "base64data"}, separators=(",", ":")).encode()


def test_an_int_subclass_is_sent_as_a_plain_number() -> None:
    class Pixels(int):
        def __repr__(self) -> str:
            return f"{int(self)}px"

        __str__ = __repr__

    class Size(enum.IntEnum):
        LARGE = 1024

    values = generate_args(width=Pixels(512), height=Size.LARGE)
    body = sent_body(build_request(CONFIG, endpoints.GENERATE, values))
    assert b'"width":512,"height":1024,' in body


def test_path_values_cannot_escape_their_segment() -> None:
    request = build_request(CONFIG, endpoints.LLM, {"prompt": "hi", "model": "../admin?x=1", "character": "K"})
    assert request.route == "chat/..%2Fadmin%3Fx%3D1"
    request = build_request(CONFIG, endpoints.LLM, {"prompt": "hi", "model": "llama-3.1_8b~x", "character": "K"})
    assert request.route == "chat/llama-3.1_8b~x"
    request = build_request(CONFIG, endpoints.LLM, {"prompt": "hi", "model": "modèle {x}", "character": "K"})
    assert request.route == "chat/mod%C3%A8le%20%7Bx%7D"
    with pytest.raises(errors.InvalidRequest):
        build_request(CONFIG, endpoints.LLM, {"prompt": "hi", "model": "..", "character": "K"})


def test_gets_have_no_body() -> None:
    request = build_request(CONFIG, endpoints.SD_MODELS, {})
    assert request.body is None
    assert "Content-Type" not in request.headers


@pytest.mark.parametrize(
    ("overrides", "says", "builtin"),
    [
        ({"prompt": None}, "generate() needs prompt", TypeError),
        ({"prompt": 42}, "prompt must be a str, got int", TypeError),
        ({"prompt": "\ud800"}, "lone surrogate", ValueError),
        ({"width": "1024"}, "width must be an int, got str", TypeError),
        ({"width": 10.5}, "width must be an int, got float", TypeError),
        ({"width": math.nan}, "width must be an int, got float", TypeError),
        ({"width": True}, "width must be an int, got bool", TypeError),
    ],
)
def test_bad_arguments_are_invalid_request_and_a_builtin_error(
    overrides: dict[str, object], says: str, builtin: type[Exception]
) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        build_request(CONFIG, endpoints.GENERATE, generate_args(**overrides))
    assert says in str(caught.value)
    assert isinstance(caught.value, builtin), "either habit catches it: except InvalidRequest or the builtin"


@pytest.mark.parametrize(
    "overrides",
    [{"width": 8192}, {"width": 32}, {"height": 0}, {"width": 10**30}, {"prompt": ""}, {"model": "NoSuchModel"}],
)
def test_limits_nobody_published_are_left_to_the_server(overrides: dict[str, object]) -> None:
    request = build_request(CONFIG, endpoints.GENERATE, generate_args(**overrides))
    sent = json.loads(sent_body(request))
    assert all(sent[name] == value for name, value in overrides.items())


def encoded_image(value: object) -> str:
    request = build_request(CONFIG, endpoints.UPSCALE, {"image_data": value})
    return str(json.loads(sent_body(request))["image_data"])


def test_media_accepts_base64_text_bytes_paths_and_binary_files(tmp_path: Path) -> None:
    raw = b"\x89PNG\r\n\x1a\n pixels"
    text = base64.b64encode(raw).decode()
    path = tmp_path / "in.png"
    path.write_bytes(raw)
    assert encoded_image(text) == text
    assert encoded_image(raw) == text
    assert encoded_image(bytearray(raw)) == text
    assert encoded_image(memoryview(raw)) == text
    assert encoded_image(path) == text
    assert encoded_image(io.BytesIO(raw)) == text
    with path.open("rb") as file:
        assert encoded_image(file) == text


@pytest.mark.parametrize(
    ("value", "says", "builtin"),
    [
        ("cat.png", "a str must be base64 text", ValueError),
        (Path("/no/such/file.png"), "cannot read '/no/such/file.png'", ValueError),
        (io.StringIO("text"), "binary mode", TypeError),
        (12, "got int", TypeError),
        (None, "upscale() needs image_data", TypeError),
    ],
)
def test_bad_media_is_invalid_request(value: object, says: str, builtin: type[Exception]) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        encoded_image(value)
    assert says in str(caught.value)
    assert isinstance(caught.value, builtin)


def test_empty_or_unknown_media_is_sent_for_the_server_to_judge() -> None:
    assert encoded_image(b"") == ""
    assert encoded_image(b"not an image") == base64.b64encode(b"not an image").decode()


def test_no_api_key_is_refused_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KELLY_API_KEY", raising=False)
    config = ClientConfig.create(None, None, 60, 2)
    with pytest.raises(errors.InvalidApiKey) as caught:
        build_request(config, endpoints.SD_MODELS, {})
    assert "KELLY_API_KEY" in str(caught.value)
