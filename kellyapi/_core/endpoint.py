"""What the SDK knows of one endpoint; the instances are generated from the spec into `endpoints.py`."""

from __future__ import annotations

import json
from typing import Generic, Literal, TypeVar

import attrs

ResultT = TypeVar("ResultT")

ParamKind = Literal["str", "int", "media"]
ResultKind = Literal["bytes", "str", "json"]


@attrs.frozen
class Param:
    """One argument of an SDK method and where it goes on the wire."""

    name: str
    wire_name: str
    location: Literal["path", "body"]
    kind: ParamKind
    required: bool
    default: str | int | None = None
    min_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    media_type: str | None = None
    json_key: str = attrs.field(init=False, eq=False, repr=False)  # `"wire_name":`, written once
    placeholder: str = attrs.field(init=False, eq=False, repr=False)  # `{wire_name}` in a path

    @json_key.default
    def _encode_json_key(self) -> str:
        return json.dumps(self.wire_name) + ":"

    @placeholder.default
    def _path_placeholder(self) -> str:
        return "{" + self.wire_name + "}"


@attrs.frozen
class Endpoint(Generic[ResultT]):
    """One route of the Kelly API: how to call it and what the SDK method returns."""

    name: str
    summary: str
    method: Literal["GET", "POST"]
    path: str
    params: tuple[Param, ...]
    constants: tuple[tuple[str, str], ...]
    result_field: str | None
    result_kind: ResultKind
    json_constants: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)  # `"name":"value"` each

    @json_constants.default
    def _encode_constants(self) -> tuple[str, ...]:
        return tuple(json.dumps(name) + ":" + json.dumps(value) for name, value in self.constants)
