"""The sandbox's fault plan: misbehaviours it shows instead of the real answer, per route, to exercise a client.

A fault is planned for the next N calls of a route (`plan.add("image/generate", "503", times=2)`),
or drawn at random for a share of all calls from a seeded generator (`plan.randomly(0.05, seed=1)`).
The named kinds in `KINDS` cover the bad days of an HTTP API: error statuses, an HTML proxy page,
resets before and during the body, a short body, a hang, a slow drip and broken result payloads.
"""

from __future__ import annotations

import base64
import collections
import email.utils
import functools
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from kellyapi._core.endpoint import Endpoint

ANY_ROUTE = "*"
DELIVERIES = ("answer", "reset", "reset-mid-body", "short-body", "hang", "drip")
NO_STATUS_LINE = frozenset({"reset", "hang"})  # deliveries that never send a status line
HUGE_IMAGE_BYTES = 30 * 1024 * 1024
DRIP_INTERVAL = 0.1  # seconds between the bytes of a dripped answer

Rewrite = Callable[[Endpoint[Any], Any], Any]


@attrs.frozen
class Fault:
    """One misbehaviour: what to answer (status, body, headers) and how to deliver it.

    `body` None means the route's real answer, optionally passed through `rewrite`; `delivery`
    says how the bytes go out: whole, not at all (a reset), half then a reset, short of their
    Content-Length, never (a hang), or one byte every `drip_interval` seconds.
    """

    status: int = 200
    body: bytes | None = None
    content_type: str = "application/json"
    headers: Mapping[str, str] = attrs.field(factory=dict)
    rewrite: Rewrite | None = None
    retry_after_date: float | None = None
    delivery: str = attrs.field(default="answer", validator=attrs.validators.in_(DELIVERIES))
    drip_interval: float = DRIP_INTERVAL
    kind: str = "custom"

    @property
    def status_sent(self) -> int | None:
        """The status the client receives: None when the delivery never sends a status line (reset, hang)."""
        return None if self.delivery in NO_STATUS_LINE else self.status

    def response_headers(self) -> dict[str, str]:
        """The headers to send, with a `Retry-After` HTTP date computed now if the fault has one."""
        headers = {"Content-Type": self.content_type, **self.headers}
        if self.retry_after_date is not None:
            headers["Retry-After"] = email.utils.formatdate(time.time() + self.retry_after_date, usegmt=True)
        return headers


def _detail(status: int, detail: str, **extra: Any) -> Fault:
    return Fault(status, json.dumps({"detail": detail}).encode(), **extra)


def _without_result(route: Endpoint[Any], answer: Any) -> Any:
    if route.result_field is None or not isinstance(answer, dict):
        return {}
    return {name: value for name, value in answer.items() if name != route.result_field}


def _bad_base64(route: Endpoint[Any], answer: Any) -> Any:
    if route.result_kind != "bytes" or route.result_field is None or not isinstance(answer, dict):
        return answer
    return {**answer, route.result_field: "this is *not* base64!"}


