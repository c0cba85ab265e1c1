"""Every code block of the README and of each page of the documentation site (docs/), run in order as a
reader would: a page at a time, in a copy of the checkout, with the commands on the PATH, against the
sandbox (or with no key at all where the page says so).

Blocks are run as they are written, with these exceptions, each checked instead of run:
- `pip install` steps and the virtual environment's creation and activation: this environment has the
  package installed from the checkout already; the test checks that every install line installs this
  package (never `kellyapi` from the registry, which is the original 0.0.2.5).
  tests/integration/test_user_tests.py installs the built wheel in a fresh venv.
- servers (`python -m kellyapi.sandbox`, `manage.py runserver`) are started, used and stopped;
- the commands that other tests run (`pytest`, `pytest ... --record`, `mkdocs build --strict`), and the
  marked example and excerpt blocks, whose files other tests run;
- `text` blocks, which show what a command prints or one that needs a service of its own (a broker).
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
from tests.integration.test_user_tests import GUIDE, guide_examples

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", *sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"(?:<!-- (example|excerpt): (\S+) -->\n)?```(\w+)\n(.*?)```", re.S)
SERVERS = ("python -m kellyapi.sandbox", "python manage.py runserver")
# Commands that other tests run: this suite itself, and the site's build (tests/integration/test_docs.py).
RUN_BY_OTHER_TESTS = {"pytest", "pytest tests/_async tests/_sync --record", "mkdocs build --strict"}
INSTALL_TARGETS = {".", "-e", ".[dev]", ".[docs]", "django", "pytest", "/path/to/this/checkout"}
# The virtual environment a reader makes first: this test runs in one that has the package already.
VENV_STEPS = {"python3 -m venv .venv", ". .venv/bin/activate"}
# What some pages' blocks make, checked after the last block has run.
MADE = {
    "README.md": ["out.png", "kelly-demo/async/generate.png"],
    "docs/how-to/command-line.md": ["big.png", "a-lighthouse-at-dawn.png"],
    "docs/how-to/scripts.md": ["kite.png"],
}


@attrs.frozen
class Block:
    """One fenced block of a page."""

    line: int
    language: str
    marker: str | None
    target: str | None
    code: str

    @property
    def without_key(self) -> bool:
        """The pages run these on a machine with no key: the demo and the Django site use their own sandbox."""
        return "kellyapi demo" in self.code or "runserver" in self.code


def page_blocks(page: str) -> list[Block]:
    """Every fenced block of a page, in order; each fence that opens a block is found."""
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = [
        Block(text[: found.start()].count("\n") + 1, found.group(3), found.group(1), found.group(2), found.group(4))
        for found in FENCE.finditer(text)
    ]
    assert len(blocks) == len(re.findall(r"^```\w+$", text, re.M)), f"{page}: a fence without a language?"
    return blocks


def without_installs(line: str) -> str:
    """The line with its `pip install` and virtual environment steps checked and dropped."""
    kept = []
    for step in line.split("&&"):
        words = shlex.split(step, comments=True)
        if words[:2] == ["pip", "install"]:
            targets = set(words[2:])
            assert targets and targets <= INSTALL_TARGETS, f"installs something else than this checkout: {step}"
        elif "venv" in words or ".venv/bin/activate" in words:
            assert " ".join(words) in VENV_STEPS, f"an unexpected virtual environment step: {step}"
        else:
            kept.append(step.strip())
    return " && ".join(kept)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the files git tracks (or would: new ones it does not ignore), where the pages' relative
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


def run_block(page: str, block: Block, cwd: Path, env: dict[str, str], servers: Servers) -> None:
    where = f"{page} line {block.line}"
    if block.marker == "example":
        assert page == GUIDE and block.target in guide_examples(), where  # test_user_tests runs it in a fresh venv
        return
    if block.language == "text":
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
    if all(without_installs(line.split("  #", 1)[0]).strip() in RUN_BY_OTHER_TESTS | {""} for line in lines):
        return
    if any(server in line for line in lines for server in SERVERS):
        for line in lines:
            run_server_line(line, cwd, env, servers)
        return
    commands = "\n".join(kept for kept in (without_installs(line) for line in lines) if kept)
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", commands], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{where}:\n{result.stdout}{result.stderr}"


def run_pytest_configuration(configuration: str, project: Path, env: dict[str, str]) -> None:
    """A page's pytest configuration, in a project whose tests use the models it adds."""
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


@pytest.mark.parametrize("page", PAGES)
def test_every_code_block_runs_in_order(
    kelly_sandbox: KellySandbox, checkout: Path, servers: Servers, page: str
) -> None:
    for block in page_blocks(page):
        run_block(page, block, checkout, environment(block, kelly_sandbox), servers)  # a server stays up for the next

    for made in MADE.get(page, []):
        assert (checkout / made).is_file(), f"{page}: its blocks did not make {made}"
    if page == "README.md":
        assert (checkout / "out.png").read_bytes().startswith(b"\x89PNG"), "the quick start's upscale"


def test_the_pages_hold_the_blocks_and_files_checked() -> None:
    assert sum(len(page_blocks(page)) for page in PAGES) >= 30
    assert set(MADE) <= set(PAGES)
    assert "README.md" in PAGES and "docs/index.md" in PAGES


def test_every_install_line_installs_this_package_not_the_original_client() -> None:
    installs = [
        install
        for page in PAGES
        for install in re.findall(r"pip install [^\n`&#]*", (ROOT / page).read_text(encoding="utf-8"))
    ]
    assert len(installs) >= 4
    for install in installs:
        targets = set(install.split()[2:])
        assert "kellyapi" not in targets, install
        assert targets & {".", "'.[dev]'", "'.[docs]'", "'.[redis]'", "/path/to/this/checkout"}, install


def test_the_readme_is_a_front_page_that_says_which_python_and_where_to_install_from() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count("\n") <= 250
    floor = re.search(r'^requires-python = ">=(\d+\.\d+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert floor is not None
    top = readme[:1200]  # before the first section's details
    assert f"Python {floor.group(1)} or newer" in top
    assert "install it from this checkout" in top and "0.0.2.5" in top
