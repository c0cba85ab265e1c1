"""Python SDK for the Kelly AI API: `KellyAPI` (async, aiohttp) and `SyncKellyAPI` (blocking, urllib3)."""

from typing import TYPE_CHECKING

from kellyapi import errors
from kellyapi._async import KellyAPI
from kellyapi._core.api_spec import DEFAULT_NEGATIVE_PROMPT
from kellyapi._core.policy.limiter import ACCEPTED, FAILED, REFUSED, Limiter, ProcessLimiter
from kellyapi._core.raw import RawResponse
from kellyapi._version import __version__

if TYPE_CHECKING:
    from kellyapi._sync import SyncKellyAPI
    from kellyapi._transport.redis import RedisLimiter

__all__ = [
    "ACCEPTED",
    "DEFAULT_NEGATIVE_PROMPT",
    "FAILED",
    "REFUSED",
    "KellyAPI",
    "Limiter",
    "ProcessLimiter",
    "RawResponse",
    "RedisLimiter",
    "SyncKellyAPI",
    "__version__",
    "errors",
]


def __getattr__(name: str) -> object:
    # The blocking twin (and urllib3 under it) loads on first use: async users never pay its import.
    if name == "SyncKellyAPI":
        from kellyapi._sync import SyncKellyAPI

        globals()["SyncKellyAPI"] = SyncKellyAPI
        return SyncKellyAPI
    if name == "RedisLimiter":  # redis-py, an extra, loads only for those who use it
        from kellyapi._transport.redis import RedisLimiter

        globals()["RedisLimiter"] = RedisLimiter
        return RedisLimiter
    raise AttributeError(f"module 'kellyapi' has no attribute {name!r}")