@functools.cache
def huge_image() -> bytes:
    """A 30 MiB "image": a PNG signature followed by filler, the same bytes every time."""
    signature = b"\x89PNG\r\n\x1a\n"
    filler = bytes(range(256)) * (HUGE_IMAGE_BYTES // 256)
    return signature + filler[: HUGE_IMAGE_BYTES - len(signature)]


@functools.cache
def _huge_image_base64() -> str:
    return base64.b64encode(huge_image()).decode("ascii")


def _huge_result(route: Endpoint[Any], answer: Any) -> Any:
    if route.result_kind != "bytes" or route.result_field is None or not isinstance(answer, dict):
        return answer
    return {**answer, route.result_field: _huge_image_base64()}


_BAD_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

KINDS: Mapping[str, Fault] = {
    fault.kind: fault
    for fault in (
        _detail(429, "Too many requests", headers={"Retry-After": "1"}, kind="429"),
        _detail(429, "Too many requests", retry_after_date=2.0, kind="429-date"),
        _detail(429, "Too many requests", kind="429-shed"),  # load shedding: no Retry-After
        _detail(429, "Too many requests", headers={"Retry-After": "0"}, kind="429-now"),
        _detail(500, "Internal error", kind="500"),
        Fault(500, b"Internal Server Error", "text/plain; charset=utf-8", kind="500-plain"),
        _detail(503, "Overloaded", kind="503"),
        Fault(503, b"Service Unavailable", "text/plain; charset=utf-8", kind="503-plain"),
        Fault(502, _BAD_GATEWAY_PAGE, "text/html", kind="502-html"),
        Fault(delivery="reset", kind="reset"),
        Fault(delivery="reset-mid-body", kind="reset-mid-body"),
        Fault(delivery="short-body", kind="short-body"),
        Fault(delivery="hang", kind="hang"),
        Fault(delivery="drip", kind="drip"),
        Fault(200, b'{"image": "iVBORw0KGgo', kind="invalid-json"),
        Fault(rewrite=_without_result, kind="missing-field"),
        Fault(rewrite=_bad_base64, kind="invalid-base64"),
        Fault(rewrite=_huge_result, kind="huge"),
    )
}
"""Every named fault, by the name `add()`, `--fault` and the random mode use; invalid-base64 and huge
change only the answers of routes whose result is base64 (images, speech)."""

DESCRIPTIONS: Mapping[str, str] = {
    "429": "429 with `Retry-After: 1`",
    "429-date": "429 with a `Retry-After` HTTP date 1-2 s ahead",
    "429-shed": "429 without `Retry-After`, as a server shedding load answers",
    "429-now": "429 with `Retry-After: 0`",
    "500": "500 with a JSON `detail`",
    "500-plain": "500 with a plain-text body",
    "503": "503 with a JSON `detail`",
    "503-plain": "503 with a plain-text body",
    "502-html": "a proxy's HTML 502 page",
    "reset": "the connection reset before the status line (recorded with status None)",
    "reset-mid-body": "the status, the headers and half the body, then a reset",
    "short-body": "a `Content-Length` 1 KiB longer than the body, then the connection closed",
    "hang": "nothing (recorded with status None) until the client gives up: at its timeout, a minute by default",
    "drip": f"the real answer, one byte every {DRIP_INTERVAL:g} s, until done or the client's timeout",
    "invalid-json": "a 200 whose body is cut-off JSON",
    "missing-field": "a 200 whose JSON lacks the result field",
    "invalid-base64": "a 200 whose image or audio field is not base64",
    "huge": f"a 200 carrying a {HUGE_IMAGE_BYTES // 2**20} MiB image",
}
"""What the client gets from each kind of KINDS (the docs' table of fault kinds is made from it)."""

RANDOM_KINDS = tuple(kind for kind in KINDS if kind != "huge")
"""What the random mode draws from by default: every kind but the 30 MiB payload."""


@attrs.define
class _Planned:
    """A fault planned for the next `left` calls: one entry however many (a quota used up for a billion calls
    holds no billion-item list)."""

    fault: Fault
    left: int


@attrs.frozen
class _RandomMode:
    rate: float
    kinds: tuple[str, ...]
    route: str
    rng: random.Random


class FaultPlan:
    """Planned faults per route (the spec's path, e.g. "image/generate" or "chat/{model}", or "*")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, collections.deque[_Planned]] = {}
        self._random: _RandomMode | None = None

    def add(
        self,
        route: str,
        kind: str | None = None,
        *,
        status: int | None = None,
        detail: Any = None,
        json_body: Any = None,
        body: str | bytes | None = None,
        content_type: str | None = None,
        retry_after: str | float | None = None,
        headers: Mapping[str, str] | None = None,
        delivery: str | None = None,
        drip_interval: float | None = None,
        times: int = 1,
    ) -> None:
        """Misbehave on the next `times` calls of `route`: a named `kind` from KINDS, or the answer described.

        Without a kind the answer has `status` and the body `{"detail": detail}`, `json_body` as JSON,
        or `body` as given; any argument given also overrides that part of a named kind.
        """
        fault = self._named(kind) if kind is not None else Fault(kind="custom")
        changes: dict[str, Any] = {}
        if status is not None:
            changes["status"] = status
        if body is not None:
            changes["body"] = body.encode() if isinstance(body, str) else body
            changes["content_type"] = content_type or "text/plain; charset=utf-8"
        elif json_body is not None or detail is not None or (kind is None and status is not None):
            changes["body"] = json.dumps(json_body if json_body is not None else {"detail": detail}).encode()
        if content_type is not None:
            changes["content_type"] = content_type
        if headers is not None or retry_after is not None:
            extra = {**fault.headers, **(headers or {})}
            if retry_after is not None:
                extra["Retry-After"] = str(retry_after)
            changes["headers"] = extra
        if delivery is not None:
            changes["delivery"] = delivery
        if drip_interval is not None:
            changes["drip_interval"] = drip_interval
        fault = attrs.evolve(fault, **changes)
        if times < 1:
            return
        with self._lock:
            self._queues.setdefault(route.lstrip("/"), collections.deque()).append(_Planned(fault, times))

    def add_rule(self, rule: str) -> None:
        """Plan faults from text, as `--fault` takes them: `ROUTE=KIND` or `ROUTE=KIND*TIMES`, e.g. `*=503*2`."""
        route, sep, what = rule.partition("=")
        kind, _, times = what.partition("*")
        if not sep or not route or not kind:
            raise ValueError(f"a fault rule is ROUTE=KIND[*TIMES], e.g. image/generate=503*2; got {rule!r}")
        if times and not times.isdigit():
            raise ValueError(f"the times of a fault rule must be a whole number; got {rule!r}")
        self.add(route, kind, times=int(times or 1))

    def randomly(
        self, rate: float, *, seed: int = 0, kinds: Iterable[str] = RANDOM_KINDS, route: str = ANY_ROUTE
    ) -> None:
        """Give a fault to a share `rate` (0..1) of the calls of `route`, drawn from `kinds` by a seeded generator."""
        if not 0 <= rate <= 1:
            raise ValueError(f"the fault rate must be between 0 and 1; got {rate!r}")
        chosen = tuple(kinds)
        for kind in chosen:
            self._named(kind)
        with self._lock:
            self._random = _RandomMode(rate, chosen, route.lstrip("/"), random.Random(seed))

    def take(self, route: str) -> Fault | None:
        """The fault to show this call of `route`, if one is planned or drawn."""
        with self._lock:
            for key in (route, ANY_ROUTE):
                queue = self._queues.get(key)
                if queue:
                    planned = queue[0]
                    planned.left -= 1
                    if not planned.left:
                        queue.popleft()
                    return planned.fault
            mode = self._random
            if mode is not None and mode.route in (route, ANY_ROUTE) and mode.rng.random() < mode.rate:
                return KINDS[mode.rng.choice(mode.kinds)]
        return None

    def clear(self) -> None:
        """Forget every planned fault and stop the random mode."""
        with self._lock:
            self._queues.clear()
            self._random = None

    @staticmethod
    def _named(kind: str) -> Fault:
        try:
            return KINDS[kind]
        except KeyError:
            raise ValueError(f"unknown fault kind {kind!r}; the kinds are: {', '.join(KINDS)}") from None
