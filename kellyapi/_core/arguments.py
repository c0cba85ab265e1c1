"""Check the arguments of a call against its endpoint and turn them into wire values, before anything is sent."""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import stat
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring_ascii
from typing import IO, Any, Union
from urllib.parse import quote

from kellyapi import errors
from kellyapi._core.endpoint import Endpoint, Param
from kellyapi._core.upload import STREAM_ABOVE, BytesMedia, FileMedia, MediaSource, Piece, StreamedBody, TextMedia

MediaInput = Union[str, bytes, bytearray, memoryview, "os.PathLike[str]", IO[bytes]]
"""An image or audio argument: base64 text (as the original client took), raw bytes, a path, or a binary file."""

_WHITESPACE = re.compile(r"\s+")
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _read_path(param: Param, value: os.PathLike[str]) -> bytes:
    try:
        with open(value, "rb") as file:
            return file.read()
    except OSError as exc:
        raise errors.InvalidArgumentValue(
            f"{param.name}: cannot read {os.fspath(value)!r}: {exc.strerror or exc}"
        ) from None


def _read_file(param: Param, value: Any) -> bytes:
    try:
        raw = value.read()
    except (OSError, ValueError) as exc:
        raise errors.InvalidArgumentValue(f"{param.name}: cannot read the file: {exc}") from None
    if not isinstance(raw, bytes):
        raise errors.InvalidArgumentType(f"{param.name}: the file must be opened in binary mode ('rb')")
    return raw


def _nbytes(value: bytes | bytearray | memoryview) -> int:
    return value.nbytes if isinstance(value, memoryview) else len(value)


def _seekable_source(param: Param, file: Any) -> MediaSource | None:
    """A source for a large seekable binary file, from its position now; None for one to read at once."""
    if isinstance(file, io.TextIOBase):
        raise errors.InvalidArgumentType(f"{param.name}: the file must be opened in binary mode ('rb')")
    try:
        if not file.seekable():
            return None
        start = file.tell()
        end = file.seek(0, os.SEEK_END)
        file.seek(start)
    except (AttributeError, OSError, ValueError):
        return None  # not a seekable file after all: read at once, which reports what is wrong
    if not isinstance(end, int) or end - start <= STREAM_ABOVE:
        return None
    return FileMedia(param.name, file, end - start, start)


def _media_source(param: Param, value: object) -> MediaSource | None:
    """A source that streams `value` chunk by chunk while it is sent (and again for a retry), if it is large
    and can be read again; None for media encoded at once."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return BytesMedia(param.name, value) if _nbytes(value) > STREAM_ABOVE else None
    if isinstance(value, MediaSource):  # prepared off the event loop by read_files
        return value
    if isinstance(value, os.PathLike):
        try:
            status = os.stat(value)
        except OSError:
            return None  # the read reports what is wrong
        if stat.S_ISREG(status.st_mode) and status.st_size > STREAM_ABOVE:
            return FileMedia(param.name, value, status.st_size)
        return None  # a small file, or a FIFO or device, which cannot be read twice: read once
    if callable(getattr(value, "read", None)):
        return _seekable_source(param, value)
    return None


def _media_argument(param: Param, value: object) -> str | MediaSource:
    """The media as base64 text to put in the body, or a source of it when it is large."""
    if isinstance(value, str):
        if len(value) > STREAM_ABOVE and _BASE64_TEXT.fullmatch(value) and len(value) % 4 == 0:
            return TextMedia(param.name, value)
        try:
            base64.b64decode(_WHITESPACE.sub("", value), validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidArgumentValue(
                f"{param.name}: a str must be base64 text; to send a file pass pathlib.Path(...) or its bytes"
            ) from None
        return value
    source = _media_source(param, value)
    if source is not None:
        return source
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = value
    elif isinstance(value, os.PathLike):
        raw = _read_path(param, value)
    elif callable(getattr(value, "read", None)):
        raw = _read_file(param, value)
    else:
        raise errors.InvalidArgumentType(
            f"{param.name} must be base64 str, bytes, a path or a binary file, got {type(value).__name__}"
        )
    return base64.b64encode(raw).decode("ascii")


def _may_block(value: object) -> bool:
    """Whether reading a media argument at once could stall an event loop: a file that is not regular (a FIFO,
    a device, a pipe) or a stream of unknown origin. A regular file is small (read at once) or streamed."""
    if isinstance(value, (str, bytes, bytearray, memoryview, io.BytesIO)):
        return False
    try:
        if isinstance(value, os.PathLike):
            status = os.stat(value)
        elif callable(getattr(value, "fileno", None)):
            status = os.fstat(value.fileno())  # type: ignore[attr-defined]
        else:
            return callable(getattr(value, "read", None))
    except (OSError, ValueError):
        return True  # the read in a thread reports what is wrong
    return not stat.S_ISREG(status.st_mode)


def files_to_read(endpoint: Endpoint[Any], values: Mapping[str, object]) -> bool:
    """Whether a call's media arguments include a file whose reading could stall an event loop."""
    return any(param.kind == "media" and _may_block(values[param.name]) for param in endpoint.params)


