"""FastAPI-style request validation against the endpoint table: a list of 422 `detail` items.

This is where the sandbox acts on the spec's assumptions (ranges, lengths, media formats, model names),
which the client leaves to the server: the sandbox refuses what a real API would.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from kellyapi._core.endpoint import Endpoint, Param
from kellyapi.sandbox import media
from kellyapi.sandbox.models import ModelLists

_SHOWN_INPUT = 64  # characters of a refused base64 input echoed back


def _problem(kind: str, loc: list[str | int], msg: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg, "input": value}


def _check_int(param: Param, value: Any, loc: list[str | int]) -> dict[str, Any] | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return _problem("int_type", loc, "Input should be a valid integer", value)
    if param.minimum is not None and value < param.minimum:
        return _problem("greater_than_equal", loc, f"Input should be greater than or equal to {param.minimum}", value)
    if param.maximum is not None and value > param.maximum:
        return _problem("less_than_equal", loc, f"Input should be less than or equal to {param.maximum}", value)
    return None


def _check_media(param: Param, value: str, loc: list[str | int]) -> dict[str, Any] | None:
    shown = value[:_SHOWN_INPUT]
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return _problem("value_error", loc, "Value error, not valid base64", shown)
    if param.media == "image" and media.image_size(data) is None:
        return _problem("value_error", loc, "Value error, not a PNG, JPEG, WebP or GIF image", shown)
    if param.media == "audio" and media.audio_format(data) is None:
        return _problem("value_error", loc, "Value error, not WAV, MP3, OGG or FLAC audio", shown)
    return None


def _check(param: Param, value: Any, loc: list[str | int], models: ModelLists) -> dict[str, Any] | None:
    if param.kind == "int":
        return _check_int(param, value, loc)
    if not isinstance(value, str):
        return _problem("string_type", loc, "Input should be a valid string", value)
    if param.min_length is not None and len(value) < param.min_length:
        return _problem("string_too_short", loc, f"String should have at least {param.min_length} character", value)
    if param.kind == "media":
        return _check_media(param, value, loc)
    if param.models is not None and not models.accepts(param.models, value):
        return _problem("value_error", loc, f"Value error, unknown {param.models} model {value!r}", value)
    return None


def validate(
    endpoint: Endpoint[Any], path_values: Mapping[str, str], body: Any, models: ModelLists
) -> list[dict[str, Any]]:
    """Everything wrong with a request, as FastAPI would list it; empty when it is valid."""
    problems = []
    for param in endpoint.params:
        if param.location == "path":
            problem = _check(param, path_values.get(param.wire_name), ["path", param.wire_name], models)
            if problem:
                problems.append(problem)
    if endpoint.method == "GET":
        return problems
    if not isinstance(body, dict):
        return [*problems, _problem("model_attributes_type", ["body"], "Input should be a valid object", body)]
    for param in endpoint.params:
        if param.location != "body":
            continue
        if param.wire_name not in body:
            if param.required:
                problems.append(_problem("missing", ["body", param.wire_name], "Field required", body))
            continue
        problem = _check(param, body[param.wire_name], ["body", param.wire_name], models)
        if problem:
            problems.append(problem)
    for name, value in endpoint.constants:
        loc: list[str | int] = ["body", name]
        if name not in body:
            problems.append(_problem("missing", loc, "Field required", body))
        elif body[name] != value:
            problems.append(_problem("literal_error", loc, f"Input should be '{value}'", body[name]))
    return problems


def with_defaults(endpoint: Endpoint[Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The body with the spec's defaults filled in for absent fields."""
    filled = {param.wire_name: param.default for param in endpoint.params if param.location == "body"}
    filled = {name: value for name, value in filled.items() if value is not None}
    filled.update(body)
    return filled
