"""The site's Kelly API clients: created once per process, at module level, from the settings.

One `SyncKellyAPI` serves every thread of a WSGI server; one `KellyAPI` serves every event loop
(it keeps a connection pool per loop and closes it with that loop), so it works both under ASGI
(one long-lived loop) and under WSGI, where Django runs each async view in a fresh loop.
"""

import atexit
import logging

from django.conf import settings

from kellyapi import KellyAPI, SyncKellyAPI

logger = logging.getLogger(__name__)


def _key_and_url() -> tuple[str, str | None]:
    if settings.KELLY_API_KEY:
        return settings.KELLY_API_KEY, settings.KELLY_API_URL or None
    from kellyapi.sandbox import Sandbox

    sandbox = Sandbox().start()
    atexit.register(sandbox.stop)
    logger.info("KELLY_API_KEY is not set: the Kelly API answers from the built-in sandbox at %s", sandbox.url)
    return sandbox.api_key, sandbox.url


_KEY, _URL = _key_and_url()
_OPTIONS = {"timeout": settings.KELLY_TIMEOUT, "max_retries": settings.KELLY_MAX_RETRIES}

sync_api = SyncKellyAPI(_KEY, _URL, **_OPTIONS)
async_api = KellyAPI(_KEY, _URL, **_OPTIONS)
