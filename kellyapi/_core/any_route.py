"""Requests to routes the spec does not describe (yet): `client.request(method, route, ...)`."""

from __future__ import annotations

import json as jsonlib
import mimetypes
import os
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any, Union
from urllib.parse import urlencode

from kellyapi import errors
from kellyapi._core.config import ClientConfig
from kellyapi._core.http import FormPart, Request

FileContent = Union[bytes, bytearray, memoryview, "os.PathLike[str]", IO[bytes]]
FileValue = FileContent | tuple[str, FileContent] | tuple[str, FileContent, str]
"""One file of `files=`: its content (bytes, a path or a binary file), or `(filename, content[, content type])`."""
Files = Mapping[str, FileValue] | Iterable[tuple[str, FileValue]]
"""`files=`: {field name: file}, or (field name, file) pairs to send several files under one name."""

_TEXT = "text/plain; charset=utf-8"  # the type of a form field, stated so that both transports send the same
_METHOD = re.compile(r"[A-Z]+")
# A route is a path below the API's base URL: never a URL of its own, which would send the key elsewhere.
_ROUTE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]+")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _check_route(route: object) -> str:
    if not isinstance(route, str):
        raise errors.InvalidArgumentType(f"route must be a str such as 'image/generate', got {type(route).__name__}")
    path = route.lstrip("/")
    if not path or not _ROUTE.fullmatch(path) or route.startswith("//") or "://" in route:
        raise errors.InvalidArgumentValue(
            f"route must be a path below the API's URL such as 'image/generate' (query in params=), got {route!r}"
        )
    if _BAD_PERCENT.search(path):
        raise errors.InvalidArgumentValue(f"route has a % that starts no %XX escape, got {route!r}")
    # %XX escapes in upper case, as urllib3 writes them: both transports then send the path as it is here.
    path = _ESCAPE.sub(lambda escape: escape.group().upper(), path)
    # A dot segment, also written %2E (which servers and URL parsers decode), would climb out of the base path.
    if any(segment.replace("%2E", ".") in (".", "..") for segment in path.split("/")):
        raise errors.InvalidArgumentValue(f"route cannot hold . or .. segments (or %2E for a dot), got {route!r}")
    return path


def _query(params: object) -> str:
    if params is None:
        return ""
    if not isinstance(params, Mapping):
        raise errors.InvalidArgumentType(f"params must be a mapping, got {type(params).__name__}")
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, bool):
                item = "true" if item else "false"
            if not isinstance(item, (str, int, float)):
                raise errors.InvalidArgumentType(f"params[{name!r}] must be str, int, float or bool")
            pairs.append((str(name), str(item)))
    return "?" + urlencode(pairs) if pairs else ""


def _file_part(name: str, value: Any) -> FormPart:
    filename: str | None = None
    content_type: str | None = None
    if isinstance(value, tuple):
        if len(value) not in (2, 3) or not isinstance(value[0], str):
            raise errors.InvalidArgumentType(f"files[{name!r}]: a tuple must be (filename, content[, content type])")
        filename, content_type = value[0], (value[2] if len(value) == 3 else None)
        value = value[1]
    if isinstance(value, (bytes, bytearray, memoryview)):
        content = bytes(value)
    elif isinstance(value, os.PathLike):
        try:
            with open(value, "rb") as file:
                content = file.read()
        except OSError as exc:
            raise errors.InvalidArgumentValue(f"files[{name!r}]: cannot read {os.fspath(value)!r}: {exc}") from None
        filename = filename or os.path.basename(os.fspath(value))
    elif callable(getattr(value, "read", None)):
        content = value.read()
        if not isinstance(content, bytes):
            raise errors.InvalidArgumentType(f"files[{name!r}]: the file must be opened in binary mode ('rb')")
        filename = filename or os.path.basename(str(getattr(value, "name", "") or "")) or None
    else:
        raise errors.InvalidArgumentType(
            f"files[{name!r}] must be bytes, a path, a binary file or a (filename, content) tuple,"
            f" got {type(value).__name__}"
        )
    filename = filename or name
    content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return (name, content, filename, content_type)


def _form(json: object, files: object) -> tuple[FormPart, ...]:
    """The multipart parts: the `json=` mapping's items as fields, then the files (read here, off the loop)."""
    if json is not None and not isinstance(json, Mapping):
        raise errors.InvalidArgumentType("with files=, json= must be a mapping: its items are sent as form fields")
    parts: list[FormPart] = []
    for name, value in (json or {}).items():
        text = value if isinstance(value, str) else jsonlib.dumps(value, ensure_ascii=False)
        parts.append((str(name), text, None, _TEXT))
    pairs = files.items() if isinstance(files, Mapping) else files
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise errors.InvalidArgumentType("files must be a mapping of field names to files, or (name, file) pairs")
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2 or not isinstance(pair[0], str):
            raise errors.InvalidArgumentType("files must be a mapping of field names to files, or (name, file) pairs")
        parts.append(_file_part(*pair))
    return tuple(parts)


def build_route_request(
    config: ClientConfig, method: object, route: object, json: object, params: object, files: object
) -> Request:
    """The request for `client.request(...)`: the client's URL, key and headers; JSON or a multipart body."""
    if not isinstance(method, str) or not _METHOD.fullmatch(method.upper()):
        raise errors.InvalidArgumentValue(f"method must be an HTTP method such as 'POST', got {method!r}")
    method = method.upper()
    path = _check_route(route) + _query(params)
    if not config.has_api_key:
        raise errors.InvalidApiKey("No API key: pass api_key=... or set the KELLY_API_KEY environment variable")
    url = config.base_url + path
    if files is not None:
        return Request(method, path, url, config.headers, None, _form(json, files))
    if json is None:
        return Request(method, path, url, config.headers, None)
    try:
        body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise errors.InvalidArgumentValue("json= holds a lone surrogate, which is not valid unicode") from None
    except (TypeError, ValueError) as exc:
        kind = errors.InvalidArgumentType if isinstance(exc, TypeError) else errors.InvalidArgumentValue
        raise kind(f"json= cannot be sent as JSON: {exc}") from None
    return Request(method, path, url, config.json_headers, body)
