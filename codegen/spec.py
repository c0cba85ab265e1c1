"""Read the OpenAPI spec into the few facts the generator needs about each operation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SPEC_PATH = Path(__file__).parent / "spec" / "kelly.openapi.yaml"
_HTTP_METHODS = ("get", "post")
# Constraints beyond the wire format: each must say where it comes from (`x-constraint-source`), and since
# no limit of the API is published, the only source the generator accepts is an assumption of the sandbox.
_ASSUMED_CONSTRAINTS = (
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "contentMediaType",
    "x-sandbox-models",
    "x-sandbox-formats",
)
SANDBOX_ASSUMPTION = "sandbox assumption"
MODEL_LISTS = ("image", "chat", "voice")


@dataclass(frozen=True)
class Field:
    """One request input: a path parameter or a body property."""

    wire_name: str
    python_name: str
    location: str  # "path" or "body"
    schema: dict[str, Any]  # with $refs resolved
    component: str | None  # the components/schemas name it was $ref'd from, if any
    wire_required: bool

    @property
    def media(self) -> str | None:
        """`image` or `audio` for a media input, from its content media type; None for other fields."""
        media_type = self.schema.get("contentMediaType")
        return None if media_type is None else str(media_type).split("/", 1)[0]

    @property
    def kind(self) -> str:
        """How the SDK checks and encodes the value: str, int or media (base64 on the wire)."""
        if self.schema.get("contentEncoding") == "base64":
            return "media"
        return {"string": "str", "integer": "int"}[self.schema["type"]]

    @property
    def is_constant(self) -> bool:
        """A `const` property: always sent, never a parameter."""
        return "const" in self.schema


@dataclass(frozen=True)
class Operation:
    """One endpoint, with everything the SDK, its sandbox and its docs derive from it."""

    python_name: str
    summary: str
    method: str
    path: str  # without the leading slash, e.g. "chat/{model}"
    fields: tuple[Field, ...]  # path params then body properties, in spec order
    python_params: tuple[str, ...]  # the method signature's order
    result_field: str | None
    result_kind: str  # bytes, str or json
    result_media_type: str | None
    responder: str
    example: Any
    models: str | None  # on a model-list route: the sandbox model list its example answer starts

    def field(self, python_name: str) -> Field:
        """The field behind a Python parameter name."""
        for field in self.fields:
            if field.python_name == python_name:
                return field
        raise KeyError(f"{self.python_name}: x-python-params names {python_name!r}, which is not in the spec")


def _check_sources(where: str, schema: dict[str, Any]) -> None:
    """Fail unless every assumed constraint of `schema` is marked as the sandbox's assumption."""
    sources = schema.get("x-constraint-source", {})
    for keyword in _ASSUMED_CONSTRAINTS:
        if keyword not in schema:
            continue
        source = str(sources.get(keyword, ""))
        if not source.startswith(SANDBOX_ASSUMPTION):
            raise ValueError(
                f"{where}: {keyword} needs x-constraint-source {keyword}: {SANDBOX_ASSUMPTION!r}"
                " (the client enforces no limit that nobody published)"
            )
    models = schema.get("x-sandbox-models")
    if models is not None and models not in MODEL_LISTS:
        raise ValueError(f"{where}: x-sandbox-models must be one of {MODEL_LISTS}, got {models!r}")


class _Resolver:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, node: Any) -> tuple[Any, str | None]:
        """Follow `$ref`s; return the target and the name of the first component referred to."""
        component = None
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local $refs are supported, got {ref!r}")
            if component is None and ref.startswith("#/components/schemas/"):
                component = ref.rsplit("/", 1)[1]
            target: Any = self.document
            for part in ref[2:].split("/"):
                target = target[part]
            node = target
        return node, component


