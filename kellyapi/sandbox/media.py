"""Real, deterministic media for the sandbox's answers: PNG images and WAV speech, stdlib only."""

from __future__ import annotations

import functools
import hashlib
import io
import math
import struct
import wave
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SPEECH_RATE = 8000
_TEXT_CHUNK = b"kTXt"  # a private WAV chunk carrying the spoken text, so a transcript can be exact


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _colour(seed: str, shift: int = 0) -> tuple[int, int, int]:
    digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest()
    return digest[shift], digest[shift + 1], digest[shift + 2]


@functools.lru_cache(maxsize=32)
def png(width: int, height: int, seed: str = "", alpha: bool = False) -> bytes:
    """A width x height PNG: a vertical gradient between two colours derived from `seed`."""
    top, bottom = _colour(seed), _colour(seed, 3)
    channels = 4 if alpha else 3
    rows = []
    for y in range(height):
        t = y / max(1, height - 1)
        pixel = bytes(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=False))
        if alpha:
            pixel += bytes([255 if y % 2 else 0])
        rows.append(b"\x00" + pixel * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    assert len(rows[0]) == 1 + channels * width
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, or None if `data` is not one."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def speech(text: str) -> bytes:
    """A mono WAV: one short tone per word, plus a chunk holding `text`."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(_SPEECH_RATE)
        frames = bytearray()
        for index, word in enumerate(text.split()[:40] or [""]):
            pitch = 220 + (zlib.crc32(word.encode("utf-8", "surrogatepass")) % 440)
            length = _SPEECH_RATE // 5
            for i in range(length):
                envelope = math.sin(math.pi * i / length)
                frames += struct.pack("<h", int(8000 * envelope * math.sin(2 * math.pi * pitch * i / _SPEECH_RATE)))
            frames += b"\x00\x00" * (_SPEECH_RATE // 20 if index else 0)
        out.writeframes(bytes(frames))
    encoded = text.encode("utf-8", "surrogatepass")
    data = buffer.getvalue() + _TEXT_CHUNK + struct.pack("<I", len(encoded)) + encoded + b"\x00" * (len(encoded) % 2)
    return data[:4] + struct.pack("<I", len(data) - 8) + data[8:]


def spoken_text(data: bytes) -> str | None:
    """The text a `speech()` WAV says, or None for any other audio."""
    at = data.find(_TEXT_CHUNK, 12)
    if not data.startswith(b"RIFF") or at < 0:
        return None
    (length,) = struct.unpack("<I", data[at + 4 : at + 8])
    return data[at + 8 : at + 8 + length].decode("utf-8", "replace")


def wav_seconds(data: bytes) -> float | None:
    """The duration of a WAV, or None if `data` is not one."""
    try:
        with wave.open(io.BytesIO(data), "rb") as audio:
            return audio.getnframes() / audio.getframerate()
    except (wave.Error, EOFError, struct.error):
        return None


# What the sandbox accepts as media: real formats recognised by their signatures, as an image or speech
# service would before decoding. Each sniffer returns the format's name and, for images, the dimensions.

_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _JPEG_FRAME_MARKERS:
            if at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return int(width), int(height)
        at += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def image_size(data: bytes) -> tuple[str, tuple[int, int]] | None:
    """(format, (width, height)) of a PNG, JPEG, WebP or GIF with readable dimensions; None for anything else."""
    size: tuple[int, int] | None = None
    if data.startswith(PNG_SIGNATURE):
        kind, size = "PNG", png_size(data)
    elif data.startswith(b"\xff\xd8\xff"):
        kind, size = "JPEG", _jpeg_size(data)
    elif data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        kind, size = "WebP", _webp_size(data)
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        kind, size = "GIF", struct.unpack("<HH", data[6:10])
    else:
        return None
    if size is None or not all(size):
        return None
    return kind, (int(size[0]), int(size[1]))


def audio_format(data: bytes) -> str | None:
    """WAV, MP3, OGG or FLAC when `data` starts as that format does; None for anything else."""
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "WAV"
    if data.startswith(b"ID3") or (len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "MP3"
    if data.startswith(b"OggS"):
        return "OGG"
    if data.startswith(b"fLaC"):
        return "FLAC"
    return None
