"""What a transport learns of one attempt while its HTTP library runs it, and what both transports share.

The libraries choose and open connections out of our sight; the hooks each transport installs (a
connection pool subclass for urllib3, a connector subclass for aiohttp) find the attempt under way in
`CURRENT` and note on it whether its connection was reused and how many bytes of an answer arrived. That is
what tells a stale pooled connection (safe to resend on) from a failure the server may have seen.
"""

from __future__ import annotations

import os
import weakref
from contextvars import ContextVar
from typing import Protocol


class Attempt:
    """One attempt in flight: its deadline (time.monotonic()), and what happened to its connection."""

    __slots__ = ("deadline", "fresh_connection", "received", "reused")

    def __init__(self, deadline: float, fresh_connection: bool) -> None:
        self.deadline = deadline
        self.fresh_connection = fresh_connection  # the pool must open a new connection, not reuse one
        self.reused = False
        self.received = 0  # bytes of an answer read on this attempt's connection

    @property
    def stale(self) -> bool:
        """It went out on a reused pooled connection and not one byte of an answer came back."""
        return self.reused and self.received == 0


CURRENT: ContextVar[Attempt | None] = ContextVar("kellyapi_attempt", default=None)

class ForkAware(Protocol):
    """A transport whose pools belong to the process that opened them."""

    def forget_inherited_pools(self) -> object:
        """In a forked child: start afresh, returning the parent's pools (kept, never used)."""


# Pools a forked child inherited: kept, never used and never closed, so the child touches no socket its
# parent still uses (closing a pooled TLS socket may write to it) and no warning is printed for them.
_INHERITED: list[object] = []
_TRANSPORTS: weakref.WeakSet[ForkAware] = weakref.WeakSet()
_HOOKED: list[bool] = []  # holds True once the fork hook is registered: os.register_at_fork cannot be undone


def _after_fork_in_child() -> None:
    for transport in list(_TRANSPORTS):
        _INHERITED.append(transport.forget_inherited_pools())


def pools_per_process(transport: ForkAware) -> None:
    """Have `transport` start with new pools in every child forked from now on (zero cost per call)."""
    if not _HOOKED:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _HOOKED.append(True)
    _TRANSPORTS.add(transport)
