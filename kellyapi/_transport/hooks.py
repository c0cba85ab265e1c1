"""What the transports need to say about the private parts of aiohttp, asyncio, http.client and urllib3 they use.

Each private part is used only where no public API does the job, and only behind one check, made once at
import: the library's version within the range the part is known in, and the part itself present. When a
check fails the transport does without (what it then cannot do is logged once); tests/core/test_private_hooks.py
fails loudly when an installed version changes a part, and CI runs it on the floors and the newest versions.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger("kellyapi")
_WARNED: set[str] = set()


def version_of(text: str) -> tuple[int, int]:
    """(major, minor) of a version string such as `3.11.0` or `2.2.0rc1`."""
    major, minor = [*(int(number) for number in re.findall(r"\d+", text)[:2]), 0, 0][:2]
    return major, minor


def without(part: str, consequence: str) -> None:
    """Log once that a private part is missing from the installed version, and what the transport does without."""
    if part not in _WARNED:
        _WARNED.add(part)
        logger.warning("kellyapi: %s is not there in this version; %s", part, consequence)
