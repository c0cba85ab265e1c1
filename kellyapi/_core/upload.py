"""A JSON body with large media in it, base64-encoded chunk by chunk while it is sent.

Encoding a 30 MiB file the plain way holds the file, its base64 text, that text escaped for JSON and
the joined body at once: over five times the file. Here the body is a list of pieces (the JSON around
the media, written as the in-memory encoder writes it, and each media source), its length is known
before the first byte goes out (base64's length follows from the raw size), and each pass over it reads
and encodes one chunk at a time. The bytes are the same as `encode_arguments` gives for small media.
"""

from __future__ import annotations

import binascii
import io
import os
from collections.abc import Generator, Iterator
from typing import IO, Any, Union

from kellyapi import errors

STREAM_ABOVE = 1024 * 1024  # media up to this size is encoded at once: cheaper, and what cassettes record
CHUNK = 3 * 128 * 1024  # raw bytes per chunk: a multiple of 3, so only the last chunk's base64 is padded


def base64_length(size: int) -> int:
    """The length of the base64 text of `size` bytes (padded, no newlines)."""
    return (size + 2) // 3 * 4


class MediaSource:
    """One media argument, read and encoded afresh on each pass (each attempt of a call)."""

    name: str  # the argument's name, for errors
    size: int  # raw bytes
    reads_files: bool = False  # reading may wait on a disk: the async client does it off the event loop

    @property
    def length(self) -> int:
        """Bytes of base64 text this source writes."""
        return base64_length(self.size)

    def chunks(self) -> Iterator[bytes]:
        """The base64 text, a chunk at a time."""
        raise NotImplementedError


class BytesMedia(MediaSource):
    """Bytes the caller holds: each chunk is encoded from a view of them, never from a copy."""

    def __init__(self, name: str, data: bytes | bytearray | memoryview) -> None:
        """Encode `data` (the caller's buffer, which must not change until the call returns)."""
        self.name = name
        self._view = memoryview(data).cast("B")
        self.size = self._view.nbytes

    def chunks(self) -> Iterator[bytes]:
        """The base64 text, a chunk at a time."""
        view = self._view
        for start in range(0, self.size, CHUNK):
            yield binascii.b2a_base64(view[start : start + CHUNK], newline=False)


class TextMedia(MediaSource):
    """Base64 text the caller already encoded (the original client's input): sent as it is, in slices."""

    def __init__(self, name: str, text: str) -> None:
        """Send `text`, already checked to be base64 with no whitespace."""
        self.name = name
        self._text = text
        self.size = len(text) // 4 * 3  # only `length` is used: the text is sent as it is

    @property
    def length(self) -> int:
        """Bytes of base64 text this source writes."""
        return len(self._text)

    def chunks(self) -> Iterator[bytes]:
        """The text, a chunk at a time."""
        text = self._text
        step = base64_length(CHUNK)
        for start in range(0, len(text), step):
            yield text[start : start + step].encode("ascii")


Openable = Union["os.PathLike[str]", IO[bytes]]


class FileMedia(MediaSource):
    """A regular file by path (opened on each pass) or a seekable binary file (sought back on each pass)."""

    reads_files = True

    def __init__(self, name: str, file: Openable, size: int, start: int = 0) -> None:
        """Send `size` bytes of `file` from `start` (a file object's position when the call was made)."""
        self.name = name
        self._file = file
        self.size = size
        self._start = start

    def _changed(self) -> errors.InvalidArgumentValue:
        return errors.InvalidArgumentValue(
            f"{self.name}: the file changed size while it was sent (it had {self.size:,} bytes to send)"
        )

    def _read(self, file: Any, size: int) -> bytes | bytearray:
        try:
            chunk = file.read(size)
        except (OSError, ValueError) as exc:  # a disk error, a file closed meanwhile: the same again on a retry
            raise errors.InvalidArgumentValue(f"{self.name}: cannot read the file: {exc}") from None
        if not isinstance(chunk, (bytes, bytearray)):
            raise errors.InvalidArgumentType(f"{self.name}: the file must be opened in binary mode ('rb')")
        return chunk

    def chunks(self) -> Iterator[bytes]:
        """The file's base64 text, a chunk at a time; InvalidArgumentValue if its size changed since the call."""
        if isinstance(self._file, os.PathLike):
            try:
                file: Any = open(self._file, "rb")  # noqa: SIM115 (closed below, also when the pass is abandoned)
            except OSError as exc:
                raise errors.InvalidArgumentValue(
                    f"{self.name}: cannot read {os.fspath(self._file)!r}: {exc.strerror or exc}"
                ) from None
        else:
            file = self._file
            try:
                file.seek(self._start)
            except (OSError, ValueError) as exc:
                raise errors.InvalidArgumentValue(f"{self.name}: cannot read the file again: {exc}") from None
        try:
            left = self.size
            while left:
                want = min(CHUNK, left)
                chunk = self._read(file, want)
                while 0 < len(chunk) < want:  # a short read (a raw file may give one): no padding mid-text
                    more = self._read(file, want - len(chunk))
                    if not more:
                        break
                    chunk += more
                if len(chunk) < want:
                    raise self._changed()
                left -= want
                if not left and self._read(file, 1):  # it grew: found before its last chunk goes, not after
                    raise self._changed()
                yield binascii.b2a_base64(chunk, newline=False)
        finally:
            if file is not self._file:
                file.close()


Piece = bytes | MediaSource


class StreamedBody:
    """A request body written while it is sent: JSON text around media sources, of a length known up front."""

    __slots__ = ("length", "pieces", "reads_files")

    def __init__(self, pieces: list[Piece]) -> None:
        """The body made of `pieces`, in order."""
        self.pieces = tuple(pieces)
        self.length = sum(len(piece) if isinstance(piece, bytes) else piece.length for piece in self.pieces)
        self.reads_files = any(isinstance(piece, MediaSource) and piece.reads_files for piece in self.pieces)

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"<StreamedBody ({self.length:,} bytes)>"

    def chunks(self) -> Generator[bytes, None, None]:
        """One pass over the body, from its first byte: each attempt of a call sends a new pass."""
        for piece in self.pieces:
            if isinstance(piece, bytes):
                yield piece
            else:
                yield from piece.chunks()

    def assemble(self) -> bytes:
        """The whole body in memory (for tests, and for tools that record what was sent)."""
        with io.BytesIO() as out:
            for chunk in self.chunks():
                out.write(chunk)
            return out.getvalue()
