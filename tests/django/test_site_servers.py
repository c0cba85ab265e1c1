"""The example site under real servers, against the sandbox: stdlib wsgiref (threaded WSGI) and uvicorn (ASGI).

Each server runs in its own interpreter with `-X dev -W error::ResourceWarning`; after a handful of
requests to both views it is stopped, and its stderr must hold nothing but its access log.
"""

from __future__ import annotations

import base64
import http.cookiejar
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from kellyapi import SyncKellyAPI
from kellyapi.sandbox.media import png_size
from kellyapi.testing import KellySandbox

SITE = Path(__file__).resolve().parents[2] / "examples" / "django_site"
PAGES = 5
WSGIREF_SERVER = """
import socketserver, sys
from wsgiref.simple_server import WSGIServer, make_server
from kelly_site.wsgi import application

class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

with make_server("127.0.0.1", int(sys.argv[1]), application, server_class=ThreadingServer) as server:
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
"""
ACCESS_LOG = re.compile(r'^127\.0\.0\.1 - - \[[^]]+\] "(GET|POST) \S+ HTTP/1\.1" 200 \d+$')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def site_server(
    command: list[str], port: int, sandbox: KellySandbox, stop: signal.Signals = signal.SIGINT
) -> Iterator[subprocess.Popen[str]]:
    """Run a server of the site; yield once its port accepts connections, stop it with Ctrl-C (or `stop`) after."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(SITE),
        "KELLY_API_KEY": sandbox.api_key,
        "KELLY_API_URL": sandbox.url,
    }
    server = subprocess.Popen(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", *command],
        cwd=SITE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None and time.monotonic() < deadline, server.communicate(timeout=5)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield server
    finally:
        server.send_signal(stop)
        server.wait(timeout=30)


def browse(base: str) -> None:
    """What a visitor does: generate images, then ask questions through the chat form (with its CSRF token)."""
    cookies = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    for n in range(PAGES):
        query = urllib.parse.urlencode({"prompt": f"a glass lighthouse {n}"})
        html = cookies.open(f"{base}/?{query}", timeout=30).read().decode()
        image = re.search(r'src="data:image/png;base64,([^"]+)"', html)
        assert image and png_size(base64.b64decode(image.group(1))) == (512, 512)
    for n in range(PAGES):
        form = cookies.open(f"{base}/chat/", timeout=30).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert token, form
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), "prompt": f"question {n}?"}).encode()
        answer = cookies.open(f"{base}/chat/", data=data, timeout=30).read().decode()
        assert f"you said &#x27;question {n}?&#x27;" in answer


def assert_served_by_the_sandbox(sandbox: KellySandbox) -> None:
    assert [r.route for r in sandbox.requests] == ["image/generate"] * PAGES + ["chat/{model}"] * PAGES
    assert {r.status for r in sandbox.requests} == {200}


def test_the_site_under_wsgiref(kelly_sandbox: KellySandbox) -> None:
    port = free_port()
    with site_server(["-c", WSGIREF_SERVER, str(port)], port, kelly_sandbox) as server:
        browse(f"http://127.0.0.1:{port}")

    _, err = server.communicate(timeout=10)
    assert server.returncode == 0, err
    assert [line for line in err.splitlines() if not ACCESS_LOG.match(line)] == []
    assert len(err.splitlines()) == 3 * PAGES  # the access log: image pages, chat forms, chat answers
    assert_served_by_the_sandbox(kelly_sandbox)


def test_the_site_under_uvicorn(kelly_sandbox: KellySandbox) -> None:
    port = free_port()
    command = ["-m", "uvicorn", "kelly_site.asgi:application", "--port", str(port), "--lifespan", "off"]
    with site_server([*command, "--log-level", "warning"], port, kelly_sandbox) as server:
        browse(f"http://127.0.0.1:{port}")

    _, err = server.communicate(timeout=10)
    assert server.returncode == 0, err
    assert err == ""
    assert_served_by_the_sandbox(kelly_sandbox)


GUNICORN_CONFIG = """
def when_ready(server):
    # The master uses the site's client before it forks the workers, as a start-up health check would.
    from studio.kelly import sync_api

    sync_api.sd_models()
"""


def gunicorn_has_a_control_socket() -> bool:
    usage = subprocess.run([sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True).stdout
    return "--no-control-socket" in usage


def fetch_image(base: str, prompt: str) -> bytes:
    html = urllib.request.urlopen(f"{base}/?{urllib.parse.urlencode({'prompt': prompt})}", timeout=30).read().decode()
    image = re.search(r'src="data:image/png;base64,([^"]+)"', html)
    assert image, html
    return base64.b64decode(image.group(1))


def test_the_site_under_gunicorn_preload_with_four_workers(
    kelly_sandbox: KellySandbox, kelly_client: SyncKellyAPI, tmp_path: Path
) -> None:
    config = tmp_path / "gunicorn_conf.py"
    config.write_text(GUNICORN_CONFIG)
    port = free_port()
    command = ["-m", "gunicorn", "--preload", "-w", "4", "-b", f"127.0.0.1:{port}", "-c", str(config)]
    if gunicorn_has_a_control_socket():
        command.append("--no-control-socket")  # it would be a file in the home folder
    prompts = [f"a forked lighthouse {n}" for n in range(40)]
    # gunicorn's graceful stop, TERM: its quick one, Ctrl-C, may stop a worker between the last byte of an
    # answer and the return of its write, which it logs as an error with a traceback.
    with site_server([*command, "kelly_site.wsgi:application"], port, kelly_sandbox, signal.SIGTERM) as server:
        with ThreadPoolExecutor(8) as visitors:
            images = list(visitors.map(lambda prompt: fetch_image(f"http://127.0.0.1:{port}", prompt), prompts))

    _, err = server.communicate(timeout=30)
    assert "Traceback" not in err, err
    # gunicorn's workers leave its listening socket to the collector; a socket of a call would have a peer.
    assert [line for line in err.splitlines() if "Warning" in line and "raddr" in line] == [], err
    routes = [r.route for r in kelly_sandbox.requests]
    assert routes == ["sd/models"] + ["image/generate"] * len(prompts)
    assert {r.status for r in kelly_sandbox.requests} == {200}
    # Every page shows the image of its own prompt: no worker read an answer meant for another.
    assert images == [kelly_client.generate(prompt, width=512, height=512) for prompt in prompts]
