"""A local Kelly API that implements the spec: for tests, for recording cassettes, and for offline work.

`python -m kellyapi.sandbox [--port 8765] [--api-key KEY] [--models chat=NAME]`, or in-process:
`with Sandbox() as sandbox: ...`.
"""

from kellyapi.sandbox.server import Sandbox, SandboxState, create_app

__all__ = ["Sandbox", "SandboxState", "create_app"]
