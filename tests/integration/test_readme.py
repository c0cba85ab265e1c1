"""Every code block of the README, run in order as a reader would: in a copy of the checkout, with the
commands on the PATH, against the sandbox (or with no key at all where the README says so).

Blocks are run as they are written, with three kinds of exception, each checked instead of run:
- `pip install` steps: this environment has the package installed from the checkout already; the test
  checks that every install line installs this package (never `kellyapi` from the registry, which
  is the original 0.0.2.5). tests/integration/test_user_tests.py installs the built wheel in a fresh venv.
- servers (`python -m kellyapi.sandbox`, `manage.py runserver`) are started, used and stopped;
- the commands that run this very suite (`pytest`, `pytest ... --record`), and the marked example and
  excerpt blocks, whose files other tests run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from kellyapi.testing import KellySandbox
from tests.integration.test_user_tests import readme_examples

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"(?:<!-- (example|excerpt): (\S+) -->\n)?```(\w+)\n(.*?)```", re.S)
SERVERS = ("python -m kellyapi.sandbox", "python manage.py runserver")
THIS_SUITE = {"pytest", "pytest tests/_async tests/_sync --record"}
INSTALL_TARGETS = {".", "-e", "'.[dev]'", "django", "pytest", "/path/to/this/checkout"}


@attrs.frozen
class Block:
    """One fenced block of the README."""

    line: int
    language: str
    marker: str | None
    target: str | None
    code: str

    @property
    def without_key(self) -> bool:
        """The README runs these on a machine with no key: the demo and the Django site use their own sandbox."""
        return "kellyapi demo" in self.code or "runserver" in self.code


def readme_blocks() -> list[Block]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        Block(text[: found.start()].count("\n") + 1, found.group(3), found.group(1), found.group(2), found.group(4))
        for found in FENCE.finditer(text)
    ]


def without_installs(line: str) -> str:
    """The line with its `pip install` steps checked and dropped."""
    kept = []
    for step in line.split("&&"):
        words = shlex.split(step.split("#", 1)[0])
        if words[:2] == ["pip", "install"]:
            targets = {word for word in step.split("#", 1)[0].split()[2:]}
            assert targets and targets <= INSTALL_TARGETS, f"installs something else than this checkout: {step}"
        else:
            kept.append(step.strip())
    return " && ".join(kept)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the files git tracks (or would: new ones it does not ignore), where the README's relative
    paths (examples/, .) hold."""
    command = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    copy = tmp_path / "checkout"
    for relative in listed.splitlines():
        source = ROOT / relative
        if source.is_file():
            (copy / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / relative)
    return copy


def environment(block: Block, sandbox: KellySandbox) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("KELLY_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if not block.without_key:
        env.update(KELLY_API_KEY=sandbox.api_key, KELLY_API_URL=sandbox.url)
    return env


class Servers:
    """The servers a block starts: one at a time on its fixed port, stopped before the next and at the end."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[str]] = []

    def start(self, command: str, cwd: Path, env: dict[str, str], ready: str) -> list[str]:
        self.stop()
        server = subprocess.Popen(
            ["bash", "-c", f"exec {command}" if "&&" not in command else command],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.running.append(server)
        assert server.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any(ready in line for line in lines):
            line = server.stdout.readline()
            assert line and time.monotonic() < deadline, f"{command} did not start: {''.join(lines)}"
            lines.append(line)
        return lines

    def stop(self) -> None:
        for server in self.running:
            os.killpg(server.pid, 15)
            server.communicate(timeout=30)
        self.running.clear()


@pytest.fixture
def servers() -> Iterator[Servers]:
    started = Servers()
    yield started
    started.stop()


def run_server_line(line: str, cwd: Path, env: dict[str, str], servers: Servers) -> None:
    command = without_installs(line.split("  #", 1)[0])
    if "kellyapi.sandbox" in command:
        lines = servers.start(command, cwd, env, "export KELLY_API_KEY=")
        assert "export KELLY_API_URL=http://127.0.0.1:8765/" in "".join(lines)
        return
    servers.start(command, cwd, env, "Quit the server with")
    with urllib.request.urlopen("http://127.0.0.1:8000/", timeout=30) as page:
        assert page.status == 200 and b"<form" in page.read()


def run_block(block: Block, cwd: Path, env: dict[str, str], servers: Servers) -> None:
    where = f"README line {block.line}"
    if block.marker == "example":
        assert block.target in readme_examples(), where  # run by test_user_tests in a fresh venv
        return
    if block.marker == "excerpt":
        assert block.code in (ROOT / str(block.target)).read_text(encoding="utf-8"), f"{where}: not in {block.target}"
        return
    if block.language == "ini":
        run_pytest_configuration(block.code, cwd / "ini-project", env)
        return
    if block.language == "python":
        script = cwd / f"readme_line_{block.line}.py"
        script.write_text(block.code, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-W", "error", str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{where}:\n{result.stdout}{result.stderr}"
        return
    assert block.language == "sh", where
    lines = [line for line in block.code.splitlines() if line.strip()]
    if all(without_installs(line).strip() in THIS_SUITE for line in lines):
        return
    if any(server in line for line in lines for server in SERVERS):
        for line in lines:
            run_server_line(line, cwd, env, servers)
        return
    commands = "\n".join(without_installs(line) for line in lines)
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", commands], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{where}:\n{result.stdout}{result.stderr}"


def run_pytest_configuration(configuration: str, project: Path, env: dict[str, str]) -> None:
    """The README's pytest configuration, in a project whose tests use the models it adds."""
    project.mkdir()
    (project / "pytest.ini").write_text(configuration, encoding="utf-8")
    (project / "test_models.py").write_text(
        "def test_the_configured_models_are_accepted(kelly_client):\n"
        "    assert 'gpt-9' in kelly_client.llm('hi', model='gpt-9')\n"
        "    assert kelly_client.generate('a cat', model='Flux-Dev', width=64, height=64)\n",
        encoding="utf-8",
    )
    clean = {name: value for name, value in env.items() if name != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout + result.stderr


def test_every_code_block_of_the_readme_runs_in_order(
    kelly_sandbox: KellySandbox, checkout: Path, servers: Servers
) -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 15
    for block in blocks:
        run_block(block, checkout, environment(block, kelly_sandbox), servers)  # a server stays up for the next

    assert (checkout / "out.png").read_bytes().startswith(b"\x89PNG"), "the quick start's upscale"
    assert (checkout / "big.png").read_bytes().startswith(b"\x89PNG"), "the command-line block's -o"
    assert (checkout / "kelly-demo" / "async" / "generate.png").is_file(), "the demo's results"


def test_every_install_line_installs_this_package_not_the_original_client() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    installs = re.findall(r"pip install [^\n`&#]*", text)
    assert len(installs) >= 4
    for install in installs:
        targets = set(install.split()[2:])
        assert "kellyapi" not in targets, install
        assert targets & {".", "'.[dev]'", "/path/to/this/checkout"}, install
