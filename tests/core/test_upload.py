"""Large media is encoded while it is sent: the same bytes as the in-memory body, its length known up front."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kellyapi import errors
from kellyapi._core import api_spec, arguments
from kellyapi._core.config import ClientConfig
from kellyapi._core.endpoint import Endpoint
from kellyapi._core.http import Request, build_request
from kellyapi._core.upload import CHUNK, StreamedBody, base64_length
from tests.samples import LARGE, MEDIA_ENDPOINTS, in_memory_request_body, media_call_values

CONFIG = ClientConfig.create("secret-key", None, 60, 2)


def in_memory_body(endpoint: Endpoint[Any], media: object, monkeypatch: pytest.MonkeyPatch) -> bytes:
    return in_memory_request_body(CONFIG, endpoint, media, monkeypatch)


Kind = Callable[[Path], object]
KINDS: dict[str, Kind] = {
    "path": lambda path: path,
    "bytes": lambda path: path.read_bytes(),
    "bytearray": lambda path: bytearray(path.read_bytes()),
    "memoryview": lambda path: memoryview(path.read_bytes()),
    "seekable-file": lambda path: path.open("rb"),
    "bytesio": lambda path: io.BytesIO(path.read_bytes()),
    "base64-text": lambda path: base64.b64encode(path.read_bytes()).decode(),
}


@pytest.fixture
def large_file(tmp_path: Path) -> Path:
    path = tmp_path / "large.png"
    path.write_bytes(LARGE)
    return path


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("endpoint", MEDIA_ENDPOINTS, ids=lambda endpoint: endpoint.name)
def test_large_media_is_streamed_as_the_same_bytes_the_in_memory_encoder_writes(
    endpoint: Endpoint[Any], kind: str, large_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with contextlib.ExitStack() as stack:
        media, again = KINDS[kind](large_file), KINDS[kind](large_file)
        for value in (media, again):
            if isinstance(value, io.IOBase):
                stack.enter_context(value)
        request = build_request(CONFIG, endpoint, media_call_values(endpoint, media))
        body = request.body
        assert isinstance(body, StreamedBody)
        assert request.headers["Content-Length"] == str(body.length)
        chunks = list(body.chunks())
        assert max(len(chunk) for chunk in chunks) <= base64_length(CHUNK)  # never the whole text at once
        sent = b"".join(chunks)
        assert len(sent) == body.length
        assert sent == in_memory_body(endpoint, again, monkeypatch)
        assert body.assemble() == sent  # a second pass (a retry) sends it all again


def test_small_media_stays_in_memory_and_json_agrees() -> None:
    request = build_request(CONFIG, api_spec.UPSCALE, {"image_data": b"small"})
    assert isinstance(request.body, bytes) and "Content-Length" not in request.headers
    assert json.loads(request.body) == {"image_data": base64.b64encode(b"small").decode(), "responseType": "base64data"}


def test_a_file_object_is_sent_from_where_it_stood_on_every_pass(large_file: Path) -> None:
    with large_file.open("rb") as file:
        file.seek(100)
        body = build_request(CONFIG, api_spec.UPSCALE, {"image_data": file}).body
        assert isinstance(body, StreamedBody)
        first = body.assemble()
        assert body.assemble() == first
    assert json.loads(first)["image_data"] == base64.b64encode(LARGE[100:]).decode()


class ShrinkingFile(io.RawIOBase):
    """A seekable binary file that says it holds `size` bytes but ends early."""

    def __init__(self, size: int, holds: int) -> None:
        self._size, self._holds, self._position = size, holds, 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        self._position = offset if whence == 0 else self._size + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        count = max(0, min(len(buffer), self._holds - self._position))
        buffer[:count] = b"x" * count
        self._position += count
        return count


def test_a_file_that_changes_size_while_it_is_sent_is_an_invalid_argument(large_file: Path) -> None:
    body = build_request(CONFIG, api_spec.UPSCALE, {"image_data": ShrinkingFile(3 * CHUNK, 2 * CHUNK + 5)}).body
    assert isinstance(body, StreamedBody)
    with pytest.raises(errors.InvalidArgumentValue, match="changed size while it was sent"):
        body.assemble()
    body = build_request(CONFIG, api_spec.UPSCALE, {"image_data": large_file}).body
    assert isinstance(body, StreamedBody)
    with large_file.open("ab") as grow:
        grow.write(b"more")
    with pytest.raises(errors.InvalidArgumentValue, match="changed size while it was sent"):
        body.assemble()


@pytest.mark.parametrize("given_as", ["path", "open-file"])
def test_a_file_that_grows_is_found_out_before_its_last_chunk_goes(large_file: Path, given_as: str) -> None:
    with large_file.open("rb") as file:
        body = build_request(CONFIG, api_spec.UPSCALE, {"image_data": large_file if given_as == "path" else file}).body
        assert isinstance(body, StreamedBody)
        [media] = [piece for piece in body.pieces if not isinstance(piece, bytes)]
        chunks = -(-media.size // CHUNK)
        sent = []
        with large_file.open("ab") as grow:
            grow.write(b"more")
        with pytest.raises(errors.InvalidArgumentValue, match="changed size while it was sent"):
            for chunk in media.chunks():
                sent.append(chunk)
    assert len(sent) == chunks - 1  # every chunk but the last: the server never gets a whole-looking body


def test_a_short_read_mid_file_is_topped_up_so_no_padding_lands_mid_text(large_file: Path) -> None:
    class Dribbling(io.FileIO):
        def read(self, size: int | None = -1, /) -> bytes:
            return super().read(min(size, 1000) if size is not None and size > 0 else size)

    with Dribbling(large_file) as file:
        body = build_request(CONFIG, api_spec.UPSCALE, {"image_data": file}).body
        assert isinstance(body, StreamedBody)
        assert json.loads(body.assemble())["image_data"] == base64.b64encode(LARGE).decode()


def test_a_non_seekable_stream_is_read_once(large_file: Path) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self._data = io.BytesIO(LARGE)
            self.reads = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            self.reads += 1
            return self._data.readinto(buffer)

    pipe = Pipe()
    values = arguments.read_files(api_spec.UPSCALE, {"image_data": pipe})
    assert isinstance(values["image_data"], bytes)  # read here, once: a retry sends these bytes again
    body = build_request(CONFIG, api_spec.UPSCALE, values).body
    assert isinstance(body, StreamedBody)
    assert json.loads(body.assemble())["image_data"] == base64.b64encode(LARGE).decode()


def test_the_request_repr_gives_the_streamed_length(large_file: Path) -> None:
    request: Request = build_request(CONFIG, api_spec.UPSCALE, {"image_data": large_file})
    length = base64_length(len(LARGE)) + len('{"image_data":"","responseType":"base64data"}')
    assert repr(request) == f"<Request POST https://api.kellyai.pro/image/upscale ({length} bytes)>"
