"""Large media on the wire, on both twins: uploads streamed with their length up front (the bytes the
in-memory encoder writes), resent whole after a reset, a non-seekable file read once, the deadline kept
while sending; a large image answer decoded as it arrives, however it is framed."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest

from kellyapi import KellyAPI, errors
from kellyapi._core.config import ClientConfig
from kellyapi._core.endpoint import Endpoint
from kellyapi.testing import KellySandbox
from tests.hostile_server import API_KEY, Connection, Received, answer, hostile, serve_forever
from tests.samples import LARGE, MEDIA_ENDPOINTS, PNG, in_memory_request_body, media_call_values, png_size

MARGIN = 1.0  # seconds a call may run past its deadline on a busy machine


def result_answer(endpoint: Endpoint[Any]) -> Callable[[Received], bytes]:
    """Answers with what `endpoint`'s method returns: a small image or a text."""
    value = base64.b64encode(PNG).decode() if endpoint.result_kind == "bytes" else "a description"
    return lambda request: answer(body={endpoint.result_field: value})


def framing(request: Received) -> tuple[str | None, str | None]:
    """The request's Content-Length and Transfer-Encoding headers."""
    headers = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(b":") for line in request.head.split(b"\r\n")[1:])
    )
    length, encoding = headers.get(b"content-length"), headers.get(b"transfer-encoding")
    return (length.decode() if length else None), (encoding.decode() if encoding else None)


@contextmanager
def pipe_of(data: bytes) -> Iterator[IO[bytes]]:
    """A non-seekable binary file that yields `data` (written from a thread) and then ends."""
    read_end, write_end = os.pipe()

    def write() -> None:
        with os.fdopen(write_end, "wb") as writer:
            writer.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with os.fdopen(read_end, "rb") as file:
        yield file
    writer.join(5)


