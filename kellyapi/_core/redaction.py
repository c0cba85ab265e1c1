"""Keeping the API key out of every error, and rendering whatever a server said safely, whatever its shape.

Servers and proxies echo what they were sent: a status line, a header that failed to parse, a `detail`, a
`Location` may hold the key, or a piece of it cut by the server. Any run of `MIN_RUN` or more characters of
the key is blanked, and always before a text is shortened, so a cut never leaves part of a key behind.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping

REDACTED = "<redacted>"
MIN_RUN = 8  # a run this long of a 30-odd character random key identifies it; shorter runs are noise
SHOWN_LENGTH = 200  # what an error message quotes of a server's text
_SCANNED_LENGTH = 64 * 1024  # what is read of a server's text at all before shortening it to SHOWN_LENGTH
_CHAIN_DEPTH = 16


@functools.lru_cache(maxsize=8)
def _runs(secret: str) -> tuple[str, ...]:
    size = min(MIN_RUN, len(secret))
    return tuple({secret[start : start + size] for start in range(len(secret) - size + 1)})


def redact_text(text: str, secret: str) -> str:
    """`text` with every run of MIN_RUN or more characters of `secret` replaced by REDACTED."""
    if not secret or not text:
        return text
    runs = _runs(secret)
    if not any(run in text for run in runs):  # the usual case: one C-level search per run
        return text
    size = len(runs[0])
    covered = bytearray(len(text))
    for run in runs:
        start = text.find(run)
        while start >= 0:
            covered[start : start + size] = b"\x01" * size
            start = text.find(run, start + 1)
    pieces = []
    position = 0
    while position < len(text):
        if covered[position]:
            end = covered.find(b"\x00", position)
            end = len(text) if end < 0 else end
            pieces.append(REDACTED)
        else:
            end = covered.find(b"\x01", position)
            end = len(text) if end < 0 else end
            pieces.append(text[position:end])
        position = end
    return "".join(pieces)


def _fresh(value: object, secret: str) -> object:
    if isinstance(value, str):
        return redact_text(value, secret)
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return value


def redact_value(value: object, secret: str) -> object:
    """A copy of parsed JSON with the secret blanked in every string and key; iterative, so any depth is fine."""
    if not secret:
        return value
    result = _fresh(value, secret)
    pending: list[tuple[object, object]] = [(value, result)]
    while pending:
        source, copy = pending.pop()
        if isinstance(source, list) and isinstance(copy, list):
            for item in source:
                new = _fresh(item, secret)
                copy.append(new)
                pending.append((item, new))
        elif isinstance(source, dict) and isinstance(copy, dict):
            for name, item in source.items():
                new = _fresh(item, secret)
                copy[redact_text(str(name), secret)] = new
                pending.append((item, new))
    return result


def shorten(text: str, limit: int = SHOWN_LENGTH) -> str:
    """`text` with runs of white space folded, cut to `limit` characters with an ellipsis."""
    text = " ".join(text[: limit * 4].split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _compact_json(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[:_SCANNED_LENGTH]
    except (RecursionError, ValueError):
        return "(a JSON value nested too deeply to show)"


def _validation_failure(item: dict[object, object]) -> str:
    location = item.get("loc")
    parts = location if isinstance(location, list) else [] if location is None else [location]
    where = ".".join(str(part) for part in parts if part != "body" and isinstance(part, (str, int, float)))
    message = item.get("msg", "invalid")
    text = message if isinstance(message, str) else _compact_json(message)
    return f"{where}: {text}" if where else text


def describe_detail(detail: object) -> str:
    """FastAPI's `detail` as one line: a string, a list of {loc, msg} failures, or any other JSON shown compactly."""
    if isinstance(detail, str):
        return detail[:_SCANNED_LENGTH]
    if isinstance(detail, list) and detail and all(isinstance(item, dict) for item in detail):
        return "; ".join(_validation_failure(item) for item in detail[:50])[:_SCANNED_LENGTH]
    return _compact_json(detail)


def server_text(body: bytes | bytearray) -> str:
    """The start of a body as text, for quoting in an error (to be redacted, then shortened)."""
    return bytes(body[:_SCANNED_LENGTH]).decode("utf-8", "replace")


class Headers(Mapping[str, str]):
    """A case-insensitive, read-only copy of an answer's headers (what an error holds once redacted)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = {name.lower(): (name, value) for name, value in items}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self)!r})"


def redact_headers(headers: Mapping[str, str], secret: str) -> Mapping[str, str]:
    """`headers` itself when no value shows the secret, else a redacted Headers copy."""
    if not secret or all(redact_text(value, secret) == value for value in headers.values()):
        return headers
    return Headers((name, redact_text(value, secret)) for name, value in headers.items())


class RedactedCause(Exception):
    """Stands in for a transport exception whose text held the API key: its type and redacted text."""


def safe_cause(exc: BaseException, secret: str) -> BaseException:
    """`exc` itself when nothing in its chain shows the key, else a RedactedCause with the redacted text."""
    if not secret:
        return exc
    link: BaseException | None = exc
    for _ in range(_CHAIN_DEPTH):
        if link is None:
            return exc
        shown = f"{link} {link.args!r}"
        if redact_text(shown, secret) != shown:
            text = f"{type(exc).__name__}: {exc}"
            return RedactedCause(shorten(redact_text(text[:_SCANNED_LENGTH], secret), 4 * SHOWN_LENGTH))
        link = link.__cause__ or link.__context__
    return exc
