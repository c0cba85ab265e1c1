"""An answer's body as it arrives, for both transports: the size cap, and a large image's base64 decoded in place.

An image endpoint answers `{"image": "<base64>", ...}`. Collecting that body and then decoding it holds
the base64 text (4/3 of the image) and the image together. Instead, the base64 text of the first string
named like the result field is decoded as its chunks arrive; the JSON around it is kept (with the field
emptied). Whatever does not fit that shape (escaped, not base64, padded before its end) is put back
together byte for byte and takes the plain path. The decoded bytes are the answer only if the JSON around
them, with a marker where the text was, holds that marker as its top-level field (`response.py` checks):
a same-named field nested elsewhere or given again later (the last one wins, as in `json.loads`) sends the
body, put back as it came, down the plain path too, so the result is always what `json.loads` and
`base64.b64decode` give.

Memory grows with the bytes that arrived, never with a declared length (a server may lie about it), and
a collector that fails lets go of what it held at once, before its error travels on.
"""

from __future__ import annotations

import binascii
import io
import re
import secrets
from collections.abc import Mapping

import attrs

from kellyapi._core.http import Request, Response

Body = bytes | bytearray
# A body declared this small is read whole (it comes in a chunk or two); larger or undeclared 2xx answers of an
# image call have their media decoded as they arrive. 1 MiB: the size from which holding a body's base64
# text beside the image costs more than the search for the field (bench/media.py's download row).
DECODE_ABOVE = 1024 * 1024
_HEAD_LIMIT = 64 * 1024  # JSON before the media field beyond this: not an image answer, take the plain path
# Stands where the decoded text was, to ask the parsed JSON whether the text was its top-level field: random
# per process, so no server can send it on purpose.
MARKER = "kellyapi-media-" + secrets.token_hex(16)
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _is_base64_run(text: bytes) -> bool:
    return not text.translate(None, _ALPHABET)  # what is not in the alphabet (a C loop, 7x a regex's speed)


def _is_base64_end(text: bytes) -> bool:
    letters = text.rstrip(b"=")
    return len(text) - len(letters) <= 2 and _is_base64_run(letters)


@attrs.define
class ExtractedMedia:
    """The decoded base64 of a response field, taken out of the body at `offset` (where the body now has "")."""

    field: str
    data: bytes
    offset: int
    last_group: bytes  # the text of the final base64 group, as sent (padding bits may differ from canonical)

    @property
    def text_length(self) -> int:
        """The length of the base64 text that was taken out (worked out, not rebuilt)."""
        return (len(self.data) - self._last_bytes()) // 3 * 4 + len(self.last_group)

    def _last_bytes(self) -> int:
        return len(binascii.a2b_base64(self.last_group)) if self.last_group else 0

    def marked(self, body: Body) -> bytes:
        """`body` (the rest of it) with MARKER where the text was: its JSON says whose value the text was."""
        return bytes(body[: self.offset]) + MARKER.encode() + bytes(body[self.offset :])

    def put_back(self, body: Body) -> bytes:
        """The body as it came: `body` (the rest of it) with the base64 text back in place."""
        text = binascii.b2a_base64(self.data[: len(self.data) - self._last_bytes()], newline=False)
        return bytes(body[: self.offset]) + text + self.last_group + body[self.offset :]


