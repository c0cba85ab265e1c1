"""The sandbox command in a child process: a server on its own interpreter, as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sandbox_process(*arguments: str) -> Iterator[str]:
    """Run `python -m kellyapi.sandbox --port 0 ARGUMENTS...` and yield its URL; stop it afterwards."""
    server = subprocess.Popen(
        [sys.executable, "-m", "kellyapi.sandbox", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert " on http://" in banner, server.communicate(timeout=10)
        yield banner.split(" on ", 1)[1].split(" ", 1)[0]
    finally:
        server.terminate()
        server.communicate(timeout=20)
    assert server.returncode == 0
