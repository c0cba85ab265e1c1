"""The shape of a sandbox route and of its request fields; the instances are generated into `routes.py`."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class Field:
    """One wire field of a request, with the constraints the spec puts on it."""

    name: str
    type: str | None = None
    const: str | None = None
    required: bool = False
    base64: bool = False
    min_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    default: Any = None


@attrs.frozen
class Route:
    """One route the sandbox serves."""

    method: str
    path: str
    responder: str
    result_field: str | None
    result_kind: str  # what the SDK returns: "bytes" (base64 in the field), "str" or "json"
    path_fields: tuple[Field, ...]
    body_fields: tuple[Field, ...]
    example: Any
