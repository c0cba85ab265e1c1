"""The example site as a person sees it: `python manage.py runserver` on a machine with no API key, a prompt
typed into the page, and headless Chromium (Debian's `chromium`) showing the generated image.

Marked `screenshot` and deselected by default; `.ci/run` installs Chromium and runs `pytest -m screenshot`.
"""

from __future__ import annotations

import base64
import io
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from tests import needs
from tests.django.test_site_servers import SITE, free_port

# As root on a closed network: no sandbox, GPU or background connections (they are refused here).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


@pytest.mark.screenshot
def test_runserver_on_a_fresh_machine_shows_the_generated_image(tmp_path: Path) -> None:
    chromium = needs.debian_program("chromium")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KELLY_")}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"],
        cwd=SITE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode({"prompt": "a red balloon over a green field"})
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "runserver did not start"
            try:
                html = urllib.request.urlopen(url, timeout=10).read().decode()
                break
            except OSError:
                time.sleep(0.3)
        shot = tmp_path / "page.png"
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=800,900",
                f"--screenshot={shot}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    finally:
        os.killpg(server.pid, signal.SIGINT)
        log, _ = server.communicate(timeout=30)

    assert "the Kelly API answers from the built-in sandbox" in log
    embedded = re.search(r"base64,([^\"]+)", html)
    assert embedded is not None
    served = Image.open(io.BytesIO(base64.b64decode(embedded.group(1)))).convert("RGB")
    page = Image.open(shot).convert("RGB")
    assert page.size == (800, 900)
    # The generated image is a vertical gradient: the page must show its top and middle rows, each as a
    # run of at least 400 pixels of exactly that colour.
    for y in (0, served.height // 2):
        colour = served.getpixel((served.width // 2, y))
        assert any(
            sum(1 for x in range(page.width) if page.getpixel((x, row)) == colour) >= 400 for row in range(page.height)
        ), f"the page does not show row {y} of the generated image, colour {colour}"
