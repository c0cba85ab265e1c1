"""What the `session=` argument means, the same for both transports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar, cast

import attrs

from kellyapi import errors

SessionT = TypeVar("SessionT")


@attrs.frozen
class SessionSource(Generic[SessionT]):
    """Where a transport gets its HTTP session: one it makes and owns, or the caller's, never closed by us."""

    make_owned: Callable[[], SessionT] | None
    borrow: Callable[[], SessionT] | None


def session_source(
    session: object, session_type: type[SessionT], make_default: Callable[[], SessionT]
) -> SessionSource[SessionT]:
    """Sort `session=`: None or the session class -> owned; an instance or a callable returning one -> borrowed."""
    if session is None:
        return SessionSource(make_owned=make_default, borrow=None)
    if isinstance(session, type) and issubclass(session, session_type):
        return SessionSource(make_owned=cast("Callable[[], SessionT]", session), borrow=None)
    if isinstance(session, session_type):
        fixed = session
        return SessionSource(make_owned=None, borrow=lambda: fixed)
    if callable(session):
        return SessionSource(make_owned=None, borrow=cast("Callable[[], SessionT]", session))
    raise errors.InvalidArgumentType(
        f"session must be a {session_type.__name__}, a callable returning one, or the class itself;"
        f" got {type(session).__name__}"
    )
