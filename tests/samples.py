"""Media inputs for tests: small ones made the way the sandbox makes its answers, and one over the size
that is streamed."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from kellyapi._core import api_spec, arguments
from kellyapi._core.config import ClientConfig
from kellyapi._core.endpoint import Endpoint
from kellyapi._core.http import build_request
from kellyapi._core.upload import STREAM_ABOVE
from kellyapi.sandbox import media

PNG = media.png(64, 48, "sample")
WAV = media.speech("the quick brown fox")
png_size = media.png_size

MEDIA_ENDPOINTS = [endpoint for endpoint in api_spec.ENDPOINTS.values() if endpoint.has_media]
# Over the streaming threshold, and not a whole number of chunks or of base64 groups.
LARGE = PNG + bytes(range(256)) * (STREAM_ABOVE // 256 + 3 * 1024) + b"tail!"


def media_call_values(endpoint: Endpoint[Any], media: object) -> dict[str, object]:
    """Arguments for `endpoint`: the media, text with JSON escapes for what else it needs, defaults for the rest."""
    values: dict[str, object] = {param.name: None for param in endpoint.params}
    for param in endpoint.params:
        if param.kind == "media":
            values[param.name] = media
        elif param.required:
            values[param.name] = 'a "quoted" café\n'
    return values


def in_memory_request_body(
    config: ClientConfig, endpoint: Endpoint[Any], media: object, monkeypatch: pytest.MonkeyPatch
) -> bytes:
    """The body the in-memory encoder writes for a call with `media`, whatever its size."""
    with monkeypatch.context() as patched:
        patched.setattr(arguments, "STREAM_ABOVE", 1 << 62)
        body = build_request(config, endpoint, media_call_values(endpoint, media)).body
    assert isinstance(body, bytes)
    return body


def jpeg(width: int, height: int) -> bytes:
    """The head of a baseline JPEG: what a server reads to learn the format and the size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + frame + b"\xff\xd9"


def webp(width: int, height: int) -> bytes:
    """An extended-format WebP header."""
    chunk = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    chunk += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def gif(width: int, height: int) -> bytes:
    """A GIF89a header and an empty trailer."""
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(64)
OGG = b"OggS\x00\x02" + bytes(64)
FLAC = b"fLaC\x00\x00\x00\x22" + bytes(64)
