"""Python SDK for the Kelly AI API: `KellyAPI` (async, aiohttp) and `SyncKellyAPI` (blocking, urllib3)."""

from kellyapi import errors
from kellyapi._async import KellyAPI
from kellyapi._sync import SyncKellyAPI
from kellyapi._version import __version__

__all__ = ["KellyAPI", "SyncKellyAPI", "__version__", "errors"]
