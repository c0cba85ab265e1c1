"""Small media inputs for tests, made the way the sandbox makes its answers."""

from __future__ import annotations

import struct

from kellyapi.sandbox import media

PNG = media.png(64, 48, "sample")
WAV = media.speech("the quick brown fox")
png_size = media.png_size


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
