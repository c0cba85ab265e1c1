"""How an argument's value appears in an error message: short, and safe for any value."""

from __future__ import annotations

import reprlib

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60


def shown(value: object) -> str:
    """A repr of `value` cut to about 60 characters; huge ints, which Python refuses to print, by their size."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an int of {value.bit_length()} bits"
    try:
        return _SHORT.repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        return f"a {type(value).__name__}"
