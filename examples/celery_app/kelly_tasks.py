"""Celery tasks that call the Kelly API: one `SyncKellyAPI` per worker, made when the tasks module is imported.

Run a worker with `celery -A kelly_tasks worker` (the broker and the rest of the configuration come from
the module named by CELERY_CONFIG_MODULE, by default `celeryconfig` beside this file).
"""

import os
from pathlib import Path

from celery import Celery

from kellyapi import SyncKellyAPI, errors

app = Celery("kelly_tasks")
app.config_from_object(os.environ.get("CELERY_CONFIG_MODULE", "celeryconfig"))

# Made once, at import: the prefork pool imports this module in the parent and forks its children from
# it. The client is fork-safe: each child opens connections of its own on its first call, never the
# parent's. KELLY_API_KEY and KELLY_API_URL come from the worker's environment.
kelly = SyncKellyAPI(timeout=30)


@app.task(
    # A rate limit or an outage that outlasts the SDK's own retries: try again later, from the queue,
    # instead of holding a worker. InvalidRequest and InvalidApiKey would fail again: not retried.
    autoretry_for=(errors.RateLimitError, errors.ConnectionError, errors.TimeoutError),
    retry_backoff=True,
    max_retries=5,
    # Above the client's timeout, which bounds a call with its retries: the call ends first, with an error.
    soft_time_limit=60,
)
def make_poster(title: str, folder: str) -> str:
    """Generate a poster for `title` into `folder`; the path of the PNG."""
    png = kelly.generate(f"a poster for {title}, flat colours", width=512, height=768)
    path = Path(folder) / f"{title.replace(' ', '-')}.png"
    path.write_bytes(png)
    return str(path)


@app.task(autoretry_for=(errors.RateLimitError, errors.ConnectionError), retry_backoff=True, max_retries=5)
def caption(path: str) -> str:
    """One line describing the image at `path` (the SDK reads the file)."""
    return kelly.img2text("Describe this poster in one line", Path(path))
