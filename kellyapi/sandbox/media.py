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
