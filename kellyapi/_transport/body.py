"""A response body as it arrives, under the client's size cap; the same for both transports."""

from __future__ import annotations

from kellyapi._core.http import Request

Body = bytes | bytearray
PREALLOCATE_ABOVE = 1024 * 1024  # smaller bodies come in a chunk or two; joining them costs less than a buffer


class BodyCollector:
    """Collects chunks; a declared length is checked against the cap before reading and filled in place.

    Filling one preallocated buffer, instead of joining a list of chunks, keeps a large image's body in
    memory once rather than twice.
    """

    def __init__(self, request: Request, declared: int | None, limit: int) -> None:
        if declared is not None and declared > limit:
            raise request.too_large(limit)
        self._request = request
        self._limit = limit
        self._declared = declared
        self._buffer = bytearray(declared) if declared is not None and declared > PREALLOCATE_ABOVE else None
        self._chunks: list[bytes] = []
        self._size = 0

    def add(self, chunk: bytes) -> None:
        """Take the next chunk; InvalidContent once the body outgrows the cap or its declared length."""
        end = self._size + len(chunk)
        if end > self._limit:
            raise self._request.too_large(self._limit)
        if self._declared is not None and end > self._declared:
            raise self._request.broken(ValueError(f"the body is longer than its Content-Length ({self._declared})"))
        if self._buffer is None:
            self._chunks.append(chunk)
        else:
            self._buffer[self._size : end] = chunk
        self._size = end

    @property
    def complete(self) -> bool:
        """Whether the declared length has all arrived (always False when no length was declared)."""
        return self._size == self._declared

    def body(self) -> Body:
        """The whole body, once the transport saw its end."""
        if self._declared is not None and self._size != self._declared:
            raise self._request.failed(ValueError(f"the body ended after {self._size} of {self._declared} bytes"))
        if self._buffer is not None:
            return self._buffer
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
