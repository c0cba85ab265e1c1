"""The record types of the endpoint table; the table itself is generated from the spec into `api_spec.py`.

One table serves the client methods, the `kellyapi` commands and the sandbox, so each reads the fields it
needs from the same records: a default, a description or a constraint exists once.
"""

from __future__ import annotations

import json
from typing import Any, Generic, Literal, TypeVar

import attrs

ResultT = TypeVar("ResultT")

ParamKind = Literal["str", "int", "media"]
ResultKind = Literal["bytes", "str", "json"]


class NamedDefault(str):
    """A long default shown by its constant's name, so `help()` and `--help` stay readable; on the wire a str."""

    __slots__ = ("constant",)
    constant: str

    def __new__(cls, value: str, constant: str) -> NamedDefault:
        """The text `value`, shown as `constant`."""
        named = super().__new__(cls, value)
        named.constant = constant
        return named

    def __repr__(self) -> str:
        return self.constant


@attrs.frozen
class Param:
    """One argument of an endpoint: the SDK parameter, where it goes on the wire, and what the spec says of it.

    The client checks only `kind` (the type and, for media, the encoding); `minimum`, `maximum`,
    `min_length`, `media` and `models` are assumptions that only the sandbox acts on.
    """

    name: str
    wire_name: str
    location: Literal["path", "body"]
    kind: ParamKind
    required: bool
    description: str
    default: str | int | None = None
    media: Literal["image", "audio"] | None = None
    models: Literal["image", "chat", "voice"] | None = None  # the sandbox model list a value must be in
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    json_key: str = attrs.field(init=False, eq=False, repr=False)  # `"wire_name":`, written once
    placeholder: str = attrs.field(init=False, eq=False, repr=False)  # `{wire_name}` in a path

    @json_key.default
    def _encode_json_key(self) -> str:
        return json.dumps(self.wire_name) + ":"

    @placeholder.default
    def _path_placeholder(self) -> str:
        return "{" + self.wire_name + "}"

    @property
    def flag(self) -> str:
        """The command-line option of an optional argument, e.g. `--negative-prompt`."""
        return "--" + self.name.replace("_", "-")


@attrs.frozen
class Endpoint(Generic[ResultT]):
    """One route of the Kelly API: how to call it, what the SDK method returns, and how the sandbox answers."""

    name: str
    summary: str
    method: Literal["GET", "POST"]
    path: str
    params: tuple[Param, ...]
    constants: tuple[tuple[str, str], ...]  # wire fields with one fixed value, sent on every call
    result_field: str | None
    result_kind: ResultKind
    result_media_type: str | None  # of a `bytes` result, e.g. image/png
    responder: str  # how the sandbox answers (kellyapi.sandbox.responders)
    example: Any  # the spec's example answer, for the sandbox
    models: Literal["image", "chat", "voice"] | None = None  # the model list a model-list route answers with
    json_constants: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)  # `"name":"value"` each
    has_media: bool = attrs.field(init=False, eq=False, repr=False)  # takes a file: read off the event loop
    media_field: str | None = attrs.field(init=False, eq=False, repr=False)  # the base64 field a `bytes` result is

    @media_field.default
    def _base64_result_field(self) -> str | None:
        return self.result_field if self.result_kind == "bytes" else None

    @json_constants.default
    def _encode_constants(self) -> tuple[str, ...]:
        return tuple(json.dumps(name) + ":" + json.dumps(value) for name, value in self.constants)

    @has_media.default
    def _takes_media(self) -> bool:
        return any(param.kind == "media" for param in self.params)
