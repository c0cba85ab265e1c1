"""FastAPI-style request validation against a route's generated schema: a list of 422 `detail` items."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from kellyapi.sandbox.schema import Field, Route


def _problem(kind: str, loc: list[str | int], msg: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg, "input": value}


def _check_field(field: Field, value: Any, loc: list[str | int]) -> dict[str, Any] | None:
    if field.const is not None:
        if value != field.const:
            return _problem("literal_error", loc, f"Input should be '{field.const}'", value)
        return None
    if field.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return _problem("int_type", loc, "Input should be a valid integer", value)
        if field.minimum is not None and value < field.minimum:
            return _problem(
                "greater_than_equal", loc, f"Input should be greater than or equal to {field.minimum}", value
            )
        if field.maximum is not None and value > field.maximum:
            return _problem("less_than_equal", loc, f"Input should be less than or equal to {field.maximum}", value)
        return None
    if not isinstance(value, str):
        return _problem("string_type", loc, "Input should be a valid string", value)
    if field.min_length is not None and len(value) < field.min_length:
        return _problem("string_too_short", loc, f"String should have at least {field.min_length} character", value)
    if field.base64:
        try:
            base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            return _problem("value_error", loc, "Value error, not valid base64", value[:64])
    return None


def validate(route: Route, path_values: Mapping[str, str], body: Any) -> list[dict[str, Any]]:
    """Everything wrong with a request, as FastAPI would list it; empty when it is valid."""
    problems = []
    for field in route.path_fields:
        problem = _check_field(field, path_values.get(field.name), ["path", field.name])
        if problem:
            problems.append(problem)
    if route.method == "GET":
        return problems
    if not isinstance(body, dict):
        return [*problems, _problem("model_attributes_type", ["body"], "Input should be a valid object", body)]
    for field in route.body_fields:
        if field.name not in body:
            if field.required:
                problems.append(_problem("missing", ["body", field.name], "Field required", body))
            continue
        problem = _check_field(field, body[field.name], ["body", field.name])
        if problem:
            problems.append(problem)
    return problems


def with_defaults(route: Route, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body with the spec's defaults filled in for absent fields."""
    filled = {field.name: field.default for field in route.body_fields if field.default is not None}
    filled.update(body)
    return filled
