"""The Celery example (examples/celery_app) as a worker runs it: `celery worker` with a prefork pool of two
processes, which fork from the process that made the client, making posters and captions against the sandbox.

The broker is kombu's filesystem transport and the results are files, so the test needs no server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from kellyapi.sandbox.media import png_size
from kellyapi.testing import KellySandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "celery_app"


@pytest.fixture
def configuration(tmp_path: Path) -> Path:
    """A configuration module for the example, with a broker and results in the test's folder."""
    broker, results = tmp_path / "broker", tmp_path / "results"
    broker.mkdir()
    results.mkdir()
    folders = {
        "data_folder_in": str(broker),
        "data_folder_out": str(broker),
        "control_folder": str(tmp_path / "control"),  # else `control/` in whichever folder a process runs
        "store_processed": False,
    }
    (tmp_path / "test_celeryconfig.py").write_text(
        f"broker_url = 'filesystem://'\n"
        f"broker_transport_options = {folders!r}\n"
        f"result_backend = 'file://{results}'\n"
        "task_acks_late = True\n"
        "worker_prefetch_multiplier = 1\n",
        encoding="utf-8",
    )
    return tmp_path


@pytest.fixture
def worker(configuration: Path, kelly_sandbox: KellySandbox) -> Iterator[subprocess.Popen[str]]:
    """`celery -A kelly_tasks worker --pool prefork --concurrency 2`, stopped (warm shutdown) after the test."""
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}  # this suite's
    env["PYTHONPATH"] = os.pathsep.join([str(EXAMPLE), str(configuration)])
    env["CELERY_CONFIG_MODULE"] = "test_celeryconfig"
    command = [sys.executable, "-m", "celery", "-A", "kelly_tasks", "worker", "--pool", "prefork"]
    command += ["--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    process = subprocess.Popen(
        command, cwd=configuration, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not any(" ready." in line for line in lines):
        assert process.poll() is None and time.monotonic() < deadline, "the worker did not start:\n" + "".join(lines)
        time.sleep(0.1)
    yield process
    process.send_signal(signal.SIGTERM)  # a warm shutdown: the tasks under way end first
    process.wait(timeout=60)
    reader.join(timeout=10)
    process.stdout.close()
    log = "".join(lines)
    assert process.returncode == 0, log
    assert "Traceback" not in log and "ERROR" not in log, log


def sender(configuration: Path) -> Celery:
    """A Celery app that only sends the example's tasks, by name, through the same broker."""
    app = Celery("kelly_tasks")
    sys.path.insert(0, str(configuration))
    try:
        app.config_from_object("test_celeryconfig", force=True)
        app.conf.update(dict(app.conf))  # read it now, while the module can be imported
    finally:
        sys.path.remove(str(configuration))
    return app


def test_a_prefork_worker_makes_posters_and_captions_them(
    kelly_sandbox: KellySandbox, configuration: Path, worker: subprocess.Popen[str], tmp_path: Path
) -> None:
    app = sender(configuration)
    titles = ["the spring fair", "the harvest market", "the winter concert", "the summer regatta"]
    posters = [app.send_task("kelly_tasks.make_poster", args=[title, str(tmp_path)]) for title in titles]
    paths = [poster.get(timeout=120) for poster in posters]
    captions = [app.send_task("kelly_tasks.caption", args=[path]).get(timeout=120) for path in paths]

    assert [png_size(Path(path).read_bytes()) for path in paths] == [(512, 768)] * 4
    assert all("512x768" in caption for caption in captions)
    generated = [request.body["prompt"] for request in kelly_sandbox.requests_to("generate")]
    assert sorted(generated) == sorted(f"a poster for {title}, flat colours" for title in titles)
    assert {request.status for request in kelly_sandbox.requests} == {200}
