"""The sandbox against its own spec, fuzzed by Schemathesis: valid and malformed requests alike never get a 5xx,
and every answer matches the spec's responses."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kellyapi.sandbox import Sandbox
from tests.conftest import ROOT

SCHEMA = schemathesis.openapi.from_path(ROOT / "codegen" / "spec" / "kelly.openapi.yaml")
SCHEMA.config.generation.update(modes=list(GenerationMode), max_examples=40)


@SCHEMA.parametrize()
def test_no_request_makes_the_sandbox_fail(case: schemathesis.Case[Any], kelly_sandbox_server: Sandbox) -> None:
    response = case.call(
        base_url=kelly_sandbox_server.url.rstrip("/"),
        headers={"Authorization": f"Bearer {kelly_sandbox_server.api_key}"},
    )
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
