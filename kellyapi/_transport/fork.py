"""Connection pools belong to the process that opened them: a forked child starts with its own.

A child that wrote to a pooled socket of its parent's would interleave its requests with the parent's
on one connection, and either could read the other's answer (gunicorn --preload, Celery prefork,
multiprocessing all fork after the client may have been used).
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol


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