@pytest.mark.parametrize("endpoint", MEDIA_ENDPOINTS, ids=lambda endpoint: endpoint.name)
async def test_every_media_endpoint_streams_the_in_memory_body_with_its_length(
    endpoint: Endpoint[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "large.bin"
    path.write_bytes(LARGE)
    with hostile(lambda conn: serve_forever(conn, result_answer(endpoint))) as server:
        async with KellyAPI(API_KEY, server.url) as api:
            await getattr(api, endpoint.name)(**media_call_values(endpoint, path))
    [received] = server.requests
    expected = in_memory_request_body(ClientConfig.create(API_KEY, server.url, 60, 2), endpoint, LARGE, monkeypatch)
    assert framing(received) == (str(len(expected)), None)  # its length up front: no chunked encoding
    assert received.body == expected


def reset_the_first_upload_midway(reply: Callable[[Received], bytes]) -> Callable[[Connection], None]:
    """The first connection reads the head and part of the body, then resets; later ones answer."""

    def script(conn: Connection) -> None:
        if conn.server.connections == 1:
            got = 0
            while got < 512 * 1024:
                data = conn.sock.recv(65536)
                if not data:
                    break
                got += len(data)
            conn.close(reset=True)
            return
        serve_forever(conn, reply)

    return script


@pytest.mark.parametrize("kind", ["path", "seekable-file", "bytes", "pipe"])
async def test_a_reset_mid_upload_is_resent_whole(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "large.png"
    path.write_bytes(LARGE)
    reply = lambda request: answer(body={"image": base64.b64encode(PNG).decode()})  # noqa: E731
    with hostile(reset_the_first_upload_midway(reply)) as server:
        async with KellyAPI(API_KEY, server.url) as api:
            if kind == "path":
                raw = await api.with_raw_response.upscale(path)
            elif kind == "bytes":
                raw = await api.with_raw_response.upscale(LARGE)
            elif kind == "seekable-file":
                with path.open("rb") as file:
                    raw = await api.with_raw_response.upscale(file)
            else:
                with pipe_of(LARGE) as file:  # read once, before the first attempt: the retry resends those bytes
                    raw = await api.with_raw_response.upscale(file)
    assert raw.attempts == 2
    assert raw.parse() == PNG
    assert server.connections == 2
    [received] = server.requests  # the reset attempt was never read whole
    assert json.loads(received.body)["image_data"] == base64.b64encode(LARGE).decode()


def read_the_head_then_stall(conn: Connection) -> None:
    conn.sock.recv(65536)
    conn.server.stopping.wait(30)


async def test_a_server_that_stops_reading_the_upload_cannot_hold_the_call_past_its_timeout() -> None:
    large = bytes(48 * 1024 * 1024)  # more than the socket buffers on both sides hold
    with hostile(read_the_head_then_stall) as server:
        async with KellyAPI(API_KEY, server.url, max_retries=0) as api:
            started = time.monotonic()
            with pytest.raises(errors.TimeoutError):
                await api.upscale(large, timeout=1.0)
            assert time.monotonic() - started < 1.0 + MARGIN


def framed(body: bytes, chunked: bool) -> bytes:
    """A 200 answer carrying `body`, with a Content-Length or in chunks of odd sizes."""
    if not chunked:
        return answer(body=body)
    size = 100_003
    pieces = [body[at : at + size] for at in range(0, len(body), size)]
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_large_image_answer_is_decoded_as_it_arrives(chunked: bool) -> None:
    image = PNG + os.urandom(3 * 1024 * 1024)
    body = json.dumps({"seed": 1, "image": base64.b64encode(image).decode(), "model": "x"}).encode()
    with hostile(lambda conn: serve_forever(conn, lambda request: framed(body, chunked))) as server:
        async with KellyAPI(API_KEY, server.url) as api:
            assert await api.generate("a cat", width=64, height=64) == image
            raw = await api.with_raw_response.generate("a cat", width=64, height=64)
    assert raw.parse() == image
    assert raw.content == body  # as it came, though it was never held whole


async def test_the_sandbox_takes_a_streamed_upload(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    path = tmp_path / "large.png"
    path.write_bytes(LARGE)  # a 64x48 PNG with over 1 MiB of trailing bytes
    async with KellyAPI() as api:
        image = await api.upscale(path)
        assert png_size(image) == (128, 96)
        assert png_size(await api.removebg(LARGE)) == (64, 48)
    assert [base64.b64decode(r.body["image_data"]) for r in kelly_sandbox.requests] == [LARGE, LARGE]


def lying_length(body: bytes) -> Callable[[Connection], None]:
    """Declares a body just under the size cap, sends `body` (far less) and closes."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (64 * MIB - 1)

    def script(conn: Connection) -> None:
        while (request := conn.read_request()) is not None:
            if request.request_line.startswith("GET"):  # the warm-up call: a true answer
                conn.send(answer(body={"models": ["m"]}))
                continue
            conn.send(head)
            conn.send(body)  # not joined to the head: the server's copy would count in the client's peak
            break
        conn.close()

    return script


MIB = 1024 * 1024


@pytest.mark.parametrize("method", ["generate", "llm"])
async def test_a_lying_content_length_costs_what_arrived_not_what_it_declared(method: str) -> None:
    arrived = 2 * MIB
    field = "image" if method == "generate" else "message"
    body = b'{"%s": "' % field.encode() + b"QUJD" * (arrived // 4 - 4)
    arguments: dict[str, Any] = {"width": 64, "height": 64} if method == "generate" else {}
    with hostile(lying_length(body)) as server:
        async with KellyAPI(API_KEY, server.url, max_retries=2) as api:
            await api.llm_models()  # the pool and its connection exist before measuring
            tracemalloc.start()
            try:
                with pytest.raises(errors.ConnectionError) as caught:
                    await getattr(api, method)("a lie", **arguments)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert caught.value.attempts == 3
    assert peak < 2 * arrived  # three attempts, each freed as it failed; nothing sized from the declared 64 MiB


def refuse_after_64_kib(then: str) -> Callable[[Connection], None]:
    """Reads the head and 64 KiB of the body, answers 413, then closes, resets or reads no more."""

    def script(conn: Connection) -> None:
        got = b""
        while len(got) < 64 * 1024 + 2048:
            data = conn.sock.recv(65536)
            if not data:
                return
            got += data
        refusal = answer("413 Request Entity Too Large", {"detail": "over 64 KiB"}, {"Connection": "close"})
        conn.send(refusal)
        if then == "stop-reading":
            conn.server.stopping.wait(30)
        conn.close(reset=then == "reset")

    return script


@pytest.mark.parametrize("then", ["close", "reset", "stop-reading"])
async def test_an_answer_that_comes_while_the_body_is_sent_is_the_answer(then: str) -> None:
    large = bytes(30 * MIB)
    with hostile(refuse_after_64_kib(then)) as server:
        async with KellyAPI(API_KEY, server.url, max_retries=2, timeout=10) as api:
            with pytest.raises(errors.InvalidRequest) as caught:
                await api.upscale(large)
    assert caught.value.status_code == 413
    assert caught.value.attempts == 1
    assert server.connections == 1  # sent once


def established_to(port: int) -> int:
    """This machine's TCP connections to `port` that are ESTABLISHED on the connecting side."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    count += 1
    return count


async def test_a_timed_out_upload_leaves_no_socket_open() -> None:
    large = bytes(48 * MIB)
    descriptors = len(os.listdir("/proc/self/fd"))
    with hostile(read_the_head_then_stall) as server:
        api = KellyAPI(API_KEY, server.url, max_retries=0)
        with pytest.raises(errors.TimeoutError):
            await api.upscale(large, timeout=1.0)
        await api.aclose()
        assert established_to(server.port) == 0  # aborted, not left to flush what the server never reads
    assert len(os.listdir("/proc/self/fd")) <= descriptors


def drip_across_base64_groups(body: bytes, at: int) -> Callable[[Connection], None]:
    """Answers `body` with no length (to the close), all at once but for 40 bytes from `at` sent 1 to 3 at a
    time, each on its own: the client reads them as chunks that split base64 groups anywhere."""

    def script(conn: Connection) -> None:
        if conn.read_request() is None:
            return
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + body[:at])
        position = at
        for size in [1, 2, 3, 1, 1, 3, 2, 2, 1, 3, 1, 2, 3, 3, 1, 1, 2, 2, 3, 1, 2]:
            if conn.server.stopping.wait(0.02):
                return
            conn.send(body[position : position + size])
            position += size
        conn.server.stopping.wait(0.02)
        conn.send(body[position:])
        conn.close()

    return script


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
async def test_base64_groups_split_by_tiny_network_chunks_decode_to_the_same_bytes(offset: int) -> None:
    image = os.urandom(96 * 1024)
    body = json.dumps({"image": base64.b64encode(image).decode(), "seed": 3}).encode()
    at = body.index(b'"image": "') + 10 + 80 * 1024 + offset  # past the first 64 KiB: decoded as it arrives
    with hostile(drip_across_base64_groups(body, at)) as server:
        async with KellyAPI(API_KEY, server.url, max_retries=0) as api:
            assert await api.generate("drip", width=64, height=64) == image


def expected_image(body: bytes) -> bytes:
    """What json.loads + b64decode make of an image answer."""
    return base64.b64decode(json.loads(body)["image"], validate=True)


BIG_TEXT = base64.b64encode(os.urandom(2 * MIB)).decode()
NOT_THE_ANSWER = {
    "big-then-empty": b'{"image": "' + BIG_TEXT.encode() + b'", "image": ""}',
    "empty-then-big": b'{"image": "", "image": "' + BIG_TEXT.encode() + b'"}',
    "nested-first": json.dumps({"meta": {"image": BIG_TEXT}, "image": "aGk="}).encode(),
    "nested-after": json.dumps({"image": "aGk=", "meta": [{"image": BIG_TEXT}]}).encode(),
    "escaped": json.dumps({"image": BIG_TEXT}).replace("/", "\\/").encode(),
}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("name", NOT_THE_ANSWER)
async def test_a_large_field_that_is_not_the_answer_gives_what_json_loads_gives(name: str, chunked: bool) -> None:
    body = NOT_THE_ANSWER[name]
    with hostile(lambda conn: serve_forever(conn, lambda request: framed(body, chunked))) as server:
        async with KellyAPI(API_KEY, server.url) as api:
            assert await api.generate("which image?", width=64, height=64) == expected_image(body)