def read_files(endpoint: Endpoint[Any], values: Mapping[str, object]) -> dict[str, object]:
    """`values` with every path or file of a media argument replaced by its bytes, or by the source that
    streams it (for preparing off the loop: a FIFO or a pipe is read here, once)."""
    read = dict(values)
    for param in endpoint.params:
        value = values[param.name]
        if param.kind != "media" or isinstance(value, (str, bytes, bytearray, memoryview)):
            continue
        source = _media_source(param, value)
        if source is not None:
            read[param.name] = source
        elif isinstance(value, os.PathLike):
            read[param.name] = _read_path(param, value)
        elif callable(getattr(value, "read", None)):
            read[param.name] = _read_file(param, value)
    return read


def _check_int(param: Param, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.InvalidArgumentType(f"{param.name} must be an int, got {type(value).__name__}")
    return value


def _check_str(param: Param, value: object) -> str:
    if not isinstance(value, str):
        raise errors.InvalidArgumentType(f"{param.name} must be a str, got {type(value).__name__}")
    if not value.isascii():  # only non-ASCII text can hold a lone surrogate, which JSON would carry silently
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise errors.InvalidArgumentValue(
                f"{param.name} is not valid unicode (it holds a lone surrogate)"
            ) from None
    return value


_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_.~-]+")  # what quote(safe="") leaves as it is


def _path_segment(param: Param, value: str) -> str:
    if _PLAIN_SEGMENT.fullmatch(value):
        if value in (".", ".."):
            raise errors.InvalidArgumentValue(f"{param.name} cannot be {value!r}")
        return value
    if not value:  # an empty segment would name another route
        raise errors.InvalidArgumentValue(f"{param.name} cannot be empty: it is part of the route")
    return quote(value, safe="")


_CHECKS: dict[str, Callable[[Param, object], str | int | MediaSource]] = {
    "str": _check_str,
    "int": _check_int,
    "media": _media_argument,
}


_MEDIA_MARK = "\x00"  # where a streamed media goes in the JSON text; escaped anywhere else, so unique


def encode_arguments(endpoint: Endpoint[Any], values: Mapping[str, object]) -> tuple[str, bytes | StreamedBody]:
    """Validate `values` (by Python name) and return the route with its path filled in, and the JSON body:
    bytes, or a `StreamedBody` when it carries large media.

    The body is a flat object of strings and ints, so it is written here from escaped fields (the bytes
    `json.dumps(..., separators=(",", ":"))` gives) at a third of json's cost per call.
    """
    route = endpoint.path
    fields: list[str] = []
    sources: list[MediaSource] = []
    for param in endpoint.params:
        value = values[param.name]
        if value is None:
            if param.default is None:
                raise errors.InvalidArgumentType(f"{endpoint.name}() needs {param.name}")
            value = param.default
        checked = _CHECKS[param.kind](param, value)
        if param.location == "path":
            route = route.replace(param.placeholder, _path_segment(param, str(checked)))
        elif isinstance(checked, str):
            fields.append(param.json_key + encode_basestring_ascii(checked))
        elif isinstance(checked, int):
            fields.append(param.json_key + int.__repr__(checked))  # as json writes an int, whatever its subclass
        else:
            fields.append(param.json_key + '"' + _MEDIA_MARK + '"')
            sources.append(checked)
    fields.extend(endpoint.json_constants)
    text = "{" + ",".join(fields) + "}"
    if not sources:
        return route, text.encode("ascii")
    pieces: list[Piece] = []
    for around, source in zip(text.split(_MEDIA_MARK), [*sources, None], strict=True):
        pieces.append(around.encode("ascii"))
        if source is not None:
            pieces.append(source)
    return route, StreamedBody(pieces)