class _MediaDecoder:
    """Decodes the base64 text of one top-level string field as the body's chunks arrive."""

    def __init__(self, field: str) -> None:
        self._field = field
        self._start = re.compile(rb'"' + re.escape(field.encode()) + rb'"\s*:\s*"')
        self._head = bytearray()  # the body up to the field's opening quote
        self._search_from = 0  # where in the head the field may still start
        self._out: io.BytesIO | None = None  # the decoded bytes, once the field was found
        self._carry = b""  # base64 text of an unfinished 4-character group
        self._tail: bytearray | None = None  # the body from the field's closing quote on
        self._last_group = b""
        self._plain: bytearray | None = None  # the whole body, once it takes the plain path

    def feed(self, chunk: bytes) -> None:
        """Take the body's next bytes."""
        if self._plain is not None:
            self._plain += chunk
        elif self._tail is not None:
            self._tail += chunk
        elif self._out is not None:
            self._decode(chunk)
        else:
            self._find_field(chunk)

    def _find_field(self, chunk: bytes) -> None:
        head = self._head
        # A match may straddle chunks (unless a long run of whitespace splits it: the plain path then decides).
        searched = max(self._search_from, len(head) - len(self._field) - 16)
        head += chunk
        found = self._start.search(head, searched)
        if found is None:
            if len(head) > _HEAD_LIMIT:
                self._plain, self._head = head, bytearray()
            return
        start = found.end()
        rest = bytes(head[start:])
        del head[start:]
        # It grows with what arrives (realloc, amortised); getvalue() later hands over this very buffer as
        # bytes (CPython shares it rather than copying, once truncated), where a bytearray would need a copy.
        self._out = io.BytesIO()
        self._decode(rest)

    def _decode(self, chunk: bytes) -> None:
        out = self._out
        assert out is not None
        quote = chunk.find(b'"')
        if quote < 0:
            if not _is_base64_run(chunk):
                return self._give_up(chunk)
            text = memoryview(chunk)
            carry = self._carry
            if carry:
                need = 4 - len(carry)
                if len(text) < need:
                    self._carry = carry + chunk
                    return None
                out.write(binascii.a2b_base64(carry + text[:need]))
                text = text[need:]
            whole = len(text) // 4 * 4
            if whole:
                out.write(binascii.a2b_base64(text[:whole]))
            self._carry = bytes(text[whole:])
            return None
        # The closing quote: the field's text ends here, its last group kept as sent.
        last = self._carry + chunk[:quote]
        if len(last) % 4 or not _is_base64_end(last):
            return self._give_up(chunk)
        before = out.tell()
        if before + len(last) < _HEAD_LIMIT:  # too small for an image: a nested field of that name, say
            with out.getbuffer() as decoded:
                self._head += binascii.b2a_base64(decoded[:before], newline=False) + last
            self._search_from = len(self._head)
            self._out, self._carry = None, b""
            return self._find_field(chunk[quote:])
        cut = max(0, len(last) - 4)
        if cut:
            out.write(binascii.a2b_base64(last[:cut]))
        self._last_group = last[cut:]
        if self._last_group:
            out.write(binascii.a2b_base64(self._last_group))
        self._carry = b""
        self._tail = bytearray(chunk[quote:])
        return None

    def _give_up(self, chunk: bytes) -> None:
        """Not a plain base64 string: rebuild the body so far as it came, and collect the rest as it is."""
        plain = bytearray(self._head)
        if self._out is not None:
            with self._out.getbuffer() as decoded:
                plain += binascii.b2a_base64(decoded[: self._out.tell()], newline=False)
        plain += self._carry + chunk
        self._plain, self._head, self._out, self._carry = plain, bytearray(), None, b""

    def finish(self) -> tuple[Body, ExtractedMedia | None]:
        """The body (the rest of it, if the media was taken out) and the media, at the body's end."""
        if self._plain is not None:
            return self._plain, None
        if self._out is None:
            return self._head, None
        if self._tail is None:  # the body ended inside the field: the plain path says what is wrong
            self._give_up(b"")
            return self.finish()
        out = self._out
        out.truncate(out.tell())
        offset = len(self._head)
        return self._head + self._tail, ExtractedMedia(self._field, out.getvalue(), offset, self._last_group)


class BodyCollector:
    """Collects chunks under the cap; a declared length is checked against the cap before reading.

    What it holds grows with what arrived: a single chunk as it came, more in one growing buffer
    (no list of chunks joined at the end, which would hold the body twice); a large 2xx answer to an
    image call has its media decoded as it arrives. It drops what it holds as soon as it fails (or is
    told the attempt failed: `discard()`), so a failed attempt's bytes are not kept alive by its error.
    """

    def __init__(self, request: Request, declared: int | None, limit: int, *, success: bool = True) -> None:
        """Collect the body of `request`'s answer (of `declared` length, if known); `success`: a 2xx answer."""
        if declared is not None and declared > limit:
            raise request.too_large(limit)
        self._request = request
        self._limit = limit
        self._declared = declared
        large = declared is None or declared > DECODE_ABOVE
        field = request.media_field
        self._media = _MediaDecoder(field) if large and success and field is not None else None
        self._body: Body = b""
        self._size = 0

    def add(self, chunk: bytes) -> None:
        """Take the next chunk; InvalidContent once the body outgrows the cap or its declared length."""
        end = self._size + len(chunk)
        if end > self._limit:
            self.discard()
            raise self._request.too_large(self._limit)
        if self._declared is not None and end > self._declared:
            self.discard()
            raise self._request.broken(ValueError(f"the body is longer than its Content-Length ({self._declared})"))
        if self._media is not None:
            self._media.feed(chunk)
        elif not self._size:
            self._body = chunk  # most bodies arrive in one chunk: kept as it came
        elif isinstance(self._body, bytearray):
            self._body += chunk  # grown in place (realloc, amortised): never sized from a declared length
        else:
            self._body = bytearray(self._body) + chunk
        self._size = end

    def discard(self) -> None:
        """Let go of everything collected: the attempt failed (its error may live on for a while)."""
        self._body = b""
        self._media = None

    @property
    def complete(self) -> bool:
        """Whether the declared length has all arrived (always False when no length was declared)."""
        return self._size == self._declared

    def response(self, status: int, headers: Mapping[str, str]) -> Response:
        """The response, once the transport saw the body's end."""
        if self._declared is not None and self._size != self._declared:
            self.discard()
            raise self._request.failed(ValueError(f"the body ended after {self._size} of {self._declared} bytes"))
        if self._media is not None:
            body, media = self._media.finish()
            return Response(status, headers, body, media=media)
        return Response(status, headers, self._body)