def _body_fields(resolver: _Resolver, operation: dict[str, Any]) -> list[Field]:
    if "requestBody" not in operation:
        return []
    body, _ = resolver.resolve(operation["requestBody"])
    schema, _ = resolver.resolve(body["content"]["application/json"]["schema"])
    required = set(schema.get("required", []))
    fields = []
    for name, raw in schema["properties"].items():
        prop, component = resolver.resolve(raw)
        merged = {**prop, **{k: v for k, v in raw.items() if k != "$ref"}}
        _check_sources(f"body property {name!r}", merged)
        if "const" not in merged and (name in required) == ("default" in merged):
            raise ValueError(f"body property {name!r}: required exactly when it has no default")
        fields.append(
            Field(
                wire_name=name,
                python_name=merged.get("x-python-name", name),
                location="body",
                schema=merged,
                component=component,
                wire_required=name in required,
            )
        )
    return fields


def _path_fields(resolver: _Resolver, operation: dict[str, Any]) -> list[Field]:
    fields = []
    for raw in operation.get("parameters", []):
        param, _ = resolver.resolve(raw)
        if param["in"] != "path":
            raise ValueError(f"only path parameters are supported, got {param['in']!r}")
        schema, component = resolver.resolve(param["schema"])
        merged = {**schema, "description": param.get("description", schema.get("description", ""))}
        _check_sources(f"path parameter {param['name']!r}", merged)
        fields.append(Field(param["name"], param["name"], "path", merged, component, True))
    return fields


def _result(resolver: _Resolver, operation: dict[str, Any]) -> tuple[str | None, str, str | None, Any]:
    returns = operation["x-python-returns"]
    response, _ = resolver.resolve(operation["responses"]["200"])
    media = response["content"]["application/json"]
    field = returns.get("field")
    media_type = None
    if field is not None:
        schema, _ = resolver.resolve(media["schema"])
        prop, _ = resolver.resolve(schema["properties"][field])
        if field not in schema.get("required", []):
            raise ValueError(f"{operation['x-python-method']}: result field {field!r} must be required")
        media_type = prop.get("contentMediaType")
    return field, returns["as"], media_type, media.get("example")


def load(path: Path = SPEC_PATH) -> list[Operation]:
    """The spec's operations, in the order the spec lists them."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    resolver = _Resolver(document)
    operations = []
    for route, item in document["paths"].items():
        for method in _HTTP_METHODS:
            if method not in item:
                continue
            raw = item[method]
            field, kind, media_type, example = _result(resolver, raw)
            operation = Operation(
                python_name=raw["x-python-method"],
                summary=raw["summary"],
                method=method.upper(),
                path=route.lstrip("/"),
                fields=tuple(_path_fields(resolver, raw) + _body_fields(resolver, raw)),
                python_params=tuple(raw["x-python-params"]),
                result_field=field,
                result_kind=kind,
                result_media_type=media_type,
                responder=raw["x-sandbox-responder"],
                example=example,
                models=raw.get("x-sandbox-models"),
            )
            parameters = {f.python_name for f in operation.fields if not f.is_constant}
            if set(operation.python_params) != parameters:
                raise ValueError(
                    f"{operation.python_name}: x-python-params {sorted(operation.python_params)}"
                    f" must list exactly the inputs {sorted(parameters)}"
                )
            operations.append(operation)
    _check_model_lists(operations)
    return operations


def _check_model_lists(operations: list[Operation]) -> None:
    """Every model list has a route that lists it, and holds the client's default for it."""
    listed: dict[str, set[str]] = {}
    for op in operations:
        if op.models is not None:
            listed.setdefault(op.models, set()).update(op.example["models"])
    for op in operations:
        for field in op.fields:
            models = field.schema.get("x-sandbox-models")
            if models is None:
                continue
            if field.schema.get("default") not in listed.get(models, set()):
                raise ValueError(
                    f"{op.python_name}: the default {field.python_name}={field.schema.get('default')!r}"
                    f" must be in the {models} model list (the examples of its list routes)"
                )
