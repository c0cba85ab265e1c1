"""Both twins against servers that misbehave on purpose: deadlines hold, no answer goes to the wrong call,
stale connections are resent once, deterministic failures are not retried, interim answers are skipped,
no error shows the key, and every attempt is logged."""

from __future__ import annotations

import gzip
import json
import logging
import ssl
import time
import traceback

import pytest
import trustme

from kellyapi import KellyAPI, errors
from tests.hostile_server import (
    API_KEY,
    Connection,
    Received,
    answer,
    echo,
    hostile,
    replying,
    serve_forever,
    shows_the_key,
)

MARGIN = 1.0  # seconds a call may run past its deadline on a busy machine (the contract is 0.5 s)


def attempts_logged(caplog: pytest.LogCaptureFixture, route: str) -> int:
    return sum(1 for record in caplog.records if record.getMessage().startswith(f"{route} -> "))


# 1. Deadlines bound the whole exchange.


def drip_status_line(conn: Connection) -> None:
    if conn.read_request() is not None:
        conn.drip(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", 0.2)


def drip_headers(conn: Connection) -> None:
    if conn.read_request() is not None and conn.send(b"HTTP/1.1 200 OK\r\n"):
        conn.drip(b"X-Slow: " + b"z" * 200, 0.2)


def drip_chunk_size(conn: Connection) -> None:
    if conn.read_request() is not None:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        conn.drip(b"00000000000000000000000002\r\n{}\r\n0\r\n\r\n", 0.2)


def gzip_of_empty_blocks(conn: Connection) -> None:
    if conn.read_request() is not None:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n\r\n")
        header = gzip.compress(b"")[:10]
        empty_block = b"\x00\x00\x00\xff\xff"  # a stored deflate block holding nothing, not the last one
        conn.send(header)
        conn.drip(empty_block * 400, 0.02, size=len(empty_block))


def start_late_then_stall(conn: Connection) -> None:
    if conn.read_request() is not None and not conn.server.stopping.wait(1.5):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{")
        conn.server.stopping.wait(10)


@pytest.mark.parametrize(
    "script", [drip_status_line, drip_headers, drip_chunk_size, gzip_of_empty_blocks, start_late_then_stall]
)
async def test_the_timeout_bounds_the_whole_exchange(script: object) -> None:
    with hostile(script) as server:  # type: ignore[arg-type]
        async with KellyAPI(API_KEY, server.url, timeout=2, max_retries=0) as api:
            started = time.monotonic()
            with pytest.raises(errors.TimeoutError):
                await api.llm("slowly")
            assert time.monotonic() - started < 2 + MARGIN


# 2. Never an unrequested answer.


def stray_after_each_answer(stray: bytes) -> object:
    def script(conn: Connection) -> None:
        while (request := conn.read_request()) is not None:
            conn.send(echo(request))
            if conn.server.stopping.wait(0.1) or not conn.send(stray):
                return

    return script


@pytest.mark.parametrize(
    "stray",
    [
        answer(body={"message": "an answer nobody asked for"}),
        b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Le",  # half an answer
    ],
    ids=["stray-200", "idle-408", "partial"],
)
async def test_a_connection_that_spoke_while_idle_is_never_reused(stray: bytes) -> None:
    with hostile(stray_after_each_answer(stray)) as server:  # type: ignore[arg-type]
        async with KellyAPI(API_KEY, server.url, max_retries=0) as api:
            answers = []
            for prompt in ("one", "two", "three"):
                answers.append(await api.llm(prompt))
                await api._transport.sleep(0.3)  # the stray arrives while the connection is idle
        assert answers == ["one", "two", "three"]
        assert server.connections == 3


# 3. Stale pooled connections are resent once, and nothing is sent unlogged.


def close_after_answering(conn: Connection) -> None:
    request = conn.read_request()
    if request is not None:
        conn.send(echo(request))  # no "Connection: close", yet the server closes
    conn.close()


async def test_a_server_closing_after_each_answer_costs_no_call(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kellyapi")
    with hostile(close_after_answering) as server:
        # A POST that meets the closed connection cannot tell it from one the server read: it is resent as
        # a counted retry (a GET would be resent at once).
        async with KellyAPI(API_KEY, server.url, max_retries=2) as api:
            answers = [await api.llm(f"call {number}") for number in range(50)]
        assert answers == [f"call {number}" for number in range(50)]
        assert len(server.requests) == 50
        assert attempts_logged(caplog, "POST chat/chatgpt") >= len(server.requests)


def read_the_second_request_then_close(conn: Connection) -> None:
    first = conn.read_request()
    if first is not None and conn.send(echo(first)):
        conn.read_request()  # read, never answered
    conn.close()


async def test_a_get_the_server_read_on_a_stale_connection_is_resent_once_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kellyapi")
    with hostile(read_the_second_request_then_close) as server:
        async with KellyAPI(API_KEY, server.url, max_retries=0) as api:
            for _ in range(5):
                await api.llm_models()
        # Calls 2-5 each meet a stale connection the server read from: a GET is replayable (Go's net/http
        # resends it too), so each is resent once on a new connection, uncounted but logged.
        assert len(server.requests) == 9
        assert attempts_logged(caplog, "GET chat/models") == 9


async def test_a_post_the_server_read_on_a_stale_connection_is_resent_only_as_a_counted_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kellyapi")
    with hostile(read_the_second_request_then_close) as server:
        async with KellyAPI(API_KEY, server.url, max_retries=0) as api:
            assert await api.llm("first") == "first"
            with pytest.raises(errors.ConnectionError) as caught:
                await api.llm("billed once")  # the server read it: it might have done the work
            assert caught.value.attempts == 1
        assert [request.json()["prompt"] for request in server.requests] == ["first", "billed once"]
        assert attempts_logged(caplog, "POST chat/chatgpt") == 2

    with hostile(read_the_second_request_then_close) as server:
        async with KellyAPI(API_KEY, server.url, max_retries=1) as api:
            await api.llm("first")
            assert await api.llm("again") == "again", "within max_retries it is retried"
        assert len(server.requests) == 3


async def test_a_request_failing_on_a_fresh_connection_is_not_resent_without_retries() -> None:
    def read_then_close(conn: Connection) -> None:
        conn.read_request()
        conn.close()

    with hostile(read_then_close) as server:
        async with KellyAPI(API_KEY, server.url, max_retries=0) as api:
            with pytest.raises(errors.ConnectionError):
                await api.llm("once")
        assert len(server.requests) == 1


# 4. Deterministic failures: one attempt, the same typed error on both twins.


def answering_with(data: bytes) -> object:
    def script(conn: Connection) -> None:
        if conn.read_request() is not None:
            conn.send(data)
            conn.server.stopping.wait(1)

    return script


BODY = json.dumps({"message": "hello"}).encode()
DETERMINISTIC = {
    "garbage-status-line": b"HELLO THERE\r\n\r\n",
    "oversized-header": b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * 100_000 + b"\r\n\r\n",
    "body-past-its-length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + BODY + b"trailing garbage",
    "undecodable-encoding": b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 8\r\n\r\n\x8b\x02\x80garbag",
    "broken-gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 12\r\n\r\n\x1f\x8b\x08\x00garbage!",
    "chunk-size-not-hex": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "two-content-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 20\r\n\r\n{}",
}


@pytest.mark.parametrize("data", DETERMINISTIC.values(), ids=DETERMINISTIC.keys())
async def test_a_broken_answer_is_invalid_content_and_never_retried(data: bytes) -> None:
    with hostile(answering_with(data)) as server:  # type: ignore[arg-type]
        async with KellyAPI(API_KEY, server.url, max_retries=2, timeout=10) as api:
            with pytest.raises(errors.InvalidContent):
                await api.llm("broken")
        assert len(server.requests) == 1


async def test_a_certificate_that_fails_verification_is_not_retried() -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("localhost").configure_cert(context)  # a CA the client does not trust
    with hostile(serve_forever, tls=context) as server:
        async with KellyAPI(API_KEY, server.url, max_retries=2) as api:
            with pytest.raises(errors.ConnectionError) as caught:
                await api.llm("who are you?")
        assert server.connections == 1
    printed = "".join(traceback.format_exception(caught.value))
    assert "CERTIFICATE_VERIFY_FAILED" in printed or "certificate verify failed" in printed


def answer_the_handshake_in_plain_http(conn: Connection) -> None:
    if conn.sock.recv(65536):  # a TLS ClientHello, read as a bad request by a plain HTTP server
        conn.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    conn.close()


async def test_plain_http_answering_a_tls_handshake_is_not_retried() -> None:
    # plain HTTP where the URL says https: a wrong port or scheme
    with hostile(answer_the_handshake_in_plain_http) as server:
        async with KellyAPI(API_KEY, server.url.replace("http://", "https://"), max_retries=2, timeout=10) as api:
            with pytest.raises(errors.ConnectionError) as caught:
                await api.llm("hello?")
        assert server.connections == 1
    assert caught.value.attempts == 1


# 5. Interim 1xx answers are skipped.


async def test_interim_answers_are_skipped() -> None:
    def interim_first(conn: Connection) -> None:
        while (request := conn.read_request()) is not None:
            conn.send(b"HTTP/1.1 102 Processing\r\n\r\n")
            conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            conn.send(echo(request))

    with hostile(interim_first) as server:
        async with KellyAPI(API_KEY, server.url, max_retries=0) as api:
            assert await api.llm("after the hints") == "after the hints"
            assert await api.llm("and again") == "and again"


# 6. No error shows the key, and no error body crashes.


def key_in_status_line(request: Received) -> bytes:
    return b"HTTP/1.1 " + request.head.split(b"Authorization: ", 1)[1].split(b"\r\n")[0] + b"\r\n\r\n"


def key_in_broken_header(request: Received) -> bytes:
    echoed = request.head.split(b"Authorization: ", 1)[1].split(b"\r\n")[0]
    return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + echoed + b"\r\n\r\n{}"


def key_across_the_cut(request: Received) -> bytes:
    return answer("422 Unprocessable Entity", {"detail": "x" * 185 + " " + API_KEY})


def key_in_location(request: Received) -> bytes:
    return answer("307 Temporary Redirect", b"", {"Location": f"https://elsewhere.test/?key={API_KEY}"})


def key_in_validation_errors(request: Received) -> bytes:
    detail = [{"loc": ["body", API_KEY], "msg": f"bad {API_KEY[:20]}", "type": "x", "input": {"k": API_KEY}}]
    return answer("422 Unprocessable Entity", {"detail": detail})


def key_as_an_object_key(request: Received) -> bytes:
    return answer("422 Unprocessable Entity", {"detail": {API_KEY: "is not a field", "nested": [{API_KEY: 1}]}})


def key_in_plain_text(request: Received) -> bytes:
    text = ("Unauthorized " + API_KEY[5:]).encode()
    return b"HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text)


LEAKS = [
    key_in_status_line,
    key_in_broken_header,
    key_across_the_cut,
    key_in_location,
    key_in_validation_errors,
    key_as_an_object_key,
    key_in_plain_text,
]


@pytest.mark.parametrize("reply", LEAKS)
async def test_no_error_shows_the_key(reply: object, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with hostile(replying(reply)) as server:  # type: ignore[arg-type]
        async with KellyAPI(API_KEY, server.url, max_retries=1) as api:
            with pytest.raises(errors.BaseError) as caught:
                await api.llm("tell me my key")
    error = caught.value
    shown = [str(error), repr(error), repr(error.args), repr(error.detail), repr(vars(error))]
    shown.append("".join(traceback.format_exception(error)))
    shown.append(caplog.text)  # every logger's records (urllib3's too), with their tracebacks
    for text in shown:
        assert not shows_the_key(text), text


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ([{"loc": 5, "msg": "x"}], "5: x"),
        ([{"loc": None, "msg": {"nested": True}}], '{"nested": true}'),
        ([], "[]"),
        ({"why": [1, 2]}, '{"why": [1, 2]}'),
        (12, "12"),
    ],
)
async def test_a_detail_of_any_shape_is_a_typed_error(detail: object, expected: str) -> None:
    with hostile(replying(lambda _: answer("422 Unprocessable Entity", {"detail": detail}))) as server:
        async with KellyAPI(API_KEY, server.url) as api:
            with pytest.raises(errors.InvalidRequest) as caught:
                await api.llm("odd")
    assert str(caught.value) == f"POST chat/chatgpt failed with HTTP 422: {expected}"
    assert caught.value.detail == detail


@pytest.mark.parametrize("depth", [500, 5_000, 100_000])
async def test_a_deeply_nested_detail_is_a_typed_error(depth: int) -> None:
    body = b'{"detail": ' + b"[" * depth + b"]" * depth + b"}"
    with hostile(replying(lambda _: answer("422 Unprocessable Entity", body))) as server:
        async with KellyAPI(API_KEY, server.url) as api:
            with pytest.raises(errors.InvalidRequest) as caught:
                await api.llm("deep")
    assert str(caught.value).startswith("POST chat/chatgpt failed with HTTP 422: ")
    assert len(str(caught.value)) < 300


# 7. Every attempt is logged.


async def test_an_attempt_stopped_at_the_size_cap_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kellyapi")
    big = answer(body={"message": "x" * 5000})
    with hostile(replying(lambda _: big)) as server:
        async with KellyAPI(API_KEY, server.url, max_response_bytes=1000) as api:
            with pytest.raises(errors.InvalidContent):
                await api.llm("too much")
    messages = [record.getMessage() for record in caplog.records]
    assert any(message.startswith("POST chat/chatgpt -> InvalidContent (attempt 1, ") for message in messages)
