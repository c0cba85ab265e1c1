"""The sandbox's fault plan: answers it gives instead of the real one, per route, to exercise a client."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import attrs

ANY_ROUTE = "*"


@attrs.frozen
class Fault:
    """One canned answer."""

    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str]


class FaultPlan:
    """Queues of faults per route (the spec's path, e.g. "image/generate" or "chat/{model}", or "*")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, list[Fault]] = {}

    def add(
        self,
        route: str,
        *,
        status: int,
        detail: Any = None,
        json_body: Any = None,
        body: str | bytes | None = None,
        content_type: str | None = None,
        retry_after: str | float | None = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `route` with this status and body instead of the real answer.

        The body is `{"detail": detail}` by default, `json_body` as JSON, or `body` as given.
        """
        if body is not None:
            raw = body.encode() if isinstance(body, str) else body
            kind = content_type or "text/plain; charset=utf-8"
        else:
            raw = json.dumps(json_body if json_body is not None else {"detail": detail}).encode()
            kind = content_type or "application/json"
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = str(retry_after)
        fault = Fault(status, raw, kind, extra)
        with self._lock:
            self._queues.setdefault(route.lstrip("/"), []).extend([fault] * times)

    def take(self, route: str) -> Fault | None:
        """The fault to answer this call of `route` with, if one is planned."""
        with self._lock:
            for key in (route, ANY_ROUTE):
                queue = self._queues.get(key)
                if queue:
                    return queue.pop(0)
        return None

    def clear(self) -> None:
        """Forget every planned fault."""
        with self._lock:
            self._queues.clear()
