"""What the SDK knows of one endpoint; the instances are generated from the spec into `endpoints.py`."""

from __future__ import annotations

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
