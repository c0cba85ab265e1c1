"""`request(method, route, ...)`: any route, newer than the spec, with the client's key, retries and errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kellyapi import KellyAPI, errors
from kellyapi.testing import KellySandbox
from tests.hostile_server import API_KEY, answer, hostile, replying, serve_forever
from tests.samples import PNG
from tests.upload_server import upload_server

TEXT = "text/plain; charset=utf-8"


async def test_a_route_is_called_with_the_key_json_and_query_and_answers_its_json(
    kelly_async_client: KellyAPI, kelly_sandbox: KellySandbox
) -> None:
    assert await kelly_async_client.request("GET", "sd/models", params={"page": 2, "tag": ["a", "b"]}) == (
        await kelly_async_client.sd_models()
    )
    answer = await kelly_async_client.request("post", "/chat/gemini", json={"prompt": "hi", "character": "Sage"})

    assert answer["message"] == await kelly_async_client.llm("hi", model="gemini", character="Sage")
    first, second = kelly_sandbox.requests[0], kelly_sandbox.requests[2]
    assert first.query == "page=2&tag=a&tag=b"
    assert (second.method, second.path, second.body) == ("POST", "/chat/gemini", {"prompt": "hi", "character": "Sage"})


async def test_it_retries_and_raises_the_typed_errors_of_the_methods(
    kelly_async_client: KellyAPI, kelly_sandbox: KellySandbox
) -> None:
    kelly_sandbox.fail("sd/models", "503", times=1)
    assert await kelly_async_client.request("GET", "sd/models")
    assert [r.status for r in kelly_sandbox.requests] == [503, 200]

    with pytest.raises(errors.InvalidRequest) as caught:
        await kelly_async_client.request("POST", "image/nano-banana", json={})
    assert caught.value.status_code == 404
    assert str(caught.value) == "POST image/nano-banana failed with HTTP 404: Not Found"
    with pytest.raises(errors.InvalidRequest) as caught:
        await kelly_async_client.request("DELETE", "sd/models")
    assert str(caught.value) == "DELETE sd/models failed with HTTP 405: Method Not Allowed"
    assert caught.value.detail == "Method Not Allowed"

    with pytest.raises(errors.TimeoutError):
        kelly_sandbox.fail("sd/models", "hang", times=1)
        await kelly_async_client.request("GET", "sd/models", timeout=0.5)


@pytest.mark.parametrize(
    "route", ["https://elsewhere.example/steal", "//elsewhere.example/x", "a/../../b", "x?y=1", "a b", ""]
)
async def test_a_route_that_could_leave_the_api_is_refused_before_sending(
    kelly_async_client: KellyAPI, kelly_sandbox: KellySandbox, route: str
) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        await kelly_async_client.request("GET", route)
    assert isinstance(caught.value, ValueError)
    assert kelly_sandbox.requests == []


async def test_json_that_cannot_be_sent_is_refused_before_sending(kelly_async_client: KellyAPI) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        await kelly_async_client.request("POST", "chat/gemini", json={"prompt": object()})
    assert isinstance(caught.value, TypeError)
    with pytest.raises(errors.InvalidRequest):
        await kelly_async_client.request("POST", "chat/gemini", json={"prompt": float("nan")})


async def test_files_go_as_a_multipart_upload_with_the_json_as_fields(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG)
    with upload_server() as url:
        async with KellyAPI("upload-key", url) as api:
            answer = await api.request(
                "POST",
                "image/nano-banana",
                json={"prompt": "make it autumn", "strength": 0.5},
                params={"v": 2},
                files=[("files", photo), ("files", ("second.jpg", b"\xff\xd8\xff rest", "image/jpeg"))],
            )

    assert answer["authorization"] == "Bearer upload-key"
    assert answer["content_type"] == "multipart/form-data"
    assert answer["query"] == "v=2"
    assert answer["parts"] == [
        {
            "name": "prompt",
            "filename": None,
            "content_type": TEXT,
            "sha256": sha256(b"make it autumn"),
            "text": "make it autumn",
        },
        {"name": "strength", "filename": None, "content_type": TEXT, "sha256": sha256(b"0.5"), "text": "0.5"},
        {"name": "files", "filename": "photo.png", "content_type": "image/png", "sha256": sha256(PNG), "text": None},
        {
            "name": "files",
            "filename": "second.jpg",
            "content_type": "image/jpeg",
            "sha256": sha256(b"\xff\xd8\xff rest"),
            "text": None,
        },
    ]


async def test_a_multipart_upload_is_resent_whole_on_a_retry() -> None:
    with upload_server(fail_first=1) as url:
        async with KellyAPI("upload-key", url) as api:
            raw = await api.request("POST", "image/enhance", files={"image": ("in.png", PNG)})
    assert raw["parts"] == [
        {"name": "image", "filename": "in.png", "content_type": "image/png", "sha256": sha256(PNG), "text": None}
    ]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("route", ["%2e%2e/admin", ".%2E/admin", "%2E./admin", "a/%2e/b", "a/%2E%2e", "a%zz", "a%2"])
async def test_a_dot_segment_written_with_escapes_is_refused_before_sending(route: str) -> None:
    with hostile(serve_forever) as server:
        async with KellyAPI(API_KEY, server.url + "api/v1/", max_retries=0) as api:
            with pytest.raises(errors.InvalidRequest) as caught:
                await api.request("GET", route)
    assert isinstance(caught.value, ValueError)
    assert server.requests == []


@pytest.mark.parametrize(
    ("route", "line"),
    [
        ("a/%2fb%7e/c", "GET /api/v1/a/%2Fb%7E/c?n=%C3%A9+x HTTP/1.1"),
        ("x;v=1/it's(1)*!$&+,:@~.-_", "GET /api/v1/x;v=1/it's(1)*!$&+,:@~.-_?n=%C3%A9+x HTTP/1.1"),
        ("a..b/...", "GET /api/v1/a..b/...?n=%C3%A9+x HTTP/1.1"),
    ],
)
async def test_the_route_is_sent_as_written_the_same_by_both_twins(route: str, line: str) -> None:
    with hostile(replying(lambda request: answer(body={}))) as server:
        async with KellyAPI(API_KEY, server.url + "api/v1/", max_retries=0) as api:
            assert await api.request("GET", route, params={"n": "é x"}) == {}
    assert [received.request_line for received in server.requests] == [line]


async def test_a_large_json_body_goes_whole_with_its_length() -> None:
    text = "x" * 3_000_000  # over the 1 MiB the async transport sends in one write
    with hostile(replying(lambda request: answer(body={"length": len(request.body)}))) as server:
        async with KellyAPI(API_KEY, server.url, max_retries=0) as api:
            assert await api.request("POST", "echo", json={"a": text}) == {"length": len(text) + 8}
    [received] = server.requests
    assert b"content-length: 3000008" in received.head.lower()
    assert b"transfer-encoding" not in received.head.lower()
